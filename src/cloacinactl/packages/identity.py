"""A package's identity: name + version + SHA-256 of the archive bytes."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from cloacinactl.packages.errors import PackageError

_CHUNK = 1 << 20


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file, streamed."""
    digest = hashlib.sha256()
    try:
        with path.open("rb") as handle:
            while chunk := handle.read(_CHUNK):
                digest.update(chunk)
    except FileNotFoundError:
        raise PackageError(f"no such file: {path}") from None
    except OSError as exc:
        raise PackageError(f"cannot read {path}: {exc.strerror}") from exc
    return digest.hexdigest()


@dataclass(frozen=True)
class PackageIdentity:
    """Who a package is. A changed archive is a new identity even at the same version."""

    name: str
    version: str
    sha256: str

    @property
    def id(self) -> str:
        """``name@version#<first 12 hex of the hash>``: short, stable, unique enough to show."""
        return f"{self.name}@{self.version}#{self.sha256[:12]}"

    def to_dict(self) -> dict[str, str]:
        return {"name": self.name, "version": self.version, "sha256": self.sha256}
