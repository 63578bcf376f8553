"""Server targeting precedence and API key schemes, end to end through the CLI."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from .conftest import FakeServer, Reply


def _bearer(server: FakeServer) -> str:
    return str(server.seen[-1]["headers"]["Authorization"])


@pytest.fixture
def two_profiles(cli: Any, http_server: FakeServer, tmp_path: Path) -> Path:
    http_server.replies["/health"] = Reply(200, {"status": "ok"})
    key_file = tmp_path / "b.key"
    key_file.write_text("\n  kb-from-file  \n")
    url = http_server.url
    assert (
        cli(
            "config", "profile", "set", "a", "--server", url, "--api-key", "ka", "--default"
        ).returncode
        == 0
    )
    assert (
        cli(
            "config", "profile", "set", "b", "--server", url, "--api-key", f"file:{key_file}"
        ).returncode
        == 0
    )
    return key_file


def test_default_profile_is_used(cli: Any, http_server: FakeServer, two_profiles: Path) -> None:
    result = cli("config", "profile", "check", "-o", "json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["profile"] == "a"
    assert _bearer(http_server) == "Bearer ka"


def test_profile_flag_beats_default(cli: Any, http_server: FakeServer, two_profiles: Path) -> None:
    assert cli("--profile", "b", "config", "profile", "check").returncode == 0
    assert _bearer(http_server) == "Bearer kb-from-file"


def test_api_key_flag_beats_profile(cli: Any, http_server: FakeServer, two_profiles: Path) -> None:
    assert cli("config", "profile", "check", "--profile", "b", "--api-key", "kf").returncode == 0
    assert _bearer(http_server) == "Bearer kf"


def test_server_flag_beats_profile(
    cli: Any, http_server: FakeServer, two_profiles: Path, closed_port: int
) -> None:
    result = cli("--server", f"http://127.0.0.1:{closed_port}", "config", "profile", "check")
    assert result.returncode == 2  # went to the flag's (closed) server, not the profile's


def test_env_scheme(cli: Any, http_server: FakeServer) -> None:
    http_server.replies["/health"] = Reply(200, {})
    args = ("--server", http_server.url, "--api-key", "env:MY_KEY", "config", "profile", "check")
    assert cli(*args, env={"MY_KEY": "k-env"}).returncode == 0
    assert _bearer(http_server) == "Bearer k-env"
    unset = cli(*args)
    assert unset.returncode == 1 and "MY_KEY is not set" in unset.stderr
    empty = cli(*args, env={"MY_KEY": ""})
    assert empty.returncode == 1 and "MY_KEY is empty" in empty.stderr


def test_file_and_keyring_scheme_errors(cli: Any, tmp_path: Path) -> None:
    base = ("--server", "http://127.0.0.1:9", "config", "profile", "check")
    missing = cli("--api-key", f"file:{tmp_path / 'none'}", *base)
    assert missing.returncode == 1 and str(tmp_path / "none") in missing.stderr
    (tmp_path / "blank").write_text("\n\n")
    blank = cli("--api-key", f"file:{tmp_path / 'blank'}", *base)
    assert blank.returncode == 1 and "is empty" in blank.stderr
    keyring = cli("--api-key", "keyring:prod", *base)
    assert keyring.returncode == 1 and "reserved for v1.1" in keyring.stderr


def test_nothing_configured(cli: Any) -> None:
    result = cli("config", "profile", "check")
    assert result.returncode == 1
    assert "no server/key configured" in result.stderr
    assert "hint: cloacinactl config profile set" in result.stderr


def test_missing_named_profile(cli: Any, two_profiles: Path) -> None:
    result = cli("--profile", "prod", "config", "profile", "check")
    assert result.returncode == 1 and "profile 'prod'" in result.stderr
