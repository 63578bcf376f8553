"""The Cloacina home directory and every path it roots (design §4)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from cloacinactl.errors import UserError

DEFAULT_HOME = "~/.cloacina"


@dataclass(frozen=True)
class Home:
    """Paths under ``--home`` (default ``~/.cloacina``). Nothing is created until asked."""

    root: Path

    @classmethod
    def resolve(cls, home: str | os.PathLike[str] | None) -> Home:
        raw = os.fspath(home) if home is not None else DEFAULT_HOME
        return cls(Path(raw).expanduser().absolute())

    @property
    def config_file(self) -> Path:
        return self.root / "config.toml"

    @property
    def database(self) -> Path:
        return self.root / "cloacina.db"

    @property
    def database_url(self) -> str:
        return f"sqlite:///{self.database}"

    @property
    def bootstrap_key(self) -> Path:
        return self.root / "bootstrap-key"

    @property
    def daemon_socket(self) -> Path:
        return self.root / "daemon.sock"

    def pid_file(self, service: str) -> Path:
        """``daemon.pid``, ``server.pid`` or ``compiler.pid``."""
        return self.root / f"{service}.pid"

    @property
    def packages(self) -> Path:
        return self.root / "packages"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    def log_file(self, service: str) -> Path:
        """``cloacina.log`` for the daemon, ``cloacina-<service>.log`` otherwise."""
        name = "cloacina.log" if service == "daemon" else f"cloacina-{service}.log"
        return self.logs / name

    def ensure(self) -> Path:
        """Create the home folder (0700) if missing and return it."""
        try:
            self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:
            raise UserError(f"cannot create home directory {self.root}: {exc.strerror}") from exc
        return self.root

    def ensure_dir(self, path: Path) -> Path:
        """Create a folder under home (0700) if missing and return it."""
        self.ensure()
        try:
            path.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:
            raise UserError(f"cannot create directory {path}: {exc.strerror}") from exc
        return path
