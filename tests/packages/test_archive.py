"""Deterministic packing and hostile-input-safe unpacking."""

from __future__ import annotations

import bz2
import os
import tarfile
from pathlib import Path
from typing import Any

import pytest

from cloacinactl.packages import (
    Limits,
    PackageError,
    UnsafeArchiveError,
    pack_dir,
    unpack_archive,
)


def test_packing_twice_gives_identical_bytes(make_package: Any, tmp_path: Path) -> None:
    root = make_package()
    first = pack_dir(root, tmp_path / "a.cloacina")
    # Touch every file: new mtimes must not change the bytes.
    for path in root.rglob("*"):
        os.utime(path, (1_700_000_000, 1_700_000_000))
    second = pack_dir(root, tmp_path / "b.cloacina")
    assert first.path.read_bytes() == second.path.read_bytes()
    assert first.path.read_bytes()[:3] == b"BZh"


def test_archive_layout_owners_modes_and_skips(make_package: Any, tmp_path: Path) -> None:
    root = make_package(
        extra={
            "workflow/demo_pkg/__pycache__/tasks.cpython-311.pyc": "junk",
            ".git/HEAD": "ref",
            ".venv/pyvenv.cfg": "home = /usr",
            "myenv/pyvenv.cfg": "home = /usr",
            "target/debug/x": "build output",
            "old.cloacina": "archive",
            "workflow/demo_pkg/run.sh": "#!/bin/sh\n",
        }
    )
    (root / "workflow/demo_pkg/run.sh").chmod(0o700)
    result = pack_dir(root, tmp_path / "out.cloacina")
    with tarfile.open(result.path, "r:bz2") as tar:
        members = tar.getmembers()
    names = [m.name for m in members]
    assert names == sorted(names)
    assert names[0] == "demo-pkg-0.1.0"
    assert all(n == "demo-pkg-0.1.0" or n.startswith("demo-pkg-0.1.0/") for n in names)
    assert not any(
        part in n for n in names for part in ("__pycache__", ".git", "venv", "target", "old.")
    )
    for m in members:
        assert (m.mtime, m.uid, m.gid, m.uname, m.gname) == (0, 0, 0, "", "")
        assert m.mode == (0o755 if m.isdir() or m.name.endswith("run.sh") else 0o644)
    assert result.entries == len(members)


def test_pack_refuses_symlinks_and_bad_manifests(make_package: Any, tmp_path: Path) -> None:
    root = make_package()
    (root / "workflow/link.py").symlink_to(root / "package.toml")
    with pytest.raises(PackageError, match=r"symbolic link workflow/link\.py"):
        pack_dir(root, tmp_path / "x.cloacina")
    assert not (tmp_path / "x.cloacina").exists()
    bad = make_package("other", manifest='[package]\nname = "Other"\nversion = "1.0.0"\n')
    with pytest.raises(PackageError, match="lower-case"):
        pack_dir(bad, tmp_path / "y.cloacina")


def test_round_trip_unpack(make_package: Any, tmp_path: Path) -> None:
    root = make_package()
    archive = pack_dir(root, tmp_path / "p.cloacina").path
    top = unpack_archive(archive, tmp_path / "x")
    assert top == tmp_path / "x" / "demo-pkg-0.1.0"
    assert (top / "package.toml").read_text() == (root / "package.toml").read_text()
    assert (top / "workflow/demo_pkg/tasks.py").read_text() == (
        root / "workflow/demo_pkg/tasks.py"
    ).read_text()


def assert_refused(kit: Any, tmp_path: Path, entries: list[Any], match: str, **lim: Any) -> None:
    archive = kit.build(tmp_path / "bad.cloacina", entries)
    dest = tmp_path / "dest"
    with pytest.raises(UnsafeArchiveError, match=match):
        unpack_archive(archive, dest, Limits(**lim) if lim else None)
    assert not dest.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.cloacina"]  # no leftovers


@pytest.mark.parametrize(
    ("extra", "match"),
    [
        (("file", "demo-0.1.0/../../evil.py"), r"escapes the archive with '\.\.'"),
        (("file", "/etc/evil"), "absolute path"),
        (("special", "demo-0.1.0/link", tarfile.SYMTYPE, "/etc/passwd"), "symbolic link"),
        (("special", "demo-0.1.0/hard", tarfile.LNKTYPE, "demo-0.1.0/package.toml"), "hard link"),
        (("special", "demo-0.1.0/dev", tarfile.CHRTYPE), "device file"),
        (("special", "demo-0.1.0/blk", tarfile.BLKTYPE), "device file"),
        (("special", "demo-0.1.0/fifo", tarfile.FIFOTYPE), "FIFO"),
        (("file", "other-top/x.py"), "outside the top folder"),
        (("file", "demo-0.1.0/package.toml"), "appears twice"),
    ],
)
def test_hostile_entries_are_refused_by_name(
    kit: Any, tmp_path: Path, extra: tuple[Any, ...], match: str
) -> None:
    kind, *rest = extra
    entry = kit.file(*rest) if kind == "file" else kit.special(*rest)
    assert_refused(kit, tmp_path, [*kit.valid(), entry], match)


def test_bad_entry_after_good_ones_leaves_nothing(kit: Any, tmp_path: Path) -> None:
    entries = [*kit.valid(), kit.file("demo-0.1.0/big.bin", b"a" * 100_000), kit.file("/abs")]
    assert_refused(kit, tmp_path, entries, "absolute path")


def test_decompression_bomb_is_stopped_while_streaming(kit: Any, tmp_path: Path) -> None:
    zeros = b"\0" * (8 * 1024 * 1024)
    entries = [*kit.valid(), kit.file("demo-0.1.0/bomb.bin", zeros)]
    assert_refused(kit, tmp_path, entries, "compression ratio", ratio_floor_bytes=1024 * 1024)
    assert_refused(kit, tmp_path, entries, "decompressed size", max_total_bytes=2 * 1024 * 1024)


def test_header_claiming_more_than_the_data_is_corrupt(kit: Any, tmp_path: Path) -> None:
    info, _ = kit.file("demo-0.1.0/liar.bin", b"")
    info.size = 50 * 1024 * 1024  # the header lies; only a few bytes follow
    entries = [*kit.valid(), (info, b"")]
    archive = tmp_path / "bad.cloacina"
    import io

    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        for member, data in entries[:-1]:
            tar.addfile(member, io.BytesIO(data) if data is not None else None)
        tar.fileobj.write(info.tobuf() + b"short")  # type: ignore[union-attr]
    archive.write_bytes(bz2.compress(raw.getvalue()))
    with pytest.raises(UnsafeArchiveError, match=r"corrupt|larger than"):
        unpack_archive(archive, tmp_path / "dest", Limits(max_entry_bytes=10**9))
    assert not (tmp_path / "dest").exists()


def test_too_many_entries(kit: Any, tmp_path: Path) -> None:
    entries = [*kit.valid(), *(kit.file(f"demo-0.1.0/m{i}.py") for i in range(20))]
    assert_refused(kit, tmp_path, entries, "more than 10 entries", max_entries=10)


def test_not_bzip2(tmp_path: Path) -> None:
    archive = tmp_path / "plain.cloacina"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(__file__, arcname="x/y.py")
    with pytest.raises(UnsafeArchiveError, match="not a bzip2-compressed archive"):
        unpack_archive(archive, tmp_path / "dest")
    assert not (tmp_path / "dest").exists()


def test_truncated_archive(make_package: Any, tmp_path: Path) -> None:
    archive = pack_dir(make_package(), tmp_path / "p.cloacina").path
    archive.write_bytes(archive.read_bytes()[:-40])
    with pytest.raises(UnsafeArchiveError, match="corrupt"):
        unpack_archive(archive, tmp_path / "dest")
    assert not (tmp_path / "dest").exists()
