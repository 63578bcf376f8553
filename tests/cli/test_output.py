"""The output renderer: formats, truncation, colour rules, and global flag placement."""

from __future__ import annotations

import io
import json
import os
import pty
import subprocess
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from cloacinactl.cli.output import colour_allowed, emit, render
from cloacinactl.errors import UserError

from ..conftest import installed

ROWS = [
    {"id": "e1", "workflow": "etl", "status": "Completed", "tags": ["a", "b"], "ctx": {"k": 1}},
    {"id": "e2", "workflow": "x" * 300, "status": "Failed", "tags": [], "ctx": None},
]


def test_table_infers_columns_and_aligns() -> None:
    lines = render(ROWS, "table", width=200).splitlines()
    assert lines[0].split() == ["ID", "WORKFLOW", "STATUS", "TAGS", "CTX"]
    assert lines[1].split()[:4] == ["e1", "etl", "Completed", "a,"]
    assert '{"k":1}' in lines[1]  # nested values compact
    assert lines[2].rstrip().endswith("-")  # None
    starts = [line.index("Completed") for line in lines[1:2]] + [lines[2].index("Failed")]
    assert len(set(starts)) == 1


def test_table_cuts_long_cells_to_width() -> None:
    lines = render(ROWS, "table", width=80).splitlines()
    assert all(len(line) <= 80 for line in lines)
    assert "…" in lines[2]


def test_single_object_is_key_value() -> None:
    text = render({"name": "prod", "nested": {"a": [1, 2]}, "when": datetime(2026, 1, 2)}, "table")
    assert text.splitlines() == [
        "name    prod",
        'nested  {"a":[1,2]}',
        "when    2026-01-02T00:00:00",
    ]


def test_json_yaml_id() -> None:
    assert json.loads(render(ROWS, "json")) == ROWS
    assert render(ROWS, "json").startswith("[\n  {")
    assert list(yaml.safe_load_all(render(ROWS, "yaml"))) == [ROWS]
    assert render(ROWS, "id") == "e1\ne2\n"
    assert render([{"name": "n1"}, {"name": "n2", "x": 1}], "id") == "n1\nn2\n"
    assert render({"id": 7}, "id") == "7\n"
    with pytest.raises(UserError, match="no id or name"):
        render([{"x": 1}], "id")


def test_paths_and_dataclasses_are_plain(tmp_path: Path) -> None:
    assert json.loads(render({"p": tmp_path}, "json")) == {"p": str(tmp_path)}


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_colour_rules() -> None:
    assert colour_allowed(Tty(), False, {})
    assert not colour_allowed(Tty(), True, {})
    assert not colour_allowed(Tty(), False, {"NO_COLOR": "1"})
    assert colour_allowed(Tty(), False, {"NO_COLOR": ""})
    assert not colour_allowed(io.StringIO(), False, {})
    out = Tty()
    emit(ROWS, "table", out, environ={})
    assert "\033[1m" in out.getvalue() and "\033[32mCompleted" in out.getvalue()
    out = Tty()
    emit(ROWS, "json", out, environ={})
    assert "\033[" not in out.getvalue()


def _on_pty(argv: list[str], env: dict[str, str]) -> str:
    """Run a command with its stdout on a pseudo-terminal; return what it printed."""
    master, slave = pty.openpty()
    try:
        proc = subprocess.Popen(argv, stdout=slave, stderr=subprocess.PIPE, env=env)
        os.close(slave)
        chunks = []
        while True:
            try:
                data = os.read(master, 4096)
            except OSError:
                break
            if not data:
                break
            chunks.append(data)
        proc.wait(30)
    finally:
        os.close(master)
    return b"".join(chunks).decode()


@pytest.mark.parametrize(
    ("extra_args", "extra_env", "coloured"),
    [((), {}, True), (("--no-color",), {}, False), ((), {"NO_COLOR": "1"}, False)],
)
def test_colour_on_a_real_tty(
    home: Path, extra_args: tuple[str, ...], extra_env: dict[str, str], coloured: bool
) -> None:
    env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"} | extra_env
    argv = [installed("cloacinactl"), "--home", str(home), "config", "list", *extra_args]
    out = _on_pty(argv, env)
    assert "KEY" in out
    assert ("\033[" in out) is coloured


def test_piped_output_has_no_colour(cli: Any) -> None:
    assert "\033[" not in cli("config", "list").stdout


@pytest.mark.parametrize(
    "argv",
    [
        ("config", "list", "-o", "json"),
        ("-o", "json", "config", "list"),
        ("--json", "config", "list"),
        ("config", "list", "--json"),
        ("--output", "table", "config", "list", "--output=json"),
    ],
)
def test_global_output_flag_anywhere(cli: Any, argv: tuple[str, ...]) -> None:
    result = cli(*argv)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)[0]["key"] == "database_url"


def test_yaml_and_id_through_cli(cli: Any) -> None:
    docs = list(yaml.safe_load_all(cli("config", "list", "-o", "yaml").stdout))
    assert len(docs) == 1 and docs[0][0]["key"] == "database_url"
    assert "daemon.poll_interval_ms" in cli("-o", "id", "config", "list").stdout.splitlines()


def test_bad_output_format_is_usage_error(cli: Any) -> None:
    result = cli("config", "list", "-o", "xml")
    assert result.returncode == 1
    assert "invalid value 'xml' for -o/--output" in result.stderr


def test_empty_table_says_so_on_stderr(cli: Any) -> None:
    result = cli("config", "profile", "list")
    assert result.returncode == 0
    assert result.stdout == "" and "(no items)" in result.stderr
    assert cli("config", "profile", "list", "-o", "json").stdout == "[]\n"


def test_confirm_refuses_without_a_terminal() -> None:
    import argparse

    from cloacinactl.cli.context import Ctx
    from cloacinactl.cli.framework import GLOBAL_DEFAULTS

    ctx = Ctx.from_args(argparse.Namespace(**GLOBAL_DEFAULTS))
    ctx.confirm("delete everything?", force=True)  # --force: no question asked
    with pytest.raises(UserError, match="refusing without --force"):
        ctx.confirm("delete everything?")


def test_table_fits_the_terminal_width(cli: Any) -> None:
    assert (
        cli("config", "set", "database_url", "postgresql://user@host/" + "d" * 80).returncode == 0
    )
    wide = cli("config", "list", env={"COLUMNS": "200"}).stdout
    narrow = cli("config", "list", env={"COLUMNS": "50"}).stdout
    assert "d" * 80 in wide
    assert all(len(line) <= 50 for line in narrow.splitlines())
    assert "…" in narrow


def test_version(cli: Any) -> None:
    result = cli("--version")
    assert result.returncode == 0 and result.stdout.startswith("cloacinactl ")
