"""Verbs that run the engine in-process (worker pool, Runner) log through loguru:
its stderr output follows -v / RUST_LOG like the CLI's own logging (warnings by
default), and loguru is still only imported by verbs that use it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "linear-pipeline"

SNIPPET = """
import sys
from cloacinactl.cli.context import Ctx
ctx = Ctx(verbose={verbose}, home_flag=None, profile=None, server=None, api_key=None,
          tenant="public", output="table", no_color=True)
ctx.setup_logging()
print(json.dumps({{"loguru_before": "loguru" in sys.modules}}), file=sys.stderr)
from loguru import logger
ours = logger.patch(lambda r: r.update(name="cloacinactl.engine.x"))
theirs = logger.patch(lambda r: r.update(name="somelib.y"))
ours.debug("ours-debug"); ours.info("ours-info"); ours.warning("ours-warning")
theirs.debug("theirs-debug"); theirs.warning("theirs-warning")
"""


def _in_process(verbose: bool, rust_log: str | None) -> tuple[bool, str]:
    env = {"PATH": "/usr/bin:/bin"}
    if rust_log is not None:
        env["RUST_LOG"] = rust_log
    code = "import json\n" + SNIPPET.format(verbose=verbose)
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=30
    )
    assert out.returncode == 0, out.stderr
    # The CLI's own logging may print first (-v, RUST_LOG); then our marker line.
    _, marker, rest = out.stderr.partition('{"loguru_before": ')
    assert marker, out.stderr
    flag, _, rest = rest.partition("}")
    return json.loads(flag), rest


@pytest.mark.parametrize(
    ("verbose", "rust_log", "shown"),
    [
        (False, None, {"ours-warning", "theirs-warning"}),
        (True, None, {"ours-debug", "ours-info", "ours-warning", "theirs-debug", "theirs-warning"}),
        (False, "info", {"ours-info", "ours-warning", "theirs-warning"}),
        (False, "cloacina=debug", {"ours-debug", "ours-info", "ours-warning", "theirs-warning"}),
        (False, "off", set()),
    ],
)
def test_loguru_follows_the_cli_filter(
    verbose: bool, rust_log: str | None, shown: set[str]
) -> None:
    imported_early, stderr = _in_process(verbose, rust_log)
    assert not imported_early  # setup_logging itself never imports loguru
    everything = {"ours-debug", "ours-info", "ours-warning", "theirs-debug", "theirs-warning"}
    assert {m for m in everything if m in stderr} == shown, stderr


def _run_example(cli: Any, *flags: str, env: dict[str, str] | None = None) -> Any:
    result = cli(
        *flags,
        "package",
        "run",
        str(EXAMPLE),
        "--json",
        "--context",
        "-",
        input='{"sensor": "attic", "samples": 3}',
        env={"CLOACINA_VAR_REPORT_TITLE": "T", **(env or {})},
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["status"] == "Completed"
    return result


def test_package_run_is_quiet_by_default(cli: Any) -> None:
    result = _run_example(cli)
    assert "DEBUG" not in result.stderr and "INFO" not in result.stderr, result.stderr


def test_package_run_honours_rust_log(cli: Any) -> None:
    result = _run_example(cli, env={"RUST_LOG": "info"})
    assert "DEBUG" not in result.stderr, result.stderr
    assert "worker pool ready" in result.stderr  # INFO from the pool


def test_package_run_verbose_shows_debug(cli: Any) -> None:
    result = _run_example(cli, "-v")
    assert "child started" in result.stderr and "DEBUG" in result.stderr
