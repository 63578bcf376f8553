"""``cloacinactl service install|uninstall|list``: the services under systemd or launchd."""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from cloacinactl.errors import UserError

if TYPE_CHECKING:
    from cloacinactl.cli.context import Ctx
    from cloacinactl.cli.framework import Noun
    from cloacinactl.supervisor.units import UnitSpec

SERVICES = ("daemon", "server", "compiler")
DEFAULT_BIND = {"server": "127.0.0.1:8080", "compiler": "127.0.0.1:9000"}


@dataclass(frozen=True)
class Layout:
    """Where the manager looks, for one platform and mode (under ``root`` for tests)."""

    platform: str
    user_mode: bool
    unit_dir: Path
    env_dir: Path

    def unit_path(self, service: str) -> Path:
        if self.platform == "launchd":
            return self.unit_dir / f"io.cloacina.{service}.plist"
        return self.unit_dir / f"cloacina-{service}.service"

    def env_path(self, service: str) -> Path:
        return self.env_dir / f"{service}.env"


def layout(platform: str, user_mode: bool, root: Path | None) -> Layout:
    home = Path.home()
    if platform == "launchd":
        unit = home / "Library/LaunchAgents" if user_mode else Path("/Library/LaunchDaemons")
        env = home / ".config/cloacina" if user_mode else Path("/usr/local/etc/cloacina")
    else:
        config = Path(os.environ.get("XDG_CONFIG_HOME") or home / ".config")
        unit = config / "systemd/user" if user_mode else Path("/etc/systemd/system")
        env = config / "cloacina" if user_mode else Path("/etc/cloacina")
    if root is not None:
        unit, env = (root / p.relative_to(p.anchor) for p in (unit, env))
    return Layout(platform, user_mode, unit, env)


def manager_commands(lay: Layout, spec: UnitSpec, action: str) -> list[list[str]]:
    """The service-manager commands for ``start`` (after install) or ``stop`` (before removal)."""
    if lay.platform == "launchd":
        domain = f"gui/{os.getuid()}" if lay.user_mode else "system"
        if action == "start":
            return [["launchctl", "bootstrap", domain, str(lay.unit_path(spec.service))]]
        return [["launchctl", "bootout", f"{domain}/{spec.name}"]]
    ctl = ["systemctl", "--user"] if lay.user_mode else ["systemctl"]
    if action == "start":
        return [[*ctl, "daemon-reload"], [*ctl, "enable", "--now", spec.name]]
    if action == "stop":
        return [[*ctl, "disable", "--now", spec.name]]
    return [[*ctl, "daemon-reload"]]


def _spec(ctx: Ctx, args: argparse.Namespace, lay: Layout, service: str) -> UnitSpec:
    from cloacinactl.supervisor.units import UnitSpec

    if ctx.home_flag is not None or lay.user_mode:
        home = ctx.home.root
    else:
        home = Path(os.environ.get("CLOACINA_HOME") or "/var/lib/cloacina")
    binary = Path(sys.executable).parent / f"cloacina-{service}"
    if not binary.exists():
        found = shutil.which(f"cloacina-{service}")
        if found is None:
            raise UserError(f"cloacina-{service} is not installed beside {sys.executable}")
        binary = Path(found)
    has_env = service != "daemon"
    return UnitSpec(
        service=service,
        platform=lay.platform,
        user_mode=lay.user_mode,
        binary=binary.absolute(),
        home=home,
        env_file=lay.env_path(service) if has_env else None,
        bind=args.bind if args.bind else None,
        run_as=None if lay.user_mode else args.run_as,
        group=None if lay.user_mode else args.group,
    )


def _writable(path: Path) -> bool:
    probe = path
    while not probe.exists():
        probe = probe.parent
    return os.access(probe, os.W_OK)


def _rights(paths: list[Path], lay: Layout) -> None:
    for path in paths:
        if not _writable(path.parent):
            raise UserError(
                f"cannot write {path.parent}: permission denied",
                hint="run it as root (sudo), or install for your user only with --user",
            )


def _write(path: Path, data: bytes, mode: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o755 if mode != 0o600 else 0o700)
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.write(fd, data)
        os.fchmod(fd, mode)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def _run(commands: list[list[str]], *, dry_run: bool, check: bool = True) -> None:
    for argv in commands:
        print(("would run: " if dry_run else "running: ") + " ".join(argv))
        if dry_run:
            continue
        if shutil.which(argv[0]) is None:
            raise UserError(f"{argv[0]} is not available on this machine")
        result = subprocess.run(argv, capture_output=True, text=True)
        if result.returncode != 0 and check:
            raise UserError(
                f"{' '.join(argv)} failed: {result.stderr.strip() or result.returncode}",
                hint="with --user, a user manager must be running (loginctl enable-linger)",
            )


def _database_url(args: argparse.Namespace, service: str) -> str | None:
    if service == "daemon":
        return None
    return args.database_url or os.environ.get("DATABASE_URL") or None


def install(ctx: Ctx, args: argparse.Namespace) -> int:
    """Install a service's systemd unit (or launchd plist), rendered for this machine.

    The unit runs this installation's cloacina-<service> with --home (system
    default /var/lib/cloacina, --user default your home), --bind, and User/Group
    (--run-as, --group; system mode). The database URL (--database-url or
    DATABASE_URL) goes into an environment file of mode 0600, never into the
    unit. --start reloads the manager and enables + starts it (systemctl
    daemon-reload, enable --now; launchctl bootstrap). --dry-run prints the
    files and commands and changes nothing. Installing again changes nothing
    and says so.
    """
    from cloacinactl.supervisor.units import env_file_text, render

    lay = layout(args.platform, args.user, args.root)
    spec = _spec(ctx, args, lay, args.service)
    if args.start and args.root is not None:
        raise UserError("--start cannot be used with --root (a scratch root has no manager)")
    unit_path = lay.unit_path(args.service)
    files: list[tuple[Path, bytes, int, bool]] = [(unit_path, render(spec), 0o644, False)]
    url = _database_url(args, args.service)
    if url is not None and spec.env_file is not None:
        try:
            text = env_file_text({"DATABASE_URL": url})
        except ValueError as exc:
            raise UserError(str(exc)) from None
        files.append((spec.env_file, text.encode(), 0o600, True))
    changed = [(p, d, m, s) for p, d, m, s in files if not p.exists() or p.read_bytes() != d]
    if args.dry_run:
        for path, data, mode, secret in files:
            print(f"# {path} (mode {mode:04o})")
            shown = data.decode()
            if secret and url is not None:
                shown = shown.replace(url, "<database url>")
            print(shown, end="" if shown.endswith("\n") else "\n")
        _run(manager_commands(lay, spec, "start") if args.start else [], dry_run=True)
        print("dry run: nothing was changed")
        return 0
    if not changed:
        print(f"{spec.name}: unchanged (already installed at {unit_path})")
    else:
        _rights([p for p, *_ in changed], lay)
        for path, data, mode, _secret in changed:
            _write(path, data, mode)
            print(f"wrote {path} (mode {mode:04o})")
    if args.start:
        _run(manager_commands(lay, spec, "start"), dry_run=False)
    elif changed and args.root is None:
        hint = " ".join(manager_commands(lay, spec, "start")[-1])
        print(f"next: {hint}   (or re-run with --start)")
    return 0


def uninstall(ctx: Ctx, args: argparse.Namespace) -> int:
    """Stop, disable and remove a service installed by `service install`.

    Removes only the unit/plist and environment file that install wrote (a
    file without its mark is left alone and named). --dry-run changes nothing.
    """
    from cloacinactl.supervisor.units import installed_by_us

    lay = layout(args.platform, args.user, args.root)
    spec = _spec(ctx, args, lay, args.service)
    paths = [lay.unit_path(args.service), lay.env_path(args.service)]
    ours = [p for p in paths if p.exists() and installed_by_us(p.read_bytes())]
    foreign = [p for p in paths if p.exists() and p not in ours]
    for path in foreign:
        print(f"left alone: {path} (not written by cloacinactl service install)")
    if not ours:
        print(f"{spec.name}: not installed")
        return 0
    if args.root is None and lay.unit_path(args.service) in ours:
        _run(manager_commands(lay, spec, "stop"), dry_run=args.dry_run, check=False)
    if not args.dry_run:
        _rights(ours, lay)
    for path in ours:
        print(("would remove " if args.dry_run else "removed ") + str(path))
        if not args.dry_run:
            path.unlink()
    if not args.dry_run and lay.env_dir.exists() and not any(lay.env_dir.iterdir()):
        lay.env_dir.rmdir()
    if args.root is None and lay.platform == "systemd":
        _run(manager_commands(lay, spec, "reload"), dry_run=args.dry_run, check=False)
    return 0


def list_(ctx: Ctx, args: argparse.Namespace) -> int:
    """List the three services: installed where (system and --user), and active or not."""
    from cloacinactl.supervisor.units import installed_by_us

    rows = []
    for user_mode in (False, True):
        lay = layout(args.platform, user_mode, args.root)
        for service in SERVICES:
            path = lay.unit_path(service)
            if not path.exists():
                continue
            rows.append(
                {
                    "service": service,
                    "mode": "user" if user_mode else "system",
                    "path": str(path),
                    "ours": installed_by_us(path.read_bytes()),
                    "active": _active(lay, service) if args.root is None else None,
                }
            )
    ctx.render(rows, columns=("service", "mode", "path", "ours", "active"))
    return 0


def _active(lay: Layout, service: str) -> str | None:
    if lay.platform != "systemd" or shutil.which("systemctl") is None:
        return None
    argv = ["systemctl", *(["--user"] if lay.user_mode else []), "is-active"]
    result = subprocess.run(
        [*argv, f"cloacina-{service}.service"], capture_output=True, text=True, timeout=10
    )
    return result.stdout.strip() or None


def _common(p: argparse.ArgumentParser, *, with_service: bool = True) -> None:
    if with_service:
        p.add_argument("service", choices=SERVICES, help="daemon, server or compiler.")
    p.add_argument("--user", action="store_true", help="The user manager (no root needed).")
    p.add_argument(
        "--platform",
        choices=("systemd", "launchd"),
        default="launchd" if sys.platform == "darwin" else "systemd",
        help="Service manager (default: this machine's).",
    )
    p.add_argument("--root", type=Path, default=None, help="Write under this folder (a test root).")
    p.add_argument(
        "--dry-run", action="store_true", help="Print what would happen; change nothing."
    )


def register(noun: Noun) -> None:
    p = noun.verb("install", install)
    _common(p)
    p.add_argument("--start", action="store_true", help="Enable and start it now.")
    p.add_argument(
        "--bind", default=None, metavar="ADDR", help="Listen address (server, compiler)."
    )
    p.add_argument("--database-url", default=None, metavar="URL", help="Default $DATABASE_URL.")
    p.add_argument("--run-as", default="cloacina", metavar="USER", help="System mode: User=.")
    p.add_argument("--group", default=None, metavar="GROUP", help="System mode: Group=.")
    u = noun.verb("uninstall", uninstall)
    _common(u)
    u.set_defaults(bind=None, run_as=None, group=None)
    _common(noun.verb("list", list_), with_service=False)
