"""The argv that ``daemon|server|compiler start`` hand to the service binary."""

from __future__ import annotations

import argparse
from pathlib import Path

from cloacinactl.cli.context import Ctx
from cloacinactl.cli.lifecycle import start_argv


def ctx_for(home: Path, *, verbose: bool) -> Ctx:
    return Ctx(
        verbose=verbose,
        home_flag=str(home),
        profile=None,
        server=None,
        api_key=None,
        tenant="public",
        output="table",
        no_color=False,
    )


def test_flags_in_order_unset_ones_left_out(tmp_path: Path) -> None:
    args = argparse.Namespace(
        bind="127.0.0.1:0",
        database_url=None,
        bootstrap_key="",
        require_signatures=True,
        reconcile_interval_s=0,
    )
    names = ("bind", "database_url", "bootstrap_key", "require_signatures", "reconcile_interval_s")
    assert start_argv(ctx_for(tmp_path, verbose=True), args, names) == [
        "--home",
        str(tmp_path),
        "-v",
        "--bind",
        "127.0.0.1:0",
        "--bootstrap-key",
        "",
        "--require-signatures",
        "--reconcile-interval-s",
        "0",
    ]


def test_repeated_flags_and_false_switches(tmp_path: Path) -> None:
    args = argparse.Namespace(watch_dir=["a", "b"], poll_interval=None, require_signatures=False)
    names = ("watch_dir", "poll_interval", "require_signatures")
    assert start_argv(ctx_for(tmp_path, verbose=False), args, names) == [
        "--home",
        str(tmp_path),
        "--watch-dir",
        "a",
        "--watch-dir",
        "b",
    ]
