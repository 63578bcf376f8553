"""The table of nouns: name → (module, one-line help). Modules load lazily."""

from __future__ import annotations

NOUNS: dict[str, tuple[str, str]] = {
    "daemon": ("cloacinactl.cli.daemon", "Run and manage the local scheduler daemon."),
    "server": ("cloacinactl.cli.server", "Run and manage the HTTP API server."),
    "compiler": ("cloacinactl.cli.compiler", "Run and manage the package build compiler."),
    "package": ("cloacinactl.cli.package", "Create, build, pack, sign and run packages."),
    "workflow": ("cloacinactl.cli.workflow", "List, inspect and run workflows on a server."),
    "execution": ("cloacinactl.cli.execution", "Inspect executions on a server."),
    "graph": ("cloacinactl.cli.graph", "Inspect computation graphs on a server."),
    "tenant": ("cloacinactl.cli.tenant", "Manage tenants (admin)."),
    "key": ("cloacinactl.cli.key", "Manage API keys."),
    "trigger": ("cloacinactl.cli.trigger", "Inspect, pause, resume and fire trigger schedules."),
    "secret": ("cloacinactl.cli.secret", "Manage a tenant's secrets (values never shown)."),
    "service": ("cloacinactl.cli.service", "Install the services under systemd or launchd."),
    "status": ("cloacinactl.cli.status", "Probe the daemon, server and compiler at once."),
    "config": ("cloacinactl.cli.config", "Read and edit ~/.cloacina/config.toml."),
    "admin": ("cloacinactl.cli.admin", "Administrative maintenance commands."),
    "completions": ("cloacinactl.cli.completions", "Print a shell-completion script."),
}
