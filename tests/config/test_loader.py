"""config.toml loading: defaults, every documented key, unknown keys and wrong types."""

from __future__ import annotations

from pathlib import Path

import pytest

from cloacinactl.config import Home, load_config, parse_config
from cloacinactl.errors import ConfigError

REFERENCE = """\
# Top-level
database_url = "sqlite:///path/to/cloacina.db"
default_profile = "prod"

[profiles.prod]
server = "https://api.example.com"
api_key = "env:CLOACINA_API_KEY" # or "raw-key", "file:/path"

[profiles.staging]
server = "https://staging.example.com"
api_key = "file:/etc/cloacina/staging-key"

[daemon]
poll_interval_ms = 250 # Reconciler fallback interval
log_level = "debug"
shutdown_timeout_s = 5
watcher_debounce_ms = 100
trigger_poll_interval_ms = 2000
cron_max_catchup = 100
cron_recovery_interval_s = 60
cron_lost_threshold_min = 3

[compiler]
local_addr = "127.0.0.1:9100"

[watch]
directories = ["~/my-workflows", "/opt/cloacina/packages", "rel"]
"""


def test_missing_file_gives_all_defaults(tmp_path: Path) -> None:
    config = load_config(Home.resolve(tmp_path / "nope"))
    assert config.database_url is None
    assert config.default_profile is None
    assert dict(config.profiles) == {}
    d = config.daemon
    assert (d.poll_interval_ms, d.log_level, d.shutdown_timeout_s) == (500, "info", 30)
    assert (d.watcher_debounce_ms, d.trigger_poll_interval_ms) == (500, 1000)
    assert d.cron_max_catchup is None
    assert (d.cron_recovery_interval_s, d.cron_lost_threshold_min) == (300, 10)
    assert config.compiler.local_addr == "127.0.0.1:9000"
    assert config.watch.directories == ()


def test_reference_example_loads_every_key(tmp_path: Path) -> None:
    home = Home.resolve(tmp_path)
    home.config_file.write_text(REFERENCE)
    config = load_config(home)
    assert config.database_url == "sqlite:///path/to/cloacina.db"
    assert config.default_profile == "prod"
    assert config.profiles["prod"].api_key == "env:CLOACINA_API_KEY"
    assert config.profiles["staging"].server == "https://staging.example.com"
    assert config.daemon.poll_interval_ms == 250
    assert config.daemon.cron_max_catchup == 100
    assert config.daemon.cron_lost_threshold_min == 3
    assert config.compiler.local_addr == "127.0.0.1:9100"
    assert config.watch.directories == (
        Path.home() / "my-workflows",
        Path("/opt/cloacina/packages"),
        tmp_path / "rel",
    )


@pytest.mark.parametrize(
    ("text", "key", "line"),
    [
        ("[daemon]\npoll_interval_ms = 1\npoll_intervall_ms = 2\n", "daemon.poll_intervall_ms", 3),
        ("# c\n\n[compiler]\nlocal_addr = 'x'\nbind = 'y'\n", "compiler.bind", 5),
        ("database_url = 'x'\ndatabse_url = 'y'\n", "databse_url", 2),
        ("a = 1\n[wach]\ndirectories = []\n", "'a'", 1),
        ("[profiles.prod]\nserver = 'x'\napi-key = 'k'\n", "profiles.prod.api-key", 3),
        ("[daemon]\n\n[daemon.sub]\nx = 1\n", "daemon.sub", 3),
    ],
)
def test_unknown_keys_name_file_key_and_line(
    tmp_path: Path, text: str, key: str, line: int
) -> None:
    path = tmp_path / "config.toml"
    with pytest.raises(ConfigError) as err:
        parse_config(text, path)
    assert f"{path}:{line}:" in err.value.message
    assert key.strip("'") in err.value.message
    assert err.value.exit_code == 1


def test_unknown_key_suggests_the_close_one(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        parse_config("[daemon]\npoll_intervall_ms = 2\n", tmp_path / "c.toml")
    assert err.value.hint == "did you mean 'poll_interval_ms'?"


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ('[daemon]\npoll_interval_ms = "500"\n', 2, "must be an integer"),
        ("[daemon]\n\npoll_interval_ms = true\n", 3, "must be an integer"),
        ("[daemon]\npoll_interval_ms = 0\n", 2, "must be >= 1"),
        ("database_url = 5\n", 1, "must be a string"),
        ("[watch]\ndirectories = '/x'\n", 2, "must be an array of strings"),
        ("daemon = 3\n", 1, "must be a table"),
        ("[daemon]\nlog_level = 'loud'\n", 2, "invalid log filter directive"),
    ],
)
def test_wrong_types_name_the_line(tmp_path: Path, text: str, line: int, words: str) -> None:
    path = tmp_path / "config.toml"
    with pytest.raises(ConfigError) as err:
        parse_config(text, path)
    assert f"{path}:{line}:" in err.value.message
    assert words in err.value.message


def test_invalid_toml_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    with pytest.raises(ConfigError) as err:
        parse_config("[daemon\n", path)
    assert str(path) in err.value.message and "line 1" in err.value.message


def test_log_level_accepts_filter_directives(tmp_path: Path) -> None:
    config = parse_config("[daemon]\nlog_level = 'warn,cloacina=debug'\n", tmp_path / "c")
    assert config.daemon.log_level == "warn,cloacina=debug"
