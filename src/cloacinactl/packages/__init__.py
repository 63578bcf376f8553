"""``.cloacina`` packages: manifest, deterministic pack, safe unpack, signing, loading.

Importing this package is cheap (no trio, no cryptography, no user code);
the heavy parts load inside the functions that need them.
"""

from cloacinactl.packages.errors import (
    BadSignatureError,
    ImportFailedError,
    ManifestError,
    MissingSignatureError,
    PackageError,
    SignatureError,
    TamperedArchiveError,
    UnsafeArchiveError,
    UntrustedSignerError,
)
from cloacinactl.packages.identity import PackageIdentity, sha256_file
from cloacinactl.packages.loader import (
    DEFAULT_IMPORT_TIMEOUT,
    LoadedPackage,
    PackageLoader,
    subprocess_import,
)
from cloacinactl.packages.manifest import Manifest, load_manifest, parse_manifest
from cloacinactl.packages.pack import PackResult, pack_bytes, pack_dir
from cloacinactl.packages.unpack import Limits, check_bzip2, unpack_archive

__all__ = [
    "DEFAULT_IMPORT_TIMEOUT",
    "BadSignatureError",
    "ImportFailedError",
    "Limits",
    "LoadedPackage",
    "Manifest",
    "ManifestError",
    "MissingSignatureError",
    "PackResult",
    "PackageError",
    "PackageIdentity",
    "PackageLoader",
    "SignatureError",
    "TamperedArchiveError",
    "UnsafeArchiveError",
    "UntrustedSignerError",
    "check_bzip2",
    "load_manifest",
    "pack_bytes",
    "pack_dir",
    "parse_manifest",
    "sha256_file",
    "subprocess_import",
    "unpack_archive",
]
