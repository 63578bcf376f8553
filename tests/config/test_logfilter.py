"""RUST_LOG-style filter parsing (pure)."""

from __future__ import annotations

import pytest

from cloacinactl.config.logfilter import (
    DEBUG,
    ERROR,
    INFO,
    OFF,
    TRACE,
    WARNING,
    map_target,
    parse_filter,
    resolve_filter,
)
from cloacinactl.errors import ConfigError


def test_plain_levels() -> None:
    assert parse_filter("info").default == INFO
    assert parse_filter("debug").default == DEBUG
    assert parse_filter("WARN").default == WARNING
    assert parse_filter("error").default == ERROR
    assert parse_filter("trace").default == TRACE
    assert parse_filter("off").default == OFF
    assert parse_filter("", default=WARNING).default == WARNING
    assert parse_filter(None).default == INFO


def test_cloacina_target_matches_our_loggers() -> None:
    f = parse_filter("cloacina=debug", default=WARNING)
    assert f.level_for("cloacinactl") == DEBUG
    assert f.level_for("cloacinactl.cli.http") == DEBUG
    assert f.level_for("httpx") == WARNING
    assert f.level_for("cloacinactlx") == WARNING
    assert f.enabled("cloacinactl.engine", DEBUG)
    assert not f.enabled("hypercorn.error", INFO)


def test_mixed_directives_longest_prefix_wins() -> None:
    f = parse_filter("warn,cloacina::x=trace,cloacina=error")
    assert f.default == WARNING
    assert f.level_for("cloacinactl.x.y") == TRACE
    assert f.level_for("cloacinactl.other") == ERROR
    assert f.level_for("uvicorn") == WARNING
    assert f.min_level == TRACE


def test_bare_target_means_everything() -> None:
    assert parse_filter("cloacina::engine").level_for("cloacinactl.engine.executor") == TRACE


def test_regex_suffix_filters_messages() -> None:
    f = parse_filter("debug/claim")
    assert f.enabled("cloacinactl", DEBUG, "task claimed")
    assert not f.enabled("cloacinactl", DEBUG, "heartbeat")


def test_invalid_directives_are_ignored_or_strict() -> None:
    f = parse_filter("info,cloacina=loud,=x")
    assert f.default == INFO and f.invalid == ("cloacina=loud", "=x")
    with pytest.raises(ConfigError, match="cloacina=loud"):
        parse_filter("cloacina=loud", strict=True)


def test_map_target() -> None:
    assert map_target("cloacina") == "cloacinactl"
    assert map_target("cloacina::runner::cron") == "cloacinactl.runner.cron"
    assert map_target("hypercorn.access") == "hypercorn.access"


def test_verbose_wins_then_env_then_config() -> None:
    assert resolve_filter(verbose=True, env="error", configured="warn").default == DEBUG
    assert resolve_filter(verbose=False, env="error", configured="warn").default == ERROR
    assert resolve_filter(verbose=False, env="", configured="warn").default == WARNING
    assert resolve_filter(verbose=False, env=None, default=INFO).default == INFO
