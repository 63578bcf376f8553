"""API key schemes and server-targeting precedence (pure, no CLI)."""

from __future__ import annotations

from pathlib import Path

import pytest

from cloacinactl.config import Config, Profile, resolve_api_key, resolve_target
from cloacinactl.errors import UserError


def test_raw_key() -> None:
    assert resolve_api_key("clk_a1b2c3") == "clk_a1b2c3"


def test_env_key() -> None:
    assert resolve_api_key("env:K", environ={"K": " abc \n"}) == "abc"
    with pytest.raises(UserError, match="K is not set"):
        resolve_api_key("env:K", environ={})
    with pytest.raises(UserError, match="K is empty"):
        resolve_api_key("env:K", environ={"K": "  "})


def test_file_key_first_non_empty_line(tmp_path: Path) -> None:
    key = tmp_path / "key"
    key.write_text("\n   \n  clk_secret  \nsecond\n")
    assert resolve_api_key(f"file:{key}") == "clk_secret"
    with pytest.raises(UserError, match=f"{tmp_path / 'missing'} does not exist"):
        resolve_api_key(f"file:{tmp_path / 'missing'}")
    key.write_text("\n \n")
    with pytest.raises(UserError, match=f"{key} is empty"):
        resolve_api_key(f"file:{key}")


def test_keyring_is_reserved() -> None:
    with pytest.raises(UserError, match=r"reserved for v1\.1"):
        resolve_api_key("keyring:prod")


CONFIG = Config(
    default_profile="prod",
    profiles={
        "prod": Profile("prod", "https://prod", "k-prod"),
        "staging": Profile("staging", "https://staging/", "env:STAGE"),
    },
)


def test_flags_beat_profiles() -> None:
    t = resolve_target(CONFIG, server="http://flag", api_key="k-flag", profile="staging")
    assert (t.server, t.api_key) == ("http://flag", "k-flag")


def test_flag_overrides_one_field_of_the_profile() -> None:
    t = resolve_target(CONFIG, server="http://flag")
    assert (t.server, t.api_key, t.profile) == ("http://flag", "k-prod", "prod")


def test_profile_flag_beats_default_profile() -> None:
    t = resolve_target(CONFIG, profile="staging", environ={"STAGE": "k-stage"})
    assert (t.server, t.api_key) == ("https://staging", "k-stage")


def test_default_profile() -> None:
    assert resolve_target(CONFIG).server == "https://prod"


def test_nothing_configured() -> None:
    with pytest.raises(UserError, match="no server/key configured") as err:
        resolve_target(Config())
    assert err.value.hint and "cloacinactl config profile set" in err.value.hint


def test_missing_named_profile() -> None:
    with pytest.raises(UserError, match="profile 'nope'"):
        resolve_target(CONFIG, profile="nope")
