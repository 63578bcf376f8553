"""CLOACINA_HOME is the default home for cloacinactl and the services; --home wins."""

from __future__ import annotations

import subprocess
from pathlib import Path

from svc_helpers import BIN, Services, clean_env, daemon_answers, run_ctl, wait_for

ctl = run_ctl


def test_cloacina_home_is_the_default_and_the_flag_wins(tmp_path: Path, services: Services) -> None:
    env_home = tmp_path / "from-env"
    flag_home = tmp_path / "from-flag"
    user_home = tmp_path / "user"
    env = clean_env(CLOACINA_HOME=str(env_home), HOME=str(user_home))

    # config.toml goes to $CLOACINA_HOME, not ~/.cloacina
    assert ctl("config", "set", "daemon.poll_interval_ms", "700", env=env).returncode == 0
    assert "poll_interval_ms = 700" in (env_home / "config.toml").read_text()
    assert not (user_home / ".cloacina").exists()
    # --home wins over the variable
    flagged = ctl("--home", str(flag_home), "config", "set", "daemon.log_level", "debug", env=env)
    assert flagged.returncode == 0, flagged.stderr
    assert "log_level" in (flag_home / "config.toml").read_text()
    assert "log_level" not in (env_home / "config.toml").read_text()

    # the daemon started without --home runs in $CLOACINA_HOME, and the probes find it there
    proc = services.popen([str(BIN / "cloacinactl"), "daemon", "start"], env)
    wait_for(lambda: daemon_answers(env_home) or proc.poll() is not None, what="daemon")
    assert proc.poll() is None, proc.communicate()[1].decode()
    assert (env_home / "daemon.pid").exists() and (env_home / "packages").is_dir()
    assert ctl("daemon", "health", env=env).returncode == 0
    assert ctl("--home", str(flag_home), "daemon", "health", env=env).returncode == 2
    assert ctl("daemon", "stop", env=env).returncode == 0
    assert proc.wait(timeout=10) == 0


def test_empty_cloacina_home_means_the_default(tmp_path: Path) -> None:
    user_home = tmp_path / "user"
    env = clean_env(CLOACINA_HOME="", HOME=str(user_home))
    assert ctl("config", "set", "daemon.poll_interval_ms", "900", env=env).returncode == 0
    assert (user_home / ".cloacina" / "config.toml").exists()


def test_help_names_the_variable() -> None:
    out = ctl("daemon", "status", "--help", env=clean_env()).stdout
    assert "CLOACINA_HOME" in out
    service = subprocess.run(
        [str(BIN / "cloacina-daemon"), "--help"], capture_output=True, text=True, timeout=60
    )
    assert "CLOACINA_HOME" in service.stdout
