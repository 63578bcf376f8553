"""One place maps errors to exit codes: ``errors.run_main``, for cloacinactl and every service.

Each error class gives the same code and the same stderr through both entry
points; a service whose ``serve`` fails exits through the same mapping (the
supervisor only logs and re-raises); and the entry points reach the mapping
only through ``errors.report``.
"""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

import pytest

from cloacinactl import errors
from cloacinactl.errors import (
    AuthError,
    CloacinaError,
    ConfigError,
    NotFoundError,
    ServerRejectedError,
    TransportError,
    UsageError,
    UserError,
)

# (the exception raised, its exit code, what stderr says: the CLI reference's table)
CASES: list[tuple[BaseException, int, str]] = [
    (UserError("bad flag", hint="try --help"), 1, "error: bad flag\nhint: try --help\n"),
    (UsageError("no verb", usage="usage: x <verb>\n"), 1, "usage: x <verb>\nerror: no verb\n"),
    (ConfigError("config.toml: unknown key 'nope'"), 1, "error: config.toml: unknown key 'nope'\n"),
    (TransportError("unreachable"), 2, "error: unreachable\n"),
    (NotFoundError("no such workflow"), 3, "error: no such workflow\n"),
    (AuthError("bad key"), 4, "error: bad key\n"),
    (ServerRejectedError("HTTP 409"), 5, "error: HTTP 409\n"),
    (
        RuntimeError("boom"),
        1,
        "error: internal error: boom\nhint: re-run with -v for a traceback\n",
    ),
    (KeyboardInterrupt(), 130, "interrupted\n"),
    (BrokenPipeError(), 0, ""),
]
IDS = [type(exc).__name__ for exc, _, _ in CASES]

SERVICES = ["daemon", "server", "compiler"]


def raising(exc: BaseException) -> Callable[..., NoReturn]:
    def body(*args: Any) -> NoReturn:
        raise exc

    return body


@pytest.mark.parametrize(("exc", "code", "stderr"), CASES, ids=IDS)
def test_each_error_maps_to_its_code(
    exc: BaseException, code: int, stderr: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert errors.exit_code(exc) == code
    assert errors.run_main(raising(exc), []) == code
    assert capsys.readouterr().err == stderr


@pytest.mark.parametrize(("exc", "code", "stderr"), CASES, ids=IDS)
def test_cloacinactl_entry_point_maps_through_run_main(
    exc: BaseException,
    code: int,
    stderr: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import cloacinactl.cli.main as cli_main

    monkeypatch.setattr(cli_main, "run", raising(exc))
    assert cli_main.main(["config", "list"]) == code
    assert capsys.readouterr().err == stderr


@pytest.mark.parametrize("service", SERVICES)
@pytest.mark.parametrize(("exc", "code", "stderr"), CASES, ids=IDS)
def test_service_entry_points_map_through_run_main(
    service: str,
    exc: BaseException,
    code: int,
    stderr: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    module = importlib.import_module(f"cloacinactl.services.{service}.main")
    exited: list[int] = []
    monkeypatch.setattr(module, "_run", raising(exc))
    monkeypatch.setattr(module, "exit_now", exited.append)
    monkeypatch.setattr(sys, "argv", [f"cloacina-{service}"])
    module.main()
    assert exited == [code]
    assert capsys.readouterr().err == stderr


def test_verbose_adds_the_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    assert errors.run_main(raising(NotFoundError("gone")), ["-v"]) == 3
    err = capsys.readouterr().err
    assert err.startswith("error: gone\n") and "Traceback" in err
    assert errors.run_main(raising(RuntimeError("boom")), ["--verbose"]) == 1
    err = capsys.readouterr().err
    assert "re-run with -v" not in err and "RuntimeError: boom" in err


def test_our_error_inside_exception_groups_keeps_its_code() -> None:
    nested = ExceptionGroup("outer", [ExceptionGroup("inner", [AuthError("no")])])
    assert errors.exit_code(nested) == 4
    # a broken pipe inside a service's task group is a crash, not a closed stdout
    assert errors.exit_code(ExceptionGroup("g", [BrokenPipeError()])) == 1


def test_system_exit_passes_through() -> None:
    with pytest.raises(SystemExit) as info:
        errors.run_main(raising(SystemExit(0)), [])
    assert info.value.code == 0


@pytest.mark.parametrize("entry", ["cli", *SERVICES])
def test_entry_points_report_only_through_errors_report(
    entry: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[BaseException] = []

    def report(exc: BaseException, *, verbose: bool = False) -> int:
        seen.append(exc)
        return 42

    monkeypatch.setattr(errors, "report", report)
    failure = TransportError("down")
    if entry == "cli":
        import cloacinactl.cli.main as cli_main

        monkeypatch.setattr(cli_main, "run", raising(failure))
        assert cli_main.main([]) == 42
    else:
        module = importlib.import_module(f"cloacinactl.services.{entry}.main")
        exited: list[int] = []
        monkeypatch.setattr(module, "_run", raising(failure))
        monkeypatch.setattr(module, "exit_now", exited.append)
        monkeypatch.setattr(sys, "argv", [f"cloacina-{entry}"])
        module.main()
        assert exited == [42]
    assert seen == [failure]


SERVICE_SCRIPT = textwrap.dedent(
    """
    import sys
    import trio
    from cloacinactl.config.home import Home
    from cloacinactl.config.logfilter import LogFilter
    from cloacinactl.errors import {error}, run_main
    from cloacinactl.supervisor import ServiceConfig, run_service

    async def serve(cfg, *, task_status=trio.TASK_STATUS_IGNORED):
        raise {error}("the store is gone", hint="check the database")

    home = Home.resolve(sys.argv[1])
    config = ServiceConfig(service="compiler", home=home, log_filter=LogFilter())
    sys.exit(run_main(lambda argv: run_service(config, serve), []))
    """
)


@pytest.mark.parametrize(
    ("error", "code"), [("UserError", 1), ("TransportError", 2), ("NotFoundError", 3)]
)
def test_a_failing_service_exits_through_the_same_mapping(
    error: str, code: int, tmp_path: Path
) -> None:
    """The supervisor logs the failure and re-raises; run_main gives the code and message."""
    home = tmp_path / "home"
    env = {k: v for k, v in os.environ.items() if k != "RUST_LOG"}
    done = subprocess.run(
        [sys.executable, "-c", SERVICE_SCRIPT.format(error=error), str(home)],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert done.returncode == code, done.stderr
    lines = done.stderr.splitlines()
    assert lines[-2:] == ["error: the store is gone", "hint: check the database"]
    assert "compiler failed: the store is gone (hint: check the database)" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (home / "compiler.pid").exists()
    log = (home / "logs" / "cloacina-compiler.log").read_text()
    assert "compiler failed: the store is gone" in log


def test_the_mapping_is_the_cli_reference_table() -> None:
    table = {
        UserError: 1,
        TransportError: 2,
        NotFoundError: 3,
        AuthError: 4,
        ServerRejectedError: 5,
    }
    for cls, code in table.items():
        assert cls.exit_code == code
    assert CloacinaError.exit_code == 1
