"""``cloacinactl``: the root command; its errors become exit codes in ``errors.run_main``."""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Sequence
from types import ModuleType
from typing import TYPE_CHECKING

from cloacinactl import __version__
from cloacinactl.cli.framework import (
    GLOBAL_DEFAULTS,
    VALUE_FLAGS,
    Noun,
    Parser,
    VerbFunc,
    add_global_flags,
    memoize_argparse_gettext,
)
from cloacinactl.cli.nouns import NOUNS
from cloacinactl.errors import UsageError, UserError, run_main
from cloacinactl.procexit import exit_now

if TYPE_CHECKING:
    from cloacinactl.cli.context import Ctx

PROG = "cloacinactl"


def find_noun(argv: Sequence[str]) -> str | None:
    """The first positional word, skipping global flags and their values."""
    skip = False
    for token in argv:
        if skip:
            skip = False
            continue
        if token == "--":
            return None
        if token.startswith("-"):
            if token in VALUE_FLAGS:
                skip = True
            continue
        return token
    return None


def module_exists(module: str) -> bool:
    """Whether a noun's module is part of this build (found without importing it)."""
    import importlib.util

    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def load_noun(module: str) -> ModuleType | None:
    """A noun's module, or None when this build has no such module.

    An import error from inside an existing module still raises.
    """
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name == module:
            return None
        raise


def unavailable(name: str) -> VerbFunc:
    """The verb of a noun whose module is missing from this build: exit 1 saying so."""

    def run(ctx: Ctx, args: argparse.Namespace) -> int:
        raise UserError(f"'{name}' is not available in this build")

    return run


def build_parser(load: Sequence[str] | None = None) -> Parser:
    """The root parser; only the nouns in ``load`` (default all) get their verbs.

    A noun whose module does not exist (yet) still shows in ``--help``; running
    it exits 1 with "not available in this build". Only the loaded nouns get
    the global flags too: the others are never parsed (start-up cost).
    """
    memoize_argparse_gettext()
    root = Parser(
        prog=PROG,
        description="cloacinactl: manage Cloacina services, packages and servers.",
        usage=f"{PROG} [GLOBAL FLAGS] <noun> <verb> [ARGS]",
    )
    root.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    add_global_flags(root)
    subs = root.add_subparsers(dest="_noun", metavar="<noun>", parser_class=Parser, prog=PROG)
    subs.required = True
    wanted = set(NOUNS) if load is None else set(load)
    for name, (module, help_text) in NOUNS.items():
        parser = subs.add_parser(name, help=help_text, description=help_text)
        if name not in wanted:
            continue
        add_global_flags(parser)
        noun_module = load_noun(module)
        if noun_module is not None:
            noun_module.register(Noun(parser, (name,)))
        else:
            parser.add_argument("rest", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
            parser.set_defaults(_func=unavailable(name))
    return root


def parse(argv: Sequence[str]) -> argparse.Namespace:
    noun = find_noun(argv)
    parser = build_parser([noun] if noun in NOUNS else [])
    args = parser.parse_args(argv)
    for key, value in GLOBAL_DEFAULTS.items():
        if not hasattr(args, key):
            setattr(args, key, value)
    if args.json:
        args.output = "json"
    return args


def run(argv: Sequence[str]) -> int:
    args = parse(argv)  # --help exits here, before anything else is imported
    from cloacinactl.cli.context import Ctx

    ctx = Ctx.from_args(args)
    ctx.setup_logging()
    func = getattr(args, "_func", None)
    if func is None:  # a group without a verb: argparse already required one
        raise UsageError("missing command", usage=f"{PROG} {args._noun} <verb>")
    result = func(ctx, args)
    return int(result or 0)


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``cloacinactl`` with ``argv`` (default ``sys.argv[1:]``); the exit status."""
    return run_main(run, argv)


def entry() -> None:
    exit_now(main())


if __name__ == "__main__":
    entry()
