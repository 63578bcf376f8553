"""Package errors: every one is a user error (exit 1) that names what is wrong."""

from __future__ import annotations

from cloacinactl.errors import UserError


class PackageError(UserError):
    """A package (folder or archive) is malformed, unsafe or fails to load."""


class UnsafeArchiveError(PackageError):
    """The archive holds something we refuse to extract (links, ``..``, a bomb, ...)."""


class ManifestError(PackageError):
    """``package.toml`` is missing, malformed or holds an unknown key."""


class ImportFailedError(PackageError):
    """The entry module could not be imported (syntax error, raised, timed out)."""


class SignatureError(PackageError):
    """Base of the signature verification failures."""


class MissingSignatureError(SignatureError):
    """No ``<archive>.sig`` side-car next to the archive."""


class TamperedArchiveError(SignatureError):
    """The archive's SHA-256 differs from the hash the signature covers."""


class UntrustedSignerError(SignatureError):
    """The signature was made by a key that is not among the trusted keys."""


class BadSignatureError(SignatureError):
    """The side-car is malformed or its Ed25519 signature does not verify."""
