"""Watch-set merge, folder scan and reconcile planning: the pure parts."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from cloacinactl.services.reconcile import (
    BrokenState,
    FileSig,
    Fingerprint,
    LoadedState,
    diff_watch_dirs,
    fingerprint,
    merge_watch_dirs,
    orphans,
    plan_reconcile,
    stat_archives,
)


def test_watch_set_order_dedup_and_tilde(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "user"))
    pkgs = tmp_path / "home" / "packages"
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "link").symlink_to(real)
    dirs = merge_watch_dirs(
        pkgs,
        ["~/flows", str(real), "rel", str(pkgs) + "/"],
        ["~/flows", str(tmp_path / "link"), "/opt/cloacina/packages"],
        base=tmp_path / "cwd",
    )
    assert dirs == (
        pkgs,
        tmp_path / "user" / "flows",
        real,
        tmp_path / "cwd" / "rel",
        Path("/opt/cloacina/packages"),
    )


def test_watch_set_diff() -> None:
    a, b, c = Path("/a"), Path("/b"), Path("/c")
    assert diff_watch_dirs((a, b), (a, c)) == ((c,), (b,))


def test_scan_is_flat_and_ignores_hidden_and_other_files(tmp_path: Path) -> None:
    (tmp_path / "a.cloacina").write_bytes(b"aaa")
    (tmp_path / ".partial.cloacina").write_bytes(b"x")
    (tmp_path / "notes.txt").write_bytes(b"x")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "deep.cloacina").write_bytes(b"x")
    (tmp_path / "dir.cloacina").mkdir()
    result = stat_archives([tmp_path, tmp_path / "missing"])
    assert list(result.files) == [tmp_path / "a.cloacina"]
    assert result.files[tmp_path / "a.cloacina"].size == 3
    assert result.dir_errors == {}


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads everything")
def test_scan_reports_unreadable_folder(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir(mode=0)
    try:
        assert locked in stat_archives([locked]).dir_errors
    finally:
        locked.chmod(0o700)


def test_fingerprint_hashes_only_changed_files(tmp_path: Path) -> None:
    hashed: list[Path] = []

    def counting_hash(p: Path) -> str:
        hashed.append(p)
        return "h-" + p.read_text()

    a, b = tmp_path / "a.cloacina", tmp_path / "b.cloacina"
    a.write_text("1")
    b.write_text("2")
    first, n1 = fingerprint(stat_archives([tmp_path]).files, {}, counting_hash)
    assert n1 == 2
    again, n2 = fingerprint(stat_archives([tmp_path]).files, first, counting_hash)
    assert n2 == 0 and again == first
    b.write_text("22")
    third, n3 = fingerprint(stat_archives([tmp_path]).files, again, counting_hash)
    assert n3 == 1 and third[b].sha256 == "h-22" and third[a] is first[a]
    assert sorted(hashed[:2]) == [a, b] and hashed[2:] == [b]


def test_fingerprint_skips_file_that_vanished(tmp_path: Path) -> None:
    files = {tmp_path / "gone.cloacina": FileSig(1, 1)}
    assert fingerprint(files, {}) == ({}, 0)
    assert Fingerprint(1, 2, "x").sig == FileSig(1, 2)


P = Path


def test_plan_new_changed_vanished() -> None:
    loaded = {P("/w/a"): LoadedState("a", "h1"), P("/w/b"): LoadedState("b", "h2")}
    present = {P("/w/a"): "h1", P("/w/b"): "h2-new", P("/w/c"): "h3"}
    plan = plan_reconcile(present, loaded, {})
    assert plan.reload == (P("/w/b"),)
    assert plan.load == (P("/w/c"),)
    assert plan.unload == ()
    plan = plan_reconcile({P("/w/b"): "h2"}, loaded, {})
    assert plan.unload == (P("/w/a"),) and plan.load == () and plan.reload == ()
    assert not plan_reconcile({P("/w/a"): "h1", P("/w/b"): "h2"}, loaded, {}).changes


def test_plan_broken_retried_only_when_content_changes() -> None:
    broken = {P("/w/x"): BrokenState("hx", "boom")}
    assert plan_reconcile({P("/w/x"): "hx"}, {}, broken).load == ()
    assert plan_reconcile({P("/w/x"): "hx2"}, {}, broken).load == (P("/w/x"),)
    assert plan_reconcile({}, {}, broken).forget == (P("/w/x"),)


def test_plan_blocked_duplicate_retried_when_holder_goes() -> None:
    loaded = {P("/w/a1"): LoadedState("a", "h1")}
    broken = {P("/w/a2"): BrokenState("h2", "duplicate", blocked_by="a")}
    assert plan_reconcile({P("/w/a1"): "h1", P("/w/a2"): "h2"}, loaded, broken).load == ()
    plan = plan_reconcile({P("/w/a2"): "h2"}, loaded, broken)
    assert plan.unload == (P("/w/a1"),) and plan.load == (P("/w/a2"),)


def test_plan_pending_files_are_neither_loaded_nor_unloaded() -> None:
    loaded = {P("/w/a"): LoadedState("a", "h1")}
    plan = plan_reconcile({}, loaded, {}, pending=[P("/w/a"), P("/w/new")])
    assert plan == plan.__class__(pending=(P("/w/a"), P("/w/new")))


def test_orphans() -> None:
    assert orphans({"a", "gone", "zombie"}, {"a", "b"}) == ["gone", "zombie"]
