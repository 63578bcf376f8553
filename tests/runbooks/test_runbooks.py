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


def blocks(name: str, section: str | None = None) -> list[tuple[str, str]]:
    """(tag, script) of each fenced block of a runbook (or of one ``## section``);
    tag '' for plain ``bash``."""
    text = (RUNBOOKS / name).read_text()
    if section is not None:
        parts = re.split(r"^## ", text, flags=re.M)
        found = [p for p in parts if p.startswith(section + "\n")]
        assert found, f"{name} has no section {section!r}"
        text = found[0]
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


def run_runbook(name: str, env: dict[str, str], cwd: Path, section: str | None = None) -> list[str]:
    """Run the runnable blocks in order; returns the reasons for the skipped ones."""
    skipped = []
    full = {k: v for k, v in os.environ.items() if k not in ("RUST_LOG", "DATABASE_URL")}
    full.update(env)
    full["PATH"] = f"{BIN}:{full.get('PATH', '')}"
    script = ""
    for tag, body in blocks(name, section):
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


def loaded(home: Path) -> object:
    """How many packages the daemon in ``home`` has loaded (None when unreachable)."""
    body = daemon_body(home) or {}
    reconciler = body.get("reconciler")
    return reconciler.get("packages_loaded") if isinstance(reconciler, dict) else None


def errors(home: Path) -> dict[str, str]:
    """The daemon's broken packages (path -> reason)."""
    found = (daemon_body(home) or {}).get("errors")
    return dict(found) if isinstance(found, dict) else {}


def kill_service(home: Path, service: str) -> None:
    pid_file = home / f"{service}.pid"
    with contextlib.suppress(OSError, ValueError, IndexError):
        pid = int(pid_file.read_text().split()[0])
        os.kill(pid, signal.SIGKILL)


@pytest.fixture
def daemon_home(tmp_path: Path) -> Iterator[Path]:
    """A home with the linear-pipeline example loaded by a running (detached) daemon."""
    with running_daemon(tmp_path / "home") as home:
        yield home


@contextlib.contextmanager
def running_daemon(home: Path) -> Iterator[Path]:
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
            lambda: loaded(home) == 1,
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


@contextlib.contextmanager
def small_disk(where: Path, size_mb: int) -> Iterator[Path]:
    """A tmpfs of ``size_mb`` mounted at ``where`` (root only)."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("a full disk is made with a small tmpfs: needs root")
    where.mkdir()
    made = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size_mb}m", "tmpfs", str(where)],
        capture_output=True,
        text=True,
    )
    if made.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {made.stderr.strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def fill(folder: Path) -> int:
    """Old rotated logs until the disk is full; returns how many files were written."""
    line = b'{"ts":"2026-01-01T00:00:00.000+00:00","level":"INFO","message":"old"}\n'
    chunk = line * (1_000_000 // len(line))
    old = time.time() - 10 * 86400
    n = 0
    while True:
        n += 1
        path = folder / f"cloacina.log.2026-01-{n % 28 + 1:02d}.{n}"
        try:
            with path.open("wb") as out:
                out.write(chunk)
        except OSError:
            os.utime(path, (old, old))
            return n
        os.utime(path, (old, old))


def test_recovery_from_a_full_disk(tmp_path: Path) -> None:
    other = tmp_path / "fan-out.cloacina"
    packed = ctl(
        tmp_path, "package", "pack", str(ROOT / "examples" / "fan-out-fan-in"), "-o", str(other)
    )
    assert packed.returncode == 0, packed.stderr
    with small_disk(tmp_path / "disk", 40) as disk, running_daemon(disk / "home") as home:
        written = fill(home / "logs")
        assert shutil.disk_usage(disk).free < 100_000 and written > 30
        # a package copied in now arrives cut short
        with contextlib.suppress(OSError):
            shutil.copyfile(other, home / "packages" / "fan-out.cloacina")
        wait(lambda: len(errors(home)) == 1, "the broken copy")

        run_runbook("recovery.md", {"CLOACINA_HOME": str(home)}, tmp_path, "A full disk")
        assert shutil.disk_usage(disk).free > 30_000_000
        assert not list((home / "logs").glob("cloacina.log.2026-01-*"))
        assert (home / "logs" / "cloacina.log").exists()  # the live log is kept
        body = daemon_body(home)
        assert body is not None and body["status"] == "healthy"

        # as the runbook says: copy it again, and it loads
        shutil.copyfile(other, home / "packages" / "fan-out.cloacina")
        wait(lambda: loaded(home) == 2, "the package copied again to load")
        assert errors(home) == {}


def test_upgrade_daemon(daemon_home: Path, tmp_path: Path) -> None:
    before = (daemon_body(daemon_home) or {})["pid"]
    skipped = run_runbook(
        "upgrade.md", {"CLOACINA_HOME": str(daemon_home)}, tmp_path, "The daemon (one host)"
    )
    body = daemon_body(daemon_home)
    assert body is not None and body["status"] == "healthy" and body["pid"] != before
    assert skipped == ["not-run: needs several hosts or real root"]


def test_revoke_a_leaked_key(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = f"http://127.0.0.1:{port}"
    db_url = f"sqlite:///{tmp_path}/server.db"
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
            db_url,
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
            "DATABASE_URL": db_url,
        }
        run_runbook("keys.md", env2, tmp_path)
        assert (tmp_path / "new.key").stat().st_mode & 0o777 == 0o600
        # the bootstrap key was rotated: a new one in the file, the old one refused
        rotated = (home / "bootstrap-key").read_text().strip()
        assert rotated != admin and (home / "bootstrap-key").stat().st_mode & 0o777 == 0o600
        old = ctl(home, "--server", server, "--api-key", admin, "key", "list")
        assert old.returncode == 4, old.stdout + old.stderr
        listed = json.loads(
            ctl(home, "--server", server, "--api-key", rotated, "key", "list", "-o", "json").stdout
        )
        alive = [(k["name"], k["is_admin"]) for k in listed["items"] if not k.get("revoked")]
        assert alive == [("ci-deploy-2", False), ("bootstrap", True)]
        assert [k["name"] for k in listed["items"] if k.get("revoked")] == [
            "bootstrap",
            "ci-deploy",
        ]
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


SLOW_TASKS = 6
SLOW_TASK_S = 1.5


def slow_package(root: Path) -> Path:
    """A package whose workflow runs SLOW_TASKS tasks one after another, SLOW_TASK_S each."""
    pkg = root / "rolling-check"
    code = pkg / "workflow" / "rolling_check"
    code.mkdir(parents=True)
    (pkg / "package.toml").write_text(
        '[package]\nname = "rolling-check"\nversion = "0.1.0"\n\n'
        '[metadata]\nworkflow_name = "rolling_check"\n'
    )
    (code / "__init__.py").write_text("")
    body = ["import time", "", "import cloaca", ""]
    for i in range(SLOW_TASKS):
        deps = f'["step{i - 1}"]' if i else "[]"
        body += [
            f'@cloaca.task(id="step{i}", dependencies={deps})',
            f"def step{i}(context):",
            f"    time.sleep({SLOW_TASK_S})",
            f'    context.set("step{i}", (context.get("step{i - 1}") or 0) + 1)'
            if i
            else f'    context.set("step{i}", 1)',
            "    return context",
            "",
        ]
    (code / "tasks.py").write_text("\n".join(body))
    return pkg


def test_rolling_restart_of_two_servers_loses_no_execution(
    tmp_path: Path, fresh_pg_url: str
) -> None:
    homes = {"HOME_A": tmp_path / "a", "HOME_B": tmp_path / "b"}
    env = {k: str(v) for k, v in homes.items()}
    env |= {"DATABASE_URL": fresh_pg_url, "PORT_A": str(free_port()), "PORT_B": str(free_port())}
    env |= {"PACKAGE_DIR": str(slow_package(tmp_path)), "WORKFLOW": "rolling_check"}
    started = time.monotonic()
    try:
        skipped = run_runbook("upgrade.md", env, tmp_path, "Try the rolling restart on one machine")
    finally:
        for home in homes.values():
            kill_service(home, "server")
    assert skipped == []
    assert time.monotonic() - started > SLOW_TASKS * SLOW_TASK_S
    for home in homes.values():
        assert not (home / "server.pid").exists()
    import psycopg

    with psycopg.connect(fresh_pg_url.replace("postgresql+psycopg", "postgresql")) as conn:
        [(execution, status)] = conn.execute(
            "SELECT id, status FROM executions WHERE workflow_name = 'rolling_check'"
        ).fetchall()
        tasks = conn.execute(
            "SELECT task_name, state, attempt, reset_count, claimant_id FROM tasks"
            " WHERE execution_id = %s ORDER BY task_name",
            (execution,),
        ).fetchall()
        events = conn.execute(
            "SELECT sequence_num, event_type, task_name, event_data FROM events"
            " WHERE execution_id = %s ORDER BY sequence_num",
            (execution,),
        ).fetchall()
    assert status == "Completed", tasks
    assert [t[0] for t in tasks] == [f"step{i}" for i in range(SLOW_TASKS)]
    assert all(t[1] == "Completed" for t in tasks), f"{tasks}\n{events}"
    # each task completed exactly once (none run twice across the roll). A first
    # attempt on a server just restarted can still fail to import the package
    # (load_failed, then retried): known, reported; its retry is what saves it.
    completed = [e[2] for e in events if e[1] == "task_completed"]
    assert sorted(completed) == [f"step{i}" for i in range(SLOW_TASKS)], events
    # the roll happened while it ran: its tasks were run by more than one server process
    assert len({t[4] for t in tasks}) >= 2, tasks
