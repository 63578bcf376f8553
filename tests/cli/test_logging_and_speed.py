"""-v / RUST_LOG on stderr, exit codes of the root, and nothing heavy on --help."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest

HEAVY = ("trio", "httpx", "sqlalchemy", "fastapi", "loguru", "tomlkit", "yaml", "logging")


def _imported_by(argv: list[str]) -> set[str]:
    code = (
        "import sys, json\n"
        "from cloacinactl.cli.main import main\n"
        f"try:\n    main({argv!r})\nexcept SystemExit:\n    pass\n"
        "print(json.dumps(sorted(sys.modules)), file=sys.stderr)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    return set(json.loads(out.stderr.strip().splitlines()[-1]))


@pytest.mark.parametrize("argv", [["--help"], ["config", "--help"], ["daemon", "--help"], ["nope"]])
def test_help_imports_nothing_heavy(argv: list[str]) -> None:
    modules = _imported_by(argv)
    assert "cloacinactl.cli.main" in modules
    for heavy in HEAVY:
        assert heavy not in modules, f"{heavy} imported by {argv}"


def test_config_get_stays_light() -> None:
    modules = _imported_by(["--home", "/nonexistent-home", "config", "get", "compiler.local_addr"])
    for heavy in ("trio", "httpx", "sqlalchemy", "fastapi", "loguru"):
        assert heavy not in modules


def _check(cli: Any, port: int, *flags: str, env: dict[str, str] | None = None) -> Any:
    return cli(
        *flags,
        "--server",
        f"http://127.0.0.1:{port}",
        "--api-key",
        "k",
        "config",
        "profile",
        "check",
        env=env,
    )


def test_verbose_shows_debug_and_traceback(cli: Any, closed_port: int) -> None:
    result = _check(cli, closed_port, "-v")
    assert result.returncode == 2
    assert "DEBUG" in result.stderr and "cloacinactl.cli.http: http request" in result.stderr
    assert "Traceback" in result.stderr


def test_quiet_by_default(cli: Any, closed_port: int) -> None:
    result = _check(cli, closed_port)
    assert result.returncode == 2
    assert "DEBUG" not in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("spec", "shown"),
    [
        ("debug", True),
        ("info", False),
        ("cloacina=debug", True),
        ("warn,cloacina::cli::http=trace", True),
        ("warn,cloacina::engine=debug", False),
        ("cloacinactl.cli=debug", True),
    ],
)
def test_rust_log_filters(cli: Any, closed_port: int, spec: str, shown: bool) -> None:
    result = _check(cli, closed_port, env={"RUST_LOG": spec})
    assert result.returncode == 2
    assert ("http request" in result.stderr) is shown


def test_verbose_wins_over_rust_log(cli: Any, closed_port: int) -> None:
    result = _check(cli, closed_port, "-v", env={"RUST_LOG": "error"})
    assert "http request" in result.stderr


def test_bad_rust_log_directive_is_reported_not_fatal(cli: Any, closed_port: int) -> None:
    result = _check(cli, closed_port, env={"RUST_LOG": "cloacina=loud,debug"})
    assert result.returncode == 2
    assert "ignored directive 'cloacina=loud'" in result.stderr
    assert "http request" in result.stderr


def test_missing_noun_module_is_reported(cli: Any) -> None:
    from cloacinactl.cli.main import module_exists
    from cloacinactl.cli.nouns import NOUNS

    missing = [n for n, (module, _) in NOUNS.items() if not module_exists(module)]
    if not missing:
        pytest.skip("every noun module exists in this build")
    help_text = cli("--help").stdout
    result = cli(missing[0], "list")
    assert missing[0] in help_text
    assert result.returncode == 1
    assert f"'{missing[0]}' is not available in this build" in result.stderr


def test_usage_errors_exit_1(cli: Any) -> None:
    for argv in (("config",), ("config", "get"), ("--bogus", "config", "list"), ("config", "lst")):
        result = cli(*argv)
        assert result.returncode == 1, argv
        assert "usage:" in result.stderr
