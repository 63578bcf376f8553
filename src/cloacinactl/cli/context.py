"""What every verb receives: the resolved global flags and lazy access to the rest.

``ctx.home`` (paths), ``ctx.config`` (validated config.toml, loaded on first use),
``ctx.target()`` (server URL + decoded API key by precedence), ``ctx.client()``
(the HTTP client for server commands), ``ctx.render(data)`` (the ``-o`` renderer).
Nothing heavy is imported until a verb asks for it.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

from cloacinactl.config.home import Home
from cloacinactl.errors import UserError

if TYPE_CHECKING:
    from cloacinactl.cli.http import ApiClient
    from cloacinactl.config.schema import Config
    from cloacinactl.config.target import Target


@dataclass
class Ctx:
    verbose: bool
    home_flag: str | None
    profile: str | None
    server: str | None
    api_key: str | None
    tenant: str
    output: str
    no_color: bool
    tenant_flag: str | None = None  # --tenant as given (None: not given)

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> Ctx:
        return cls(
            verbose=bool(args.verbose),
            home_flag=args.home,
            profile=args.profile,
            server=args.server,
            api_key=args.api_key,
            tenant=args.tenant or "public",
            output=args.output,
            no_color=bool(args.no_color),
            tenant_flag=args.tenant,
        )

    @cached_property
    def home(self) -> Home:
        return Home.resolve(self.home_flag)

    @cached_property
    def config(self) -> Config:
        """The validated ``<home>/config.toml`` (defaults when missing)."""
        from cloacinactl.config.loader import load_config

        return load_config(self.home)

    def target(self) -> Target:
        """Server URL and API key: flags, then --profile, then default_profile, else exit 1."""
        from cloacinactl.config.target import resolve_target

        return resolve_target(
            self.config, server=self.server, api_key=self.api_key, profile=self.profile
        )

    def client(self, *, timeout: float | None = None) -> ApiClient:
        """An authenticated HTTP client for the resolved target and ``--tenant``."""
        from cloacinactl.cli.http import DEFAULT_TIMEOUT, ApiClient

        target = self.target()
        return ApiClient(
            target.server,
            target.api_key,
            tenant=self.tenant,
            timeout=DEFAULT_TIMEOUT if timeout is None else timeout,
        )

    def render(self, data: Any, *, columns: Sequence[str] | None = None) -> None:
        """Print ``data`` to stdout in the ``-o`` format (table, json, yaml, id)."""
        from cloacinactl.cli.output import emit

        emit(data, self.output, sys.stdout, no_color=self.no_color, columns=columns)

    def confirm(self, question: str, *, force: bool = False) -> None:
        """Ask ``question [y/N]`` on the terminal; ``force`` skips it.

        Refuses (exit 1) when declined, or when stdin is not a terminal and
        ``force`` is not set, so scripts never hang on a hidden prompt.
        """
        if force:
            return
        if not sys.stdin.isatty():
            raise UserError(f"{question} — refusing without --force (stdin is not a terminal)")
        try:
            answer = input(f"{question} [y/N] ")
        except EOFError:
            answer = ""
        if answer.strip().lower() not in ("y", "yes"):
            raise UserError("aborted")

    def setup_logging(self) -> None:
        """stderr logging: ``-v`` = debug; else RUST_LOG; else warnings only.

        Covers both the CLI's own ``logging`` records and loguru, which the
        engine, worker pool and supervisor log through when a verb runs them
        in-process. loguru is not imported here (80 ms): it is configured the
        moment something first imports it (see ``configure_loguru_on_import``).
        """
        spec = os.environ.get("RUST_LOG", "")
        if self.verbose or spec.strip():
            from cloacinactl.cli.logging import setup_cli_logging

            setup_cli_logging(verbose=self.verbose, rust_log=spec)
        # Otherwise the default (warnings to stderr) needs no set-up, and no import.
        configure_loguru_on_import(verbose=self.verbose, rust_log=spec)


def configure_loguru_on_import(*, verbose: bool, rust_log: str | None) -> None:
    """Give loguru the CLI's stderr filter, now if it is loaded, else on first import.

    loguru's own default handler prints DEBUG and up; verbs that start the
    worker pool or a Runner would flood stderr. A one-shot import hook keeps
    ``--help`` and light verbs from importing loguru just to configure it.
    """
    if "loguru" in sys.modules:
        _configure_loguru(verbose, rust_log)
        return
    if not any(isinstance(finder, _LoguruHook) for finder in sys.meta_path):
        sys.meta_path.insert(0, _LoguruHook(verbose, rust_log))


def _configure_loguru(verbose: bool, rust_log: str | None) -> None:
    from cloacinactl.cli.logging import setup_loguru

    setup_loguru(verbose=verbose, rust_log=rust_log)


class _LoguruHook:
    """A meta-path finder that configures loguru right after its first import.

    It finds loguru through the other finders and wraps its loader, so the
    import itself is unchanged; then it removes itself.
    """

    def __init__(self, verbose: bool, rust_log: str | None) -> None:
        self.verbose = verbose
        self.rust_log = rust_log

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> Any:
        if name != "loguru":
            return None
        with contextlib.suppress(ValueError):
            sys.meta_path.remove(self)
        for finder in sys.meta_path:
            find = getattr(finder, "find_spec", None)
            spec = find(name, path, target) if find is not None else None
            if spec is not None:
                break
        else:
            return None
        if spec.loader is not None and hasattr(spec.loader, "exec_module"):
            spec.loader = _ThenConfigure(spec.loader, self)
        return spec


class _ThenConfigure:
    """Wraps loguru's loader: execute the module, then apply the CLI filter."""

    def __init__(self, loader: Any, hook: _LoguruHook) -> None:
        self._loader = loader
        self._hook = hook

    def create_module(self, spec: Any) -> Any:
        return self._loader.create_module(spec)

    def exec_module(self, module: Any) -> None:
        self._loader.exec_module(module)
        _configure_loguru(self._hook.verbose, self._hook.rust_log)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._loader, name)
