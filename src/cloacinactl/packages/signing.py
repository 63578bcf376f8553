"""Ed25519 package signatures in a detached side-car ``<archive>.sig`` (design §7).

Key files are PEM: the private key PKCS#8 (unencrypted, mode 0600), the
public key SubjectPublicKeyInfo. ``keygen(PATH)`` writes ``PATH`` (private)
and ``PATH.pub`` (public). The side-car is JSON::

    {"version": 1, "algorithm": "ed25519", "package_hash": "<hex sha256>",
     "key_fingerprint": "<hex sha256 of the raw 32-byte public key>",
     "signature": "<base64 Ed25519 signature over the 32 raw digest bytes>",
     "signed_at": "<RFC 3339 UTC>"}

Verification raises a distinct error for each way it can fail: missing
side-car, tampered archive (hash differs), untrusted signer, bad signature.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from cloacinactl.packages.errors import (
    BadSignatureError,
    MissingSignatureError,
    PackageError,
    TamperedArchiveError,
    UntrustedSignerError,
)
from cloacinactl.packages.identity import sha256_file
from cloacinactl.packages.pack import write_atomic

SIG_VERSION = 1
ALGORITHM = "ed25519"
SIG_SUFFIX = ".sig"
PUB_SUFFIX = ".pub"


@dataclass(frozen=True)
class SignatureInfo:
    """A verified (or freshly written) side-car."""

    package_hash: str
    key_fingerprint: str
    signed_at: str
    path: Path

    def to_dict(self) -> dict[str, str]:
        return {
            "package_hash": self.package_hash,
            "key_fingerprint": self.key_fingerprint,
            "signed_at": self.signed_at,
            "path": str(self.path),
        }


def signature_path(archive: Path) -> Path:
    return archive.with_name(archive.name + SIG_SUFFIX)


def raw_public(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def fingerprint(key: Ed25519PublicKey) -> str:
    """Hex SHA-256 of the raw 32-byte public key."""
    return hashlib.sha256(raw_public(key)).hexdigest()


def keygen(path: Path) -> tuple[Path, Path, str]:
    """Write a new key pair: ``path`` (private, 0600) and ``path.pub``; refuse to overwrite."""
    public_path = path.with_name(path.name + PUB_SUFFIX)
    for existing in (path, public_path):
        if existing.exists():
            raise PackageError(
                f"{existing} already exists", hint="choose another path or remove it first"
            )
    key = Ed25519PrivateKey.generate()
    private_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    try:
        write_atomic(path, private_pem, mode=0o600)
        try:
            write_atomic(public_path, public_pem, mode=0o644)
        except BaseException:
            path.unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise PackageError(f"cannot write key files at {path}: {exc.strerror}") from exc
    return path, public_path, fingerprint(key.public_key())


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise PackageError(f"no such {what}: {path}") from None
    except OSError as exc:
        raise PackageError(f"cannot read {what} {path}: {exc.strerror}") from exc


def load_private_key(path: Path) -> Ed25519PrivateKey:
    """A PEM PKCS#8 Ed25519 private key."""
    try:
        key = serialization.load_pem_private_key(_read(path, "key file"), password=None)
    except (ValueError, TypeError) as exc:
        raise PackageError(f"{path} is not a PEM private key: {exc}") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise PackageError(f"{path} is not an Ed25519 private key")
    return key


def load_public_key(path: Path) -> Ed25519PublicKey:
    """A PEM SubjectPublicKeyInfo Ed25519 public key."""
    try:
        key = serialization.load_pem_public_key(_read(path, "public key"))
    except (ValueError, TypeError) as exc:
        raise PackageError(f"{path} is not a PEM public key: {exc}") from exc
    if not isinstance(key, Ed25519PublicKey):
        raise PackageError(f"{path} is not an Ed25519 public key")
    return key


def signature_document(digest_hex: str, key: Ed25519PrivateKey) -> bytes:
    """The side-car JSON (bytes) signing the archive whose SHA-256 is ``digest_hex``."""
    signature = key.sign(bytes.fromhex(digest_hex))
    document = {
        "version": SIG_VERSION,
        "algorithm": ALGORITHM,
        "package_hash": digest_hex,
        "key_fingerprint": fingerprint(key.public_key()),
        "signature": base64.b64encode(signature).decode("ascii"),
        "signed_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    return (json.dumps(document, indent=2) + "\n").encode()


def sign_archive(archive: Path, key: Ed25519PrivateKey) -> SignatureInfo:
    """Write ``<archive>.sig`` for ``archive``."""
    digest_hex = sha256_file(archive)
    data = signature_document(digest_hex, key)
    path = signature_path(archive)
    try:
        write_atomic(path, data)
    except OSError as exc:
        raise PackageError(f"cannot write {path}: {exc.strerror}") from exc
    document = json.loads(data)
    return SignatureInfo(digest_hex, document["key_fingerprint"], document["signed_at"], path)


def _parse_side_car(path: Path) -> dict[str, Any]:
    try:
        document = json.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        raise MissingSignatureError(
            f"no signature for {path.name.removesuffix(SIG_SUFFIX)} (expected {path})",
            hint="sign it with `cloacinactl package pack DIR --sign KEY`",
        ) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadSignatureError(f"{path}: malformed signature file: {exc}") from exc
    if not isinstance(document, dict):
        raise BadSignatureError(f"{path}: malformed signature file: not a JSON object")
    for key in ("package_hash", "key_fingerprint", "signature"):
        if not isinstance(document.get(key), str):
            raise BadSignatureError(f"{path}: malformed signature file: missing '{key}'")
    if document.get("algorithm") != ALGORITHM:
        raise BadSignatureError(
            f"{path}: unsupported signature algorithm {document.get('algorithm')!r}"
        )
    if document.get("version") != SIG_VERSION:
        version = document.get("version")
        raise BadSignatureError(f"{path}: unsupported signature version {version!r}")
    return document


def verify_archive(
    archive: Path,
    trusted: Sequence[Ed25519PublicKey],
    *,
    sig_path: Path | None = None,
    archive_hash: str | None = None,
) -> SignatureInfo:
    """Check ``archive`` against its side-car and the trusted keys, or raise why not."""
    path = sig_path or signature_path(archive)
    document = _parse_side_car(path)
    actual = archive_hash or sha256_file(archive)
    if document["package_hash"].lower() != actual:
        raise TamperedArchiveError(
            f"{archive.name} was modified after signing (sha256 {actual[:16]}…,"
            f" signature covers {document['package_hash'][:16]}…)"
        )
    by_fingerprint = {fingerprint(key): key for key in trusted}
    key = by_fingerprint.get(document["key_fingerprint"].lower())
    if key is None:
        raise UntrustedSignerError(
            f"{archive.name} is signed by an untrusted key"
            f" (fingerprint {document['key_fingerprint'][:16]}…)",
            hint="pass the signer's public key with --trusted-key",
        )
    try:
        signature = base64.b64decode(document["signature"], validate=True)
        key.verify(signature, bytes.fromhex(actual))
    except (binascii.Error, ValueError, InvalidSignature) as exc:
        raise BadSignatureError(
            f"{archive.name}: the signature does not verify with key"
            f" {document['key_fingerprint'][:16]}…"
        ) from exc
    return SignatureInfo(
        actual, document["key_fingerprint"].lower(), str(document.get("signed_at", "")), path
    )
