"""The server and compiler programs: flags, probes, lifecycle through the CLI."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
from svc_helpers import Services, clean_env, free_port, pid_meta, wait_for

BIN = Path(sys.executable).parent


def closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    # Nothing listens there once the socket is closed: connections are refused.
    return f"postgresql://postgres@127.0.0.1:{port}/nothing"


def wait_recorded(home: Path, service: str, proc: subprocess.Popen[bytes]) -> str:
    def recorded() -> bool:
        if proc.poll() is not None:
            return True
        try:
            return "address" in pid_meta(home, service)
        except (FileNotFoundError, IndexError, ValueError):
            return False

    wait_for(recorded, what=f"{service} address")
    assert proc.poll() is None, proc.communicate()[1].decode()
    return str(pid_meta(home, service)["address"])


def test_server_without_database_url_exits_1(cli) -> None:
    result = cli("server", "start", "--bind", "127.0.0.1:0", timeout=30)
    assert result.returncode == 1
    assert "DATABASE_URL" in result.stderr


def test_server_takes_database_url_from_config_toml(
    cli, home: Path, services: Services, tmp_path: Path
) -> None:
    # --database-url, else DATABASE_URL, else database_url in config.toml
    set_url = cli("config", "set", "database_url", f"sqlite:///{tmp_path / 'server.db'}")
    assert set_url.returncode == 0, set_url.stderr
    proc = services.cli("server", "start", "--bind", "127.0.0.1:0")
    address = wait_recorded(home, "server", proc)
    assert httpx.get(f"http://{address}/ready", timeout=10).status_code == 200


def test_server_sighup_rechecks_config_toml(
    cli, home: Path, services: Services, tmp_path: Path
) -> None:
    first = f"sqlite:///{tmp_path / 'server.db'}"
    assert cli("config", "set", "database_url", first).returncode == 0
    proc = services.cli("server", "start", "--bind", "127.0.0.1:0")
    address = wait_recorded(home, "server", proc)
    log = home / "logs" / "cloacina-server.log"
    config = home / "config.toml"

    config.write_text(f'database_url = "sqlite:///{tmp_path / "other.db"}"\n')
    proc.send_signal(signal.SIGHUP)
    wait_for(lambda: "restart the server to use it" in log.read_text(), what="url change noted")

    config.write_text("database_url = [not toml\n")
    proc.send_signal(signal.SIGHUP)
    wait_for(lambda: "rejected, nothing changed" in log.read_text(), what="bad config noted")

    # still serving, on the database it started with
    assert proc.poll() is None, "SIGHUP must not stop the server"
    status = httpx.get(f"http://{address}/v1/health/status", timeout=10).json()
    assert status["database"]["connected"] is True
    assert "server.db" in status["database"]["url"]
    for line in log.read_text().splitlines():
        json.loads(line)


def test_server_rejects_bad_flags(cli) -> None:
    bad_bind = cli("server", "start", "--bind", "nonsense", "--database-url", "sqlite:///x.db")
    assert bad_bind.returncode == 1
    bad_url = cli("server", "start", "--bind", "127.0.0.1:0", "--database-url", "mysql://x/y")
    assert bad_url.returncode == 1 and "database URL" in bad_url.stderr


def test_server_ready_503_when_database_unreachable(home: Path, services: Services) -> None:
    proc = services.cli(
        "server", "start", "--bind", "127.0.0.1:0", "--database-url", closed_port_url()
    )
    address = wait_recorded(home, "server", proc)
    assert httpx.get(f"http://{address}/health").status_code == 200
    ready = httpx.get(f"http://{address}/ready", timeout=10)
    assert ready.status_code == 503
    assert ready.json()["code"] == "database_unreachable" and "error" in ready.json()
    missing = httpx.get(f"http://{address}/no/such/route")
    assert missing.status_code == 404 and set(missing.json()) == {"error", "code"}
    status = httpx.get(f"http://{address}/v1/health/status", timeout=10).json()
    assert status["database"]["connected"] is False and status["pid"] == proc.pid


def test_server_lifecycle_via_recorded_address(cli, home: Path, services: Services) -> None:
    db = f"sqlite:///{home.parent / 'server.db'}"
    proc = services.cli(
        "server", "start", "--bind", "127.0.0.1:0", "--database-url", db, "--require-signatures"
    )
    address = wait_recorded(home, "server", proc)
    assert httpx.get(f"http://{address}/ready").status_code == 200
    assert cli("server", "health").returncode == 0
    status = cli("-o", "json", "server", "status")
    assert status.returncode == 0, status.stderr
    data = json.loads(status.stdout)
    assert data["pid"] == proc.pid and data["require_signatures"] is True
    assert data["database"] == "sqlite connected"
    table = cli("server", "status", "--no-color")
    assert "\x1b[" not in table.stdout and "running" in table.stdout
    assert cli("server", "stop").returncode == 0
    assert proc.wait(timeout=15) == 0
    assert cli("server", "health").returncode == 2
    assert cli("server", "stop").returncode == 2


def test_server_probe_follows_server_flag(cli, home: Path) -> None:
    port = free_port()
    assert cli("--server", f"http://127.0.0.1:{port}", "server", "health").returncode == 2


def test_compiler_without_database_url_exits_1(cli) -> None:
    result = cli("compiler", "start", "--bind", "127.0.0.1:0", timeout=30)
    assert result.returncode == 1
    assert "needs a database" in result.stderr and "DATABASE_URL" in result.stderr


def test_compiler_lifecycle(cli, home: Path, services: Services, tmp_path: Path) -> None:
    proc = services.cli(
        "compiler",
        "start",
        "--bind",
        "127.0.0.1:0",
        "--database-url",
        f"sqlite:///{tmp_path / 'compiler.db'}",
        "--poll-interval-ms",
        "250",
        "--sweep-interval-s",
        "7",
    )
    address = wait_recorded(home, "compiler", proc)
    body = httpx.get(f"http://{address}/v1/status").json()
    assert body["poll_interval_ms"] == 250 and body["sweep_interval_s"] == 7
    assert cli("compiler", "health").returncode == 0
    status = json.loads(cli("-o", "json", "compiler", "status").stdout)
    assert status["pid"] == proc.pid
    # [compiler] local_addr in config.toml wins over the recorded address.
    (home / "config.toml").write_text(f'[compiler]\nlocal_addr = "127.0.0.1:{free_port()}"\n')
    assert cli("compiler", "health").returncode == 2
    (home / "config.toml").write_text(f'[compiler]\nlocal_addr = "{address}"\n')
    assert cli("compiler", "health").returncode == 0
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=15) == 0
    assert cli("compiler", "health").returncode == 2


def test_composite_status_reports_each_probe(cli, home: Path, services: Services) -> None:
    services.start_daemon()
    (home / "config.toml").write_text(f'[compiler]\nlocal_addr = "127.0.0.1:{free_port()}"\n')
    result = cli("status", "--no-color", "--server", f"http://127.0.0.1:{free_port()}")
    assert result.returncode == 0
    lines = result.stdout.splitlines()
    assert lines[0].split()[:3] == ["SERVICE", "STATE", "PID"]
    rows = {line.split()[0]: line.split()[1] for line in lines[1:]}
    assert rows == {"daemon": "running", "server": "stopped", "compiler": "stopped"}
    as_json = json.loads(cli("-o", "json", "status").stdout)
    assert [r["service"] for r in as_json] == ["daemon", "server", "compiler"]
    assert as_json[0]["state"] == "running" and as_json[0]["status"]["status"] == "healthy"


def test_service_binaries_validate_flags() -> None:
    for argv in (
        ["cloacina-daemon", "--poll-interval", "0"],
        ["cloacina-compiler", "--stale-threshold-s", "-3"],
        ["cloacina-server", "--bind", "127.0.0.1:99999", "--database-url", "sqlite:///x"],
    ):
        result = subprocess.run(
            [str(BIN / argv[0]), *argv[1:]],
            capture_output=True,
            text=True,
            env=clean_env(),
            timeout=30,
        )
        assert result.returncode == 1, argv
        assert "error:" in result.stderr
