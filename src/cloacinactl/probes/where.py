"""Where each probe looks (reference: daemon socket; server flag/profile/recorded; compiler)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from cloacinactl.probes.local import pid_record
from cloacinactl.probes.status import Where

if TYPE_CHECKING:
    from cloacinactl.config.home import Home
    from cloacinactl.config.schema import Config

DEFAULT_SERVER = "127.0.0.1:8080"


def recorded_address(home: Home, service: str) -> str | None:
    """The address a local service recorded in its PID file when it started."""
    record = pid_record(home.pid_file(service))
    if record is None:
        return None
    address = record.meta.get("address")
    return address if isinstance(address, str) and address else None


def daemon_where(home: Home) -> Where:
    return Where("daemon", str(home.daemon_socket))


def server_where(
    home: Home, config: Config, server_flag: str | None, profile_flag: str | None
) -> Where:
    """``--server``, else the profile's URL, else the recorded address, else 127.0.0.1:8080."""
    if server_flag:
        return Where("server", server_flag)
    from cloacinactl.config.target import select_profile  # not needed by ``daemon status``

    profile = select_profile(config, profile_flag)
    if profile is not None and profile.server:
        return Where("server", profile.server)
    return Where("server", recorded_address(home, "server") or DEFAULT_SERVER)


def compiler_where(home: Home, config: Config) -> Where:
    """``[compiler] local_addr`` when set in config.toml, else the recorded address, else it.

    The schema default (127.0.0.1:9000) is used only when nothing was recorded.
    """
    configured = config.compiler.local_addr
    default = type(config.compiler)().local_addr
    if configured != default:
        return Where("compiler", configured)
    return Where("compiler", recorded_address(home, "compiler") or configured)
