"""The Cloacina home directory and every path it roots (design §4)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from cloacinactl.errors import UserError

DEFAULT_HOME = "~/.cloacina"
HOME_ENV = "CLOACINA_HOME"


@dataclass(frozen=True)
class Home:
    """Paths under ``--home`` (default ``$CLOACINA_HOME``, else ``~/.cloacina``).

    Nothing is created until asked.
    """

    root: Path

    @classmethod
    def resolve(
        cls, home: str | os.PathLike[str] | None, env: Mapping[str, str] | None = None
    ) -> Home:
        """``--home`` if given, else a non-empty ``CLOACINA_HOME``, else ``~/.cloacina``.

        ``env`` defaults to the process environment (read at call time, never at import).
        """
        if home is not None:
            raw = os.fspath(home)
        else:
            raw = (os.environ if env is None else env).get(HOME_ENV, "").strip() or DEFAULT_HOME
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
