"""Checking an uploaded archive before anything is stored (blocking; run in a thread).

The bytes are written to a private temporary folder, checked to be a bzip2
tar, unpacked with the hostile-input limits, and their manifest read; with
signatures required, the side-car must verify against a trusted key. Any
failure raises a ``PackageError`` (or ``SignatureError``) whose message says
why; nothing is left behind either way.
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from cloacinactl.packages import (
    Limits,
    Manifest,
    MissingSignatureError,
    PackageError,
    check_bzip2,
    load_manifest,
    unpack_archive,
)

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

DEFAULT_MAX_UPLOAD_MB = 100


@dataclass(frozen=True)
class CheckedUpload:
    manifest: Manifest
    sha256: str


def check_upload(
    data: bytes,
    signature: bytes | None,
    *,
    require_signature: bool,
    trusted: Sequence[Ed25519PublicKey] = (),
    limits: Limits | None = None,
    python_only: bool = True,
) -> CheckedUpload:
    """Validate an uploaded archive (and its side-car); raise why it is refused."""
    if not data:
        raise PackageError("the uploaded package is empty")
    sha = hashlib.sha256(data).hexdigest()
    with tempfile.TemporaryDirectory(prefix="cloacina-upload-") as tmp:
        archive = Path(tmp) / "upload.cloacina"
        archive.write_bytes(data)
        if require_signature:
            if not signature:
                raise MissingSignatureError(
                    "this server requires signed packages and the upload has no signature part",
                    hint="sign it (package sign) and send the .sig file as the 'signature' part",
                )
            from cloacinactl.packages.signing import verify_archive

            side_car = Path(tmp) / "upload.cloacina.sig"
            side_car.write_bytes(signature)
            verify_archive(archive, trusted, sig_path=side_car, archive_hash=sha)
        check_bzip2(archive)
        root = unpack_archive(archive, Path(tmp) / "tree", limits or Limits())
        manifest = load_manifest(root)
        if python_only and manifest.language != "python":
            raise PackageError(
                f"'{manifest.language}' packages need a build and no compiler is running",
                hint="start cloacinactl compiler against the same database",
            )
        return CheckedUpload(manifest, sha)
