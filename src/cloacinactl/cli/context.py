"""What every verb receives: the resolved global flags and lazy access to home/config."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

from cloacinactl.config.home import Home

if TYPE_CHECKING:
    pass


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
        )

    @cached_property
    def home(self) -> Home:
        return Home.resolve(self.home_flag)

    def setup_logging(self) -> None:
        """Configure CLI logging (stderr). Filled in by the logging module."""
