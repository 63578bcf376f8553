"""The root command: usage errors exit 1 and suggest the closest noun."""

from __future__ import annotations

from typing import Any


def test_help_lists_every_noun(cli: Any) -> None:
    result = cli("--help")
    assert result.returncode == 0
    for noun in ("daemon", "server", "compiler", "package", "status", "config", "completions"):
        assert noun in result.stdout


def test_unknown_noun_suggests_closest_and_exits_1(cli: Any) -> None:
    result = cli("dae")
    assert result.returncode == 1
    assert "did you mean 'daemon'" in result.stderr


def test_missing_noun_is_a_usage_error(cli: Any) -> None:
    result = cli()
    assert result.returncode == 1
    assert "usage:" in result.stderr
