"""Every runbook in docs/runbooks runs here, block by block, and leaves what it promises.

``bash`` blocks always run; ``bash needs-…`` blocks run when that is available
(else the test says which were skipped and why); ``sh not-run`` blocks are
multi-host or real-root steps and are only shown.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RUNBOOKS = ROOT / "docs" / "runbooks"
BIN = Path(sys.executable).parent
BLOCK = re.compile(r"^```(\w+)([^\n]*)\n(.*?)^```", re.M | re.S)


def blocks(name: str) -> list[tuple[str, str]]:
    """(tag, script) of each fenced block of a runbook; tag '' for plain ``bash``."""
    text = (RUNBOOKS / name).read_text()
    out = []
    for lang, info, body in BLOCK.findall(text):
        if lang in ("bash", "sh"):
            out.append((info.strip() if lang == "bash" else "not-run", body))
    return out


def user_manager() -> str | None:
    if shutil.which("systemctl") is None:
        return "systemctl is not installed"
    probe = subprocess.run(
        ["systemctl", "--user", "show-environment"], capture_output=True, text=True, timeout=10
    )
    return None if probe.returncode == 0 else "no systemd user manager here"


def available(tag: str) -> str | None:
    """None when blocks with this tag can run here, else why not."""
    if tag == "":
        return None
    if tag == "not-run":
        return "needs several hosts or real root"
    if tag == "needs-systemd-user":
        return user_manager()
    if tag == "needs-postgres":
        return None if os.environ.get("CLOACINA_TEST_POSTGRES_URL") else "no PostgreSQL"
    if tag == "needs-root":
        return None if os.geteuid() == 0 else "not root"
    return f"unknown tag {tag!r}"


def run_runbook(name: str, env: dict[str, str], cwd: Path) -> list[str]:
    """Run the runnable blocks in order; returns the reasons for the skipped ones."""
    skipped = []
    full = {k: v for k, v in os.environ.items() if k not in ("RUST_LOG", "DATABASE_URL")}
    full.update(env)
    full["PATH"] = f"{BIN}:{full.get('PATH', '')}"
    script = ""
    for tag, body in blocks(name):
        reason = available(tag)
        if reason is None:
            script += body
        else:
            skipped.append(f"{tag}: {reason}")
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=cwd,
        env=full,
        capture_output=True,
        text=True,
        timeout=180,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 0, (
        f"{name} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    )
    return skipped


def ctl(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("RUST_LOG", "CLOACINA_HOME")}
    return subprocess.run(
        [str(BIN / "cloacinactl"), "--home", str(home), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )


def wait(pred, what: str, timeout: float = 30) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def daemon_body(home: Path) -> dict[str, object] | None:
    try:
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(2)
            s.connect(str(home / "daemon.sock"))
            return dict(json.loads(s.makefile().read()))
    except (OSError, ValueError):
        return None


def kill_service(home: Path, service: str) -> None:
    pid_file = home / f"{service}.pid"
    with contextlib.suppress(OSError, ValueError, IndexError):
        pid = int(pid_file.read_text().split()[0])
        os.kill(pid, signal.SIGKILL)


@pytest.fixture
def daemon_home(tmp_path: Path) -> Iterator[Path]:
    """A home with the linear-pipeline example loaded by a running (detached) daemon."""
    home = tmp_path / "home"
    (home / "packages").mkdir(parents=True)
    packed = ctl(
        home,
        "package",
        "pack",
        str(ROOT / "examples" / "linear-pipeline"),
        "-o",
        str(home / "packages" / "linear-pipeline.cloacina"),
    )
    assert packed.returncode == 0, packed.stderr
    env = {k: v for k, v in os.environ.items() if k not in ("RUST_LOG", "CLOACINA_HOME")}
    subprocess.run(
        [str(BIN / "cloacina-daemon"), "--home", str(home), "--detach"],
        env=env,
        check=True,
        timeout=60,
        capture_output=True,
    )
    try:
        wait(
            lambda: ((daemon_body(home) or {}).get("reconciler") or {}).get("packages_loaded") == 1,
            "the daemon to load the example",
        )
        yield home
    finally:
        if ctl(home, "daemon", "stop", "--timeout", "20").returncode != 0:
            kill_service(home, "daemon")


def test_install(tmp_path: Path) -> None:
    cfg = tmp_path / "cfg"
    env = {
        "CLOACINA_HOME": str(tmp_path / "home"),
        "XDG_CONFIG_HOME": str(cfg),
        "DATABASE_URL": f"sqlite:///{tmp_path}/server.db",
    }
    skipped = run_runbook("install.md", env, tmp_path)
    if user_manager() is not None:
        assert not cfg.exists()  # the dry runs changed nothing
        assert skipped and all("needs-systemd-user" in s or "not-run" in s for s in skipped)


def test_backup_restore_sqlite(daemon_home: Path, tmp_path: Path) -> None:
    backup = tmp_path / "backup.db"
    env = {"CLOACINA_HOME": str(daemon_home), "BACKUP": str(backup)}
    if os.environ.get("CLOACINA_TEST_POSTGRES_URL"):
        pytest.skip("run by test_backup_restore_postgres with its databases")
    run_runbook("backup-restore.md", env, tmp_path)
    assert backup.exists()
    body = daemon_body(daemon_home)
    assert body is not None and body["status"] == "healthy"
    assert (body["reconciler"] or {})["packages_loaded"] == 1  # type: ignore[index]


def test_backup_restore_postgres(daemon_home: Path, tmp_path: Path, fresh_pg_url: str) -> None:
    from cloacinactl.store import open_store

    open_store(fresh_pg_url).close()  # a migrated database, as a server leaves it
    restore = fresh_pg_url + "_r"
    import psycopg

    admin = os.environ["CLOACINA_TEST_POSTGRES_URL"]
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{restore.rsplit("/", 1)[1]}"')
    try:
        env = {
            "CLOACINA_HOME": str(daemon_home),
            "BACKUP": str(tmp_path / "b.db"),
            "DATABASE_URL": fresh_pg_url,
            "DUMP": str(tmp_path / "pg.dump"),
            "RESTORE_URL": restore,
        }
        run_runbook("backup-restore.md", env, tmp_path)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{restore.rsplit("/", 1)[1]}" WITH (FORCE)')


def test_recovery_after_kill_9(daemon_home: Path, tmp_path: Path) -> None:
    kill_service(daemon_home, "daemon")
    wait(lambda: daemon_body(daemon_home) is None, "the daemon to die")
    run_runbook("recovery.md", {"CLOACINA_HOME": str(daemon_home)}, tmp_path)
    body = daemon_body(daemon_home)
    assert body is not None and body["status"] == "healthy"


def test_upgrade_daemon(daemon_home: Path, tmp_path: Path) -> None:
    before = (daemon_body(daemon_home) or {})["pid"]
    skipped = run_runbook("upgrade.md", {"CLOACINA_HOME": str(daemon_home)}, tmp_path)
    body = daemon_body(daemon_home)
    assert body is not None and body["status"] == "healthy" and body["pid"] != before
    assert skipped == ["not-run: needs several hosts or real root"] * 2


def test_revoke_a_leaked_key(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if k not in ("RUST_LOG", "CLOACINA_HOME")}
    proc = subprocess.Popen(
        [
            str(BIN / "cloacinactl"),
            "--home",
            str(home),
            "server",
            "start",
            "--bind",
            f"127.0.0.1:{port}",
            "--database-url",
            f"sqlite:///{tmp_path}/server.db",
        ],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        wait(
            lambda: (home / "bootstrap-key").exists() or proc.poll() is not None,
            "the server",
        )
        assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
        admin = (home / "bootstrap-key").read_text().strip()
        made = ctl(
            home,
            "--server",
            server,
            "--api-key",
            admin,
            "key",
            "create",
            "ci-deploy",
            "--role",
            "write",
            "-o",
            "json",
        )
        assert made.returncode == 0, made.stderr
        leaked = json.loads(made.stdout)["key"]
        env2 = {
            "SERVER": server,
            "ADMIN_KEY": admin,
            "LEAKED_NAME": "ci-deploy",
            "LEAKED_KEY": leaked,
            "CLOACINA_HOME": str(home),
        }
        run_runbook("keys.md", env2, tmp_path)
        assert (tmp_path / "new.key").stat().st_mode & 0o777 == 0o600
        listed = json.loads(
            ctl(home, "--server", server, "--api-key", admin, "key", "list", "-o", "json").stdout
        )
        alive = [k["name"] for k in listed["items"] if not k.get("revoked")]
        assert alive == ["bootstrap", "ci-deploy-2"]
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        if proc.stderr is not None:
            proc.stderr.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_scale_out_and_drain_on_one_postgres(tmp_path: Path, fresh_pg_url: str) -> None:
    homes = {"HOME_A": tmp_path / "a", "HOME_B": tmp_path / "b"}
    env = {k: str(v) for k, v in homes.items()}
    env |= {"DATABASE_URL": fresh_pg_url, "PORT_A": str(free_port()), "PORT_B": str(free_port())}
    try:
        skipped = run_runbook("scale-out.md", env, tmp_path)
    finally:
        for home in homes.values():
            kill_service(home, "server")
    assert skipped == ["not-run: needs several hosts or real root"] * 2
    assert not (homes["HOME_A"] / "server.pid").exists()
