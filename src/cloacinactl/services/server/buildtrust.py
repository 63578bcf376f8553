"""Which compiler builds a server runs: a built artifact must carry a signature by a
key it trusts — every compiler that ever ran on this database records its public
key there, and the operator's trusted keys (``--trusted-key``, config.toml's
``server.trusted_keys``) count too. An artifact changed after its build, or signed
by an unknown key, is not loaded; the package's load error says why.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from loguru import logger

from cloacinactl.packages.errors import PackageError
from cloacinactl.packages.signing import verify_archive
from cloacinactl.store import Store
from cloacinactl.store.buildwatch import trusted_compiler_keys


class BuildTrust:
    """Checks compiler artifacts against the keys recorded on the database (blocking)."""

    def __init__(
        self, control: Store, operator_keys: Callable[[], Sequence[Ed25519PublicKey]]
    ) -> None:
        self.control = control  # the main store: compilers record their keys there
        self.operator_keys = operator_keys
        self._parsed: dict[str, Ed25519PublicKey | None] = {}

    def keys(self) -> list[Ed25519PublicKey]:
        found: list[Ed25519PublicKey] = []
        for pem in self.control.read(trusted_compiler_keys):
            if pem not in self._parsed:
                self._parsed[pem] = _public_key(pem)
            key = self._parsed[pem]
            if key is not None:
                found.append(key)
        return [*found, *self.operator_keys()]

    def refusal(self, archive: Path, signature: bytes | None, sha256: str) -> str | None:
        """Why the artifact at ``archive`` must not run (None: it may)."""
        if signature is None:
            return "the compiler's build has no signature"
        side_car = archive.with_name(archive.name + ".sig")
        try:
            side_car.write_bytes(signature)
            verify_archive(archive, self.keys(), sig_path=side_car, archive_hash=sha256)
        except PackageError as exc:
            return f"the compiler's build is not trusted: {exc.message}"
        finally:
            side_car.unlink(missing_ok=True)
        return None


def _public_key(pem: str) -> Ed25519PublicKey | None:
    try:
        key = serialization.load_pem_public_key(pem.encode())
    except ValueError as exc:
        logger.warning("a compiler key recorded on the database is not readable: {}", exc)
        return None
    if not isinstance(key, Ed25519PublicKey):
        logger.warning("a compiler key recorded on the database is not an Ed25519 key")
        return None
    return key
