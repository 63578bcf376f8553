"""systemd units and launchd plists for the three services, rendered from the templates.

The templates ship inside the package (``supervisor/units/``; the repository's
top-level ``systemd/`` and ``launchd/`` point at them). Rendering is pure: it
fills in the real entry point, ``--home``, ``--bind``, the user and group and
the environment file, and marks the result as installed by us, so uninstall
removes only files it wrote. Secrets (the database URL) go to the environment
file, never into the unit or plist.
"""

from __future__ import annotations

import plistlib
import shlex
from dataclasses import dataclass
from pathlib import Path

SERVICES = ("daemon", "server", "compiler")
TEMPLATES = Path(__file__).parent / "units"
MARKER = "Installed by cloacinactl service install"
SYSTEM_HOME = "/var/lib/cloacina"


@dataclass(frozen=True)
class UnitSpec:
    """What one installed service looks like (all paths absolute)."""

    service: str
    platform: str  # "systemd" or "launchd"
    user_mode: bool
    binary: Path
    home: Path
    env_file: Path | None
    bind: str | None = None
    run_as: str | None = None  # system mode: User= / UserName
    group: str | None = None

    @property
    def name(self) -> str:
        if self.platform == "launchd":
            return f"io.cloacina.{self.service}"
        return f"cloacina-{self.service}.service"


def template_path(service: str, platform: str, user_mode: bool) -> Path:
    if platform == "launchd":
        return TEMPLATES / "launchd" / f"io.cloacina.{service}.plist"
    variant = "user" if user_mode else "system"
    return TEMPLATES / "systemd" / variant / f"cloacina-{service}.service"


def _argv(spec: UnitSpec, template_args: list[str]) -> list[str]:
    """The template's arguments with --home and --bind filled in."""
    args = list(template_args)
    for flag, value in (("--home", str(spec.home)), ("--bind", spec.bind)):
        if value is None:
            continue
        if flag in args:
            args[args.index(flag) + 1] = value
        else:
            args += [flag, value]
    if "--home" not in args:
        args += ["--home", str(spec.home)]
    return [str(spec.binary), *args]


def render_systemd(spec: UnitSpec, template: str) -> str:
    """The unit text: the template with the values of ``spec`` filled in."""
    out: list[str] = []
    for line in template.splitlines():
        key, sep, value = line.partition("=")
        if line.startswith("# cloacina-") and not out:
            line = f"# {spec.name} — {MARKER}; re-run it to change this file."
        elif sep and key == "ExecStart":
            line = "ExecStart=" + shlex.join(_argv(spec, shlex.split(value)[1:]))
        elif sep and key == "EnvironmentFile" and spec.env_file is not None:
            line = f"EnvironmentFile=-{spec.env_file}"
        elif sep and key == "User" and spec.run_as:
            line = f"User={spec.run_as}"
        elif sep and key == "Group" and (spec.group or spec.run_as):
            line = f"Group={spec.group or spec.run_as}"
        elif sep and key == "ProtectHome" and _under_home(spec.binary):
            line = "ProtectHome=read-only"  # the interpreter lives in a home folder
        elif sep and key == "StateDirectoryMode" and str(spec.home) != SYSTEM_HOME:
            out.append(line)
            line = f"ReadWritePaths={spec.home}"  # ProtectSystem=strict: let it write its home
        out.append(line)
    return "\n".join(out) + "\n"


def _under_home(path: Path) -> bool:
    return path.parts[1:2] in (("home",), ("root",), ("Users",))


def render_launchd(spec: UnitSpec, template: bytes) -> bytes:
    """The plist: the template with the values of ``spec`` filled in.

    launchd has no environment files: when there is one, the program is a
    ``/bin/sh`` that sources it and ``exec``s the service (same PID, so
    KeepAlive still watches the service), keeping the URL out of the plist.
    """
    plist = plistlib.loads(template)
    argv = _argv(spec, list(plist["ProgramArguments"][1:]))
    if spec.env_file is not None:
        script = f"set -a; [ -f {shlex.quote(str(spec.env_file))} ] && "
        script += f". {shlex.quote(str(spec.env_file))}; set +a; exec {shlex.join(argv)}"
        argv = ["/bin/sh", "-c", script]
    plist["ProgramArguments"] = argv
    env = dict(plist.get("EnvironmentVariables") or {})
    env.pop("DATABASE_URL", None)
    env["CLOACINA_INSTALLED_BY"] = MARKER
    plist["EnvironmentVariables"] = env
    logs = spec.home / "logs"
    plist["StandardOutPath"] = str(logs / f"{spec.service}.out.log")
    plist["StandardErrorPath"] = str(logs / f"{spec.service}.err.log")
    if not spec.user_mode and spec.run_as:
        plist["UserName"] = spec.run_as
        if spec.group:
            plist["GroupName"] = spec.group
    return plistlib.dumps(plist)


def render(spec: UnitSpec) -> bytes:
    path = template_path(spec.service, spec.platform, spec.user_mode)
    if spec.platform == "launchd":
        return render_launchd(spec, path.read_bytes())
    return render_systemd(spec, path.read_text()).encode()


def installed_by_us(content: bytes) -> bool:
    """Whether a unit/plist on disk was written by ``service install``."""
    return MARKER.encode() in content


def env_file_text(values: dict[str, str]) -> str:
    """An environment file both systemd and ``sh`` read the same way (single quotes)."""
    lines = [f"# {MARKER}; mode 0600 (it may hold a database password)."]
    for key, value in sorted(values.items()):
        if "'" in value or "\n" in value:
            raise ValueError(f"{key} cannot hold a quote or a newline in an environment file")
        lines.append(f"{key}='{value}'")
    return "\n".join(lines) + "\n"
