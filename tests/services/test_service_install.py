"""``service install|uninstall|list``: rendering, --dry-run, idempotence, a scratch root."""

from __future__ import annotations

import os
import plistlib
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from svc_helpers import clean_env, run_ctl, systemd_verify

from cloacinactl.supervisor.units import template_path

SERVICES = ("daemon", "server", "compiler")
BIN = Path(sys.executable).parent
SECRET_URL = "postgresql://cloacina:s3cret-pw@db.example/cloacina"


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return run_ctl(*args, env=clean_env(**(env or {})))


def first_file(stdout: str) -> str:
    """The first file a --dry-run prints (after its '# path (mode)' line)."""
    body = stdout.split("\n", 1)[1]
    return body.split("\n# /", 1)[0].split("\ndry run:", 1)[0] + "\n"


@pytest.mark.parametrize("user", [False, True])
@pytest.mark.parametrize("service", SERVICES)
def test_systemd_dry_run_is_the_template_filled_in(
    service: str, user: bool, tmp_path: Path
) -> None:
    home = tmp_path / "h"
    args = ["--home", str(home), "service", "install", service, "--platform", "systemd"]
    args += ["--dry-run", "--database-url", SECRET_URL, *(["--user"] if user else [])]
    out = run(*args, env={"XDG_CONFIG_HOME": str(tmp_path / "cfg")})
    assert out.returncode == 0, out.stderr
    assert "s3cret-pw" not in out.stdout + out.stderr
    assert "dry run: nothing was changed" in out.stdout
    assert not (tmp_path / "cfg").exists() and not home.exists()
    rendered = first_file(out.stdout).splitlines()
    template = template_path(service, "systemd", user).read_text().splitlines()
    assert len(rendered) == len(template) + (0 if user else 1)  # + ReadWritePaths
    changed = {}
    for line in rendered:
        if line not in template:
            key, _, value = line.partition("=")
            changed[key] = value
    exec_start = shlex.split(changed.pop("ExecStart"))
    assert exec_start[0] == str(BIN / f"cloacina-{service}")
    assert exec_start[exec_start.index("--home") + 1] == str(home)
    if service != "daemon":
        env_dir = tmp_path / "cfg" / "cloacina" if user else Path("/etc/cloacina")
        assert changed.pop("EnvironmentFile", f"-{env_dir}/{service}.env") == (
            f"-{env_dir}/{service}.env"
        )
        assert f"# {env_dir}/{service}.env (mode 0600)" in out.stdout
        assert "DATABASE_URL='<database url>'" in out.stdout
    if not user:
        assert changed.pop("ReadWritePaths") == str(home)
        changed.pop("ProtectHome", None)  # read-only when the venv lives in a home folder
    header = changed.pop(next(k for k in changed if k.startswith("# ")))
    assert header == "" or "Installed by cloacinactl service install" in header
    assert changed == {}, changed


@pytest.mark.parametrize("service", SERVICES)
def test_launchd_dry_run(service: str, tmp_path: Path) -> None:
    home = tmp_path / "h"
    args = ["--home", str(home), "service", "install", service, "--platform", "launchd"]
    out = run(
        *args, "--user", "--dry-run", "--database-url", SECRET_URL, env={"HOME": str(tmp_path)}
    )
    assert out.returncode == 0, out.stderr
    assert "s3cret-pw" not in out.stdout
    assert out.stdout.startswith(f"# {tmp_path}/Library/LaunchAgents/io.cloacina.{service}.plist")
    plist = plistlib.loads(first_file(out.stdout).encode())
    template = plistlib.loads(template_path(service, "launchd", True).read_bytes())
    assert plist["Label"] == template["Label"] and plist["KeepAlive"] == template["KeepAlive"]
    assert "DATABASE_URL" not in plist["EnvironmentVariables"]
    argv = plist["ProgramArguments"]
    if service == "daemon":
        assert argv == [str(BIN / "cloacina-daemon"), "--home", str(home)]
    else:
        assert argv[:2] == ["/bin/sh", "-c"] and f"exec {BIN}/cloacina-{service}" in argv[2]
        assert f"{tmp_path}/.config/cloacina/{service}.env" in argv[2]
    assert plist["StandardErrorPath"] == str(home / "logs" / f"{service}.err.log")


def test_install_is_idempotent_and_uninstall_leaves_nothing(tmp_path: Path) -> None:
    root = tmp_path / "root"
    base = ["--home", "/var/lib/cloacina", "service"]
    flags = ["--platform", "systemd", "--root", str(root)]
    first = run(*base, "install", "server", *flags, "--database-url", SECRET_URL)
    assert first.returncode == 0, first.stderr
    unit = root / "etc/systemd/system/cloacina-server.service"
    env_file = root / "etc/cloacina/server.env"
    assert unit.stat().st_mode & 0o777 == 0o644
    assert env_file.stat().st_mode & 0o777 == 0o600
    assert SECRET_URL in env_file.read_text() and SECRET_URL not in unit.read_text()
    assert "s3cret-pw" not in first.stdout + first.stderr
    before = unit.stat().st_mtime_ns

    again = run(*base, "install", "server", *flags, "--database-url", SECRET_URL)
    assert again.returncode == 0 and "unchanged (already installed" in again.stdout
    assert unit.stat().st_mtime_ns == before

    listed = run(*base, "list", *flags, "-o", "json")
    assert '"service": "server"' in listed.stdout and '"ours": true' in listed.stdout

    # a unit someone else wrote is never removed
    foreign = root / "etc/systemd/system/cloacina-compiler.service"
    foreign.write_text("[Service]\nExecStart=/bin/true\n")
    kept = run(*base, "uninstall", "compiler", *flags)
    assert kept.returncode == 0 and "left alone" in kept.stdout and foreign.exists()
    foreign.unlink()

    dry = run(*base, "uninstall", "server", *flags, "--dry-run")
    assert dry.returncode == 0 and unit.exists() and env_file.exists()
    gone = run(*base, "uninstall", "server", *flags)
    assert gone.returncode == 0, gone.stderr
    assert [p for p in root.rglob("*") if not p.is_dir()] == []
    assert not (root / "etc/cloacina").exists()
    assert "not installed" in run(*base, "uninstall", "server", *flags).stdout


def test_without_rights_names_user_mode(tmp_path: Path) -> None:
    """Run as an unprivileged user (root drops to nobody with setpriv to see it)."""
    argv = [str(BIN / "cloacinactl"), "--home", str(tmp_path / "h"), "service", "install"]
    argv += ["daemon", "--platform", "systemd"]
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.skip("running as root without setpriv: no unprivileged user to try as")
        argv = [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", *argv]
    env = clean_env(HOME=str(tmp_path))
    out = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=60, cwd=tmp_path)
    assert out.returncode == 1, out.stdout + out.stderr
    assert "permission denied" in out.stderr and "--user" in out.stderr


def _user_manager() -> str | None:
    if shutil.which("systemctl") is None:
        return "systemctl is not installed"
    probe = subprocess.run(
        ["systemctl", "--user", "show-environment"], capture_output=True, text=True, timeout=10
    )
    if probe.returncode != 0:
        return f"no systemd user manager: {probe.stderr.strip()[:120]}"
    return None


def test_real_user_manager_install_start_uninstall(tmp_path: Path) -> None:
    reason = _user_manager()
    if reason is not None:
        pytest.skip(reason)
    home = tmp_path / "h"
    out = run("--home", str(home), "service", "install", "daemon", "--user", "--start")
    try:
        assert out.returncode == 0, out.stderr
        state = subprocess.run(
            ["systemctl", "--user", "is-active", "cloacina-daemon.service"],
            capture_output=True,
            text=True,
        )
        assert state.stdout.strip() in ("active", "activating")
    finally:
        done = run("--home", str(home), "service", "uninstall", "daemon", "--user")
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("user", [False, True])
@pytest.mark.parametrize("service", SERVICES)
def test_rendered_units_verify(service: str, user: bool, tmp_path: Path) -> None:
    home = tmp_path / "h"
    home.mkdir()
    args = ["--home", str(home), "service", "install", service, "--dry-run"]
    out = run(*args, "--platform", "systemd", *(["--user"] if user else []))
    assert out.returncode == 0, out.stderr
    unit = tmp_path / f"cloacina-{service}.service"
    unit.write_text(first_file(out.stdout))
    systemd_verify(unit, user=user, scratch=tmp_path)
