"""systemd units and launchd plists: they parse, name the real entry points, verify."""

from __future__ import annotations

import configparser
import plistlib
import sys
import tomllib
from pathlib import Path

import pytest
from svc_helpers import systemd_verify

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("daemon", "server", "compiler")
BIN = Path(sys.executable).parent


def scripts() -> dict[str, str]:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return dict(data["project"]["scripts"])


def unit(path: Path) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(path.read_text())
    return parser


@pytest.mark.parametrize("variant", ["system", "user"])
@pytest.mark.parametrize("service", SERVICES)
def test_unit_contract(variant: str, service: str) -> None:
    path = ROOT / "systemd" / variant / f"cloacina-{service}.service"
    u = unit(path)
    s = u["Service"]
    assert s["Type"] == "notify"
    assert s["Restart"] == "on-failure"
    assert s["KillMode"] == "mixed"
    assert s["WatchdogSec"].endswith("s") and int(s["WatchdogSec"][:-1]) > 0
    # Stop timeout longer than the default drain deadline (30 s).
    assert int(s["TimeoutStopSec"].rstrip("s")) > 30
    assert s["NoNewPrivileges"] == "yes"
    exec_start = s["ExecStart"].split()
    assert Path(exec_start[0]).name == f"cloacina-{service}"
    assert f"cloacina-{service}" in scripts()
    assert "--home" in exec_start
    wanted = "multi-user.target" if variant == "system" else "default.target"
    assert u["Install"]["WantedBy"] == wanted


@pytest.mark.parametrize("service", SERVICES)
def test_launchd_plist(service: str) -> None:
    path = ROOT / "launchd" / f"io.cloacina.{service}.plist"
    plist = plistlib.loads(path.read_bytes())
    assert plist["Label"] == f"io.cloacina.{service}"
    assert Path(plist["ProgramArguments"][0]).name == f"cloacina-{service}"
    assert f"cloacina-{service}" in scripts()
    assert plist["RunAtLoad"] is True
    assert plist["KeepAlive"]
    assert plist["StandardOutPath"] and plist["StandardErrorPath"]


@pytest.mark.parametrize("variant", ["system", "user"])
@pytest.mark.parametrize("service", SERVICES)
def test_systemd_analyze_verify(variant: str, service: str, tmp_path: Path) -> None:
    text = (ROOT / "systemd" / variant / f"cloacina-{service}.service").read_text()
    # verify checks that ExecStart exists: point it at the binary installed here.
    first = next(line for line in text.splitlines() if line.startswith("ExecStart="))
    binary = first.split("=", 1)[1].split()[0]
    text = text.replace(binary, str(BIN / f"cloacina-{service}"))
    path = tmp_path / f"cloacina-{service}.service"
    path.write_text(text)
    systemd_verify(path, user=variant == "user", scratch=tmp_path)
