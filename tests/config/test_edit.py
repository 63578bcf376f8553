"""Layout-preserving edits, type coercion, atomic writes and concurrent writers."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from cloacinactl.config import Home
from cloacinactl.config.edit import coerce, edit_config, set_values, unset_value, write_atomic
from cloacinactl.config.profiles import delete_profile
from cloacinactl.config.schema import Key
from cloacinactl.errors import ConfigError, UserError


def test_coerce_per_kind() -> None:
    assert coerce(Key("int", 1, 1), "k", " 42 ") == 42
    assert coerce(Key("bool"), "k", "TRUE") is True
    assert coerce(Key("bool"), "k", "no") is False
    assert coerce(Key("list[str]"), "k", "a, b ,,c") == ["a", "b", "c"]
    assert coerce(Key("str"), "k", " x ") == " x "
    with pytest.raises(UserError, match="true or false"):
        coerce(Key("bool"), "k", "maybe")
    with pytest.raises(UserError, match=">= 1"):
        coerce(Key("int", 1, 1), "k", "0")


def test_bool_values_stay_bool_in_toml() -> None:
    text = set_values("a = 1\n", [(["flag"], coerce(Key("bool"), "flag", "yes"))])
    assert tomllib.loads(text) == {"a": 1, "flag": True}
    assert "flag = true\n" in text


def test_new_tables_get_one_blank_line() -> None:
    text = set_values(
        "# head\n[daemon]\nx = 1 # c\n",
        [(["profiles", "a", "server"], "s"), (["watch", "directories"], ["d"])],
    )
    assert text == (
        '# head\n[daemon]\nx = 1 # c\n\n[profiles.a]\nserver = "s"\n\n'
        '[watch]\ndirectories = ["d"]\n'
    )
    text = set_values(text, [(["profiles", "b", "server"], "t")])
    assert '[profiles.a]\nserver = "s"\n\n[profiles.b]\nserver = "t"\n\n[watch]' in text


def test_unset_and_delete_profile() -> None:
    text = 'default_profile = "a"\n\n[profiles.a]\nserver = "s"\n\n[daemon]\nx = 1\n'
    assert unset_value(text, ["daemon", "y"]) == (text, False)
    new = delete_profile(text, "a")
    assert tomllib.loads(new) == {"daemon": {"x": 1}}
    assert new.endswith("[daemon]\nx = 1\n")


def test_write_atomic_replaces_and_leaves_no_temp(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text("old")
    write_atomic(path, "new", mode=0o600)
    assert path.read_text() == "new"
    assert os.listdir(tmp_path) == ["config.toml"]
    assert path.stat().st_mode & 0o777 == 0o600


def test_invalid_result_is_never_written(tmp_path: Path) -> None:
    home = Home.resolve(tmp_path / "h")
    edit_config(home, lambda _: "[daemon]\npoll_interval_ms = 5\n")
    with pytest.raises(ConfigError):
        edit_config(home, lambda text: (text or "") + "bogus = 1\n")
    assert home.config_file.read_text() == "[daemon]\npoll_interval_ms = 5\n"


def test_concurrent_writers_lose_nothing(tmp_path: Path) -> None:
    home = tmp_path / "home"
    cli = str(Path(sys.executable).parent / "cloacinactl")
    procs = [
        subprocess.Popen(
            [
                cli,
                "--home",
                str(home),
                "config",
                "profile",
                "set",
                f"p{i}",
                "--server",
                f"http://h{i}:1",
                "--api-key",
                f"k{i}",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        for i in range(8)
    ]
    try:
        for proc in procs:
            assert proc.wait(60) == 0
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
    data = tomllib.loads((home / "config.toml").read_text())
    assert sorted(data["profiles"]) == [f"p{i}" for i in range(8)]
    assert data["profiles"]["p3"] == {"server": "http://h3:1", "api_key": "k3"}


def test_symlinked_config_stays_a_symlink(tmp_path: Path) -> None:
    home = Home.resolve(tmp_path / "h")
    home.ensure()
    real = tmp_path / "dotfiles" / "cloacina.toml"
    real.parent.mkdir()
    real.write_text("# mine\n")
    home.config_file.symlink_to(real)
    edit_config(home, lambda text: set_values(text, [(["database_url"], "sqlite:///x")]))
    assert home.config_file.is_symlink()
    assert real.read_text() == '# mine\ndatabase_url = "sqlite:///x"\n'
