"""The compiler's identity: its signing key (made on first start) and its stable id."""

from __future__ import annotations

import hashlib
import os
import socket
from typing import TYPE_CHECKING

from loguru import logger

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from cloacinactl.config.home import Home

KEY_FILE = "compiler-signing-key"


def load_or_create_key(home: Home) -> tuple[Ed25519PrivateKey, str, str]:
    """The compiler's signing key (``<home>/compiler-signing-key``, 0600; made on first
    start), its PEM public key and fingerprint."""
    from cryptography.hazmat.primitives import serialization

    from cloacinactl.packages.signing import fingerprint, keygen, load_private_key

    path = home.root / KEY_FILE
    if not path.exists():
        keygen(path)
        logger.info("compiler: generated signing key {}", path)
    elif path.stat().st_mode & 0o077:
        os.chmod(path, 0o600)
        logger.warning("compiler: {} was readable by others; now 0600", path)
    key = load_private_key(path)
    public = key.public_key()
    pem = public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()
    return key, pem, fingerprint(public)


def compiler_id(home: Home) -> str:
    """Stable for one host and home (a restart reuses its row and its claims)."""
    host = socket.gethostname()
    digest = hashlib.sha256(f"{host}:{os.path.realpath(home.root)}".encode()).hexdigest()
    return f"{host[:40]}-{digest[:12]}"
