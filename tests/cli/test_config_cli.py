"""`cloacinactl config …` end to end: types, layout preservation, profiles, errors."""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

COMMENTED = """\
# My Cloacina settings — keep this comment.
default_profile = "prod"   # odd spacing kept

[profiles.prod]
server = "https://api.example.com"
api_key = "env:CLOACINA_API_KEY" # or "raw-key", "file:/path"

# Daemon settings.
[daemon]
poll_interval_ms = 500 # Reconciler fallback interval
log_level   =   "info"     # trace / debug / info / warn / error
# cron_max_catchup = 100 # Max cron catchup executions; omit for unlimited

[watch]
directories = ["~/my-workflows"]  # dirs
"""


def test_first_set_creates_private_home_and_file(cli: Any, home: Path) -> None:
    assert not home.exists()
    result = cli("config", "set", "daemon.poll_interval_ms", "250")
    assert result.returncode == 0, result.stderr
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    assert stat.S_IMODE((home / "config.toml").stat().st_mode) == 0o600
    assert (home / "config.toml").read_text() == "[daemon]\npoll_interval_ms = 250\n"
    assert cli("config", "get", "daemon.poll_interval_ms").stdout == "250\n"


def test_set_keeps_every_other_byte(cli: Any, home: Path) -> None:
    home.mkdir()
    path = home / "config.toml"
    path.write_text(COMMENTED)
    assert cli("config", "set", "daemon.poll_interval_ms", "750").returncode == 0
    expected = COMMENTED.replace(
        "poll_interval_ms = 500 # Reconciler", "poll_interval_ms = 750 # Reconciler"
    )
    assert path.read_text() == expected
    assert cli("config", "set", "daemon.cron_max_catchup", "7").returncode == 0
    assert cli("config", "unset", "daemon.cron_max_catchup").returncode == 0
    assert path.read_text() == expected


def test_types_are_preserved(cli: Any, home: Path) -> None:
    assert cli("config", "set", "daemon.shutdown_timeout_s", "45").returncode == 0
    assert cli("config", "set", "watch.directories", "~/a, /b,,").returncode == 0
    assert cli("config", "set", "compiler.local_addr", "127.0.0.1:9100").returncode == 0
    text = (home / "config.toml").read_text()
    assert "shutdown_timeout_s = 45\n" in text
    assert 'directories = ["~/a", "/b"]\n' in text
    assert 'local_addr = "127.0.0.1:9100"\n' in text
    out = cli("config", "get", "daemon.shutdown_timeout_s", "-o", "json").stdout
    assert json.loads(out) == 45
    assert json.loads(cli("-o", "json", "config", "get", "watch.directories").stdout) == [
        "~/a",
        "/b",
    ]


def test_bad_values_and_unknown_keys_exit_1(cli: Any, home: Path) -> None:
    bad = cli("config", "set", "daemon.poll_interval_ms", "fast")
    assert bad.returncode == 1 and "takes an integer" in bad.stderr
    assert cli("config", "set", "daemon.poll_interval_ms", "0").returncode == 1
    unknown = cli("config", "set", "daemon.pol_interval_ms", "5")
    assert (
        unknown.returncode == 1 and "unknown config key 'daemon.pol_interval_ms'" in unknown.stderr
    )
    assert not (home / "config.toml").exists()
    missing = cli("config", "get", "nope.key")
    assert missing.returncode == 1 and "unknown config key" in missing.stderr
    unset = cli("config", "get", "database_url")
    assert unset.returncode == 1 and "'database_url' is not set" in unset.stderr


def test_get_defaults_and_list(cli: Any) -> None:
    assert cli("config", "get", "daemon.trigger_poll_interval_ms").stdout == "1000\n"
    assert cli("config", "set", "database_url", "sqlite:///x.db").returncode == 0
    rows = json.loads(cli("config", "list", "-o", "json").stdout)
    by_key = {row["key"]: row for row in rows}
    assert by_key["database_url"] == {
        "key": "database_url",
        "value": "sqlite:///x.db",
        "source": "file",
    }
    assert by_key["daemon.poll_interval_ms"]["source"] == "default"
    assert by_key["daemon.cron_max_catchup"]["source"] == "unset"
    table = cli("config", "list").stdout.splitlines()
    assert table[0].split() == ["KEY", "VALUE", "SOURCE"]
    ids = cli("config", "list", "-o", "id").stdout.splitlines()
    assert ids[:2] == ["database_url", "default_profile"]


def test_unknown_key_in_file_is_reported_with_line(cli: Any, home: Path) -> None:
    home.mkdir()
    (home / "config.toml").write_text("[daemon]\npoll_interval_ms = 5\nlog_levle = 'x'\n")
    result = cli("config", "list")
    assert result.returncode == 1
    assert f"{home / 'config.toml'}:3: unknown key 'daemon.log_levle'" in result.stderr
    assert "did you mean 'log_level'" in result.stderr


def test_profiles_lifecycle(cli: Any, home: Path) -> None:
    set_prod = cli(
        "config",
        "profile",
        "set",
        "prod",
        "--server",
        "https://p.example",
        "--api-key",
        "clk_0123456789",
        "--default",
    )
    assert set_prod.returncode == 0, set_prod.stderr
    args = ("--api-key", "env:STAGE_KEY", "--server", "http://s.example:8080")
    assert cli("config", "profile", "set", "staging", *args).returncode == 0
    listed = json.loads(cli("config", "profile", "list", "--json").stdout)
    assert listed == [
        {"name": "prod", "server": "https://p.example", "api_key": "clk_…", "default": True},
        {
            "name": "staging",
            "server": "http://s.example:8080",
            "api_key": "env:STAGE_KEY",
            "default": False,
        },
    ]
    assert cli("config", "get", "profiles.prod.api_key").stdout == "clk_0123456789\n"
    assert cli("config", "profile", "use", "staging").returncode == 0
    assert cli("config", "get", "default_profile").stdout == "staging\n"
    use_missing = cli("config", "profile", "use", "qa")
    assert use_missing.returncode == 1 and "profile 'qa' does not exist" in use_missing.stderr
    assert cli("config", "profile", "delete", "staging").returncode == 0
    assert cli("config", "get", "default_profile").returncode == 1
    assert cli("config", "profile", "list", "-o", "id").stdout == "prod\n"
    text = (home / "config.toml").read_text()
    assert "[profiles.prod]" in text and "staging" not in text


def test_profile_set_needs_server_and_key(cli: Any) -> None:
    result = cli("config", "profile", "set", "p", "--server", "http://x")
    assert result.returncode == 1 and "--api-key" in result.stderr
    bad_url = cli("config", "profile", "set", "p", "--server", "x.example", "--api-key", "k")
    assert bad_url.returncode == 1 and "invalid server URL" in bad_url.stderr
    keyring = cli("config", "profile", "set", "p", "--server", "http://x", "--api-key", "keyring:p")
    assert keyring.returncode == 1 and "reserved for v1.1" in keyring.stderr
