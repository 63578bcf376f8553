"""Ed25519 side-car signatures: keygen, sign, and the four distinct failures."""

from __future__ import annotations

import base64
import json
import stat
from pathlib import Path
from typing import Any

import pytest

from cloacinactl.packages import (
    BadSignatureError,
    MissingSignatureError,
    PackageError,
    TamperedArchiveError,
    UntrustedSignerError,
    pack_dir,
    sha256_file,
)
from cloacinactl.packages.signing import (
    fingerprint,
    keygen,
    load_private_key,
    load_public_key,
    sign_archive,
    verify_archive,
)


@pytest.fixture
def signed(make_package: Any, tmp_path: Path) -> tuple[Path, Path, Path]:
    archive = pack_dir(make_package(), tmp_path / "p.cloacina").path
    private, public, _ = keygen(tmp_path / "keys" / "signing")
    sign_archive(archive, load_private_key(private))
    return archive, private, public


def test_keygen_files_and_modes(tmp_path: Path) -> None:
    private, public, fp = keygen(tmp_path / "k")
    assert public == tmp_path / "k.pub"
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    assert private.read_text().startswith("-----BEGIN PRIVATE KEY-----")
    assert public.read_text().startswith("-----BEGIN PUBLIC KEY-----")
    assert fingerprint(load_public_key(public)) == fp
    with pytest.raises(PackageError, match="already exists"):
        keygen(tmp_path / "k")


def test_side_car_format(signed: tuple[Path, Path, Path]) -> None:
    archive, _, public = signed
    doc = json.loads(archive.with_name("p.cloacina.sig").read_text())
    assert doc["version"] == 1
    assert doc["algorithm"] == "ed25519"
    assert doc["package_hash"] == sha256_file(archive)
    assert doc["key_fingerprint"] == fingerprint(load_public_key(public))
    assert len(base64.b64decode(doc["signature"])) == 64
    assert doc["signed_at"].endswith("Z")
    info = verify_archive(archive, [load_public_key(public)])
    assert info.package_hash == doc["package_hash"]


def test_missing_signature(make_package: Any, tmp_path: Path) -> None:
    archive = pack_dir(make_package(), tmp_path / "p.cloacina").path
    _, public, _ = keygen(tmp_path / "k")
    with pytest.raises(MissingSignatureError, match="no signature"):
        verify_archive(archive, [load_public_key(public)])


def test_tampered_archive(signed: tuple[Path, Path, Path]) -> None:
    archive, _, public = signed
    archive.write_bytes(archive.read_bytes() + b"\0")
    with pytest.raises(TamperedArchiveError, match="modified after signing"):
        verify_archive(archive, [load_public_key(public)])


def test_untrusted_signer(signed: tuple[Path, Path, Path], tmp_path: Path) -> None:
    archive, _, _ = signed
    _, other, _ = keygen(tmp_path / "other")
    with pytest.raises(UntrustedSignerError, match="untrusted key"):
        verify_archive(archive, [load_public_key(other)])


def test_bad_signature(signed: tuple[Path, Path, Path]) -> None:
    archive, _, public = signed
    sig = archive.with_name("p.cloacina.sig")
    doc = json.loads(sig.read_text())
    raw = bytearray(base64.b64decode(doc["signature"]))
    raw[0] ^= 0xFF
    doc["signature"] = base64.b64encode(bytes(raw)).decode()
    sig.write_text(json.dumps(doc))
    with pytest.raises(BadSignatureError, match="does not verify"):
        verify_archive(archive, [load_public_key(public)])
    sig.write_text("{not json")
    with pytest.raises(BadSignatureError, match="malformed"):
        verify_archive(archive, [load_public_key(public)])


def test_key_files_must_be_ed25519_pem(tmp_path: Path) -> None:
    junk = tmp_path / "junk.pem"
    junk.write_text("hello")
    with pytest.raises(PackageError, match="not a PEM private key"):
        load_private_key(junk)
    with pytest.raises(PackageError, match="not a PEM public key"):
        load_public_key(junk)
