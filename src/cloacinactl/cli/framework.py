"""The small command framework behind ``cloacinactl``: strict noun-verb on argparse.

Every noun lives in its own module under ``cloacinactl.cli`` and exposes
``register(noun: Noun) -> None``. A verb is a function ``(ctx, args) -> int |
None`` whose docstring is its help text; heavy imports happen inside it.
Global flags are accepted before the noun and after the verb.
"""

from __future__ import annotations

import argparse
import functools
import os
import re
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple, NoReturn

from cloacinactl.errors import UsageError

if TYPE_CHECKING:
    from cloacinactl.cli.context import Ctx

VerbFunc = Callable[["Ctx", argparse.Namespace], "int | None"]

OUTPUT_FORMATS = ("table", "json", "yaml", "id")

# (flags, dest, takes a value, help); defaults are applied after parsing so a flag
# given before the noun is never overwritten by a sub-parser's default.
GLOBAL_FLAGS: tuple[tuple[tuple[str, ...], str, bool, str], ...] = (
    (("-v", "--verbose"), "verbose", False, "Enable debug-level logging on stderr."),
    (
        ("--home",),
        "home",
        True,
        "Cloacina home directory (default $CLOACINA_HOME, else ~/.cloacina).",
    ),
    (("--profile",), "profile", True, "Select a named profile from config.toml."),
    (("--server",), "server", True, "Override the profile's server URL."),
    (("--api-key",), "api_key", True, "Override the profile's API key (raw, env:, file:)."),
    (("--tenant",), "tenant", True, "Tenant name for tenant-scoped commands (default public)."),
    (("--json",), "json", False, "Shorthand for -o json."),
    (("-o", "--output"), "output", True, "Output format: table, json, yaml or id."),
    (("--no-color",), "no_color", False, "Disable ANSI colours in table output."),
)
GLOBAL_DEFAULTS: dict[str, Any] = {
    "verbose": False,
    "home": None,
    "profile": None,
    "server": None,
    "api_key": None,
    "tenant": None,  # Ctx.tenant falls back to public; None tells "not given"
    "json": False,
    "output": "table",
    "no_color": False,
}
VALUE_FLAGS = frozenset(f for flags, _, value, _ in GLOBAL_FLAGS if value for f in flags)
GLOBAL_DESTS = frozenset(dest for _, dest, _, _ in GLOBAL_FLAGS)


@functools.cache
def terminal_columns() -> int:
    """``shutil.get_terminal_size().columns``, read once, without importing shutil.

    argparse builds a formatter for every ``add_argument`` (to check metavars)
    and each one asked shutil for the terminal size: an import of shutil (with
    zlib, bz2, lzma) and a syscall per flag on every start-up.
    """
    try:
        columns = int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        columns = 0
    if columns <= 0:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns  # type: ignore[union-attr]
        except (AttributeError, ValueError, OSError):
            columns = 0
    return columns or 80


def memoize_argparse_gettext() -> None:
    """Make argparse's ``_()`` remember its answers.

    argparse translates the same few strings ("options", "show this help message
    and exit", ...) for every parser and argument it builds: 50-85 calls per
    command, and each gettext call searches the locale directories anew (a
    ``stat`` per language candidate). The locale cannot change within one run,
    so the answers are the same; only the repeated search goes.

    This is the only place we touch argparse's module-level ``_`` (a private
    name; there is no public hook for its translations). Measured with
    ``python -m benchmarks.cli.tricks`` (25 interleaved fresh processes, twice,
    2-core machine), it saves 2-3.6 ms of CPU in building the parser and
    parsing: ``config list`` 12.8 -> 9.2 ms, ``status`` 7.3 -> 4.9 ms,
    ``--help`` 8.0 -> 5.9 ms; 2-4 % of a whole command.
    ``tests/cli/test_library_internals.py`` fails if argparse stops looking
    ``_`` up as a module global or the memo changes a translation; without the
    attribute this does nothing.
    """
    translate = getattr(argparse, "_", None)
    if callable(translate) and not hasattr(translate, "cache_info"):
        argparse._ = functools.cache(translate)  # type: ignore[attr-defined]


class Formatter(argparse.RawDescriptionHelpFormatter):
    """Help whose usage line leaves out the global flags (listed in their own group)."""

    def __init__(
        self,
        prog: str,
        indent_increment: int = 2,
        max_help_position: int = 24,
        width: int | None = None,
    ) -> None:
        width = terminal_columns() - 2 if width is None else width
        super().__init__(prog, indent_increment, max_help_position, width)

    def add_usage(
        self,
        usage: str | None,
        actions: Any,
        groups: Any,
        prefix: str | None = None,
    ) -> None:
        own = [a for a in actions if a.dest not in GLOBAL_DESTS]
        super().add_usage(usage, own, groups, prefix)


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors exit 1 and suggest the closest word."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", Formatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        hint = None
        match = re.search(
            r"argument ([^:]*): invalid choice: '([^']*)' \(choose from (.*)\)", message
        )
        if match:
            word = match.group(2)
            choices = re.findall(r"'?([\w-]+)'?", match.group(3))
            import difflib

            close = difflib.get_close_matches(word, choices, n=1, cutoff=0.5)
            if not close:
                close = [c for c in choices if c.startswith(word[:2])][:1]
            if match.group(1) in ("<noun>", "<verb>"):
                message = f"unknown command '{word}'"
            else:
                message = f"invalid value '{word}' for {match.group(1)}"
            hint = f"did you mean '{close[0]}'?" if close else "choose from: " + ", ".join(choices)
        raise UsageError(message, usage=self.format_usage(), hint=hint)


def add_global_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("global flags")
    for flags, dest, takes_value, help_text in GLOBAL_FLAGS:
        if dest == "output":
            group.add_argument(
                *flags,
                dest=dest,
                choices=OUTPUT_FORMATS,
                default=argparse.SUPPRESS,
                help=help_text,
            )
        elif takes_value:
            group.add_argument(
                *flags,
                dest=dest,
                metavar=dest.upper().replace("_", "-"),
                default=argparse.SUPPRESS,
                help=help_text,
            )
        else:
            group.add_argument(
                *flags,
                dest=dest,
                action="store_true",
                default=argparse.SUPPRESS,
                help=help_text,
            )


def cleandoc(doc: str | None) -> str:
    """``inspect.cleandoc`` without importing inspect (start-up cost)."""
    lines = (doc or "").expandtabs().splitlines()
    if not lines:
        return ""
    indents = [len(line) - len(line.lstrip()) for line in lines[1:] if line.strip()]
    margin = min(indents, default=0)
    body = [lines[0].strip()] + [line[margin:].rstrip() for line in lines[1:]]
    return "\n".join(body).strip("\n")


def _doc(func: Callable[..., Any]) -> tuple[str, str]:
    doc = cleandoc(func.__doc__)
    summary = doc.split("\n\n", 1)[0].replace("\n", " ").strip()
    return summary, doc


class Noun:
    """A noun (or nested group) to which verbs are attached."""

    def __init__(self, parser: argparse.ArgumentParser, path: Sequence[str]) -> None:
        self.parser = parser
        self.path = tuple(path)
        self._subs: argparse._SubParsersAction[Parser] | None = None

    def _subparsers(self) -> argparse._SubParsersAction[Parser]:
        if self._subs is None:
            self._subs = self.parser.add_subparsers(
                dest="_verb_" + "_".join(self.path), metavar="<verb>", parser_class=Parser
            )
            self._subs.required = True
        return self._subs

    def verb(self, name: str, func: VerbFunc) -> argparse.ArgumentParser:
        """Add ``name`` running ``func``; returns the parser to add arguments to."""
        summary, doc = _doc(func)
        parser = self._subparsers().add_parser(name, help=summary, description=doc)
        add_global_flags(parser)
        parser.set_defaults(_func=func)
        return parser

    def group(self, name: str, help_text: str) -> Noun:
        """Add a nested group of verbs (``config profile set``)."""
        parser = self._subparsers().add_parser(name, help=help_text, description=help_text)
        add_global_flags(parser)
        return Noun(parser, (*self.path, name))

    def run(self, func: VerbFunc) -> argparse.ArgumentParser:
        """Make this noun a singleton that runs ``func`` itself (``status``)."""
        _summary, doc = _doc(func)
        self.parser.description = doc
        self.parser.set_defaults(_func=func)
        return self.parser


def usage_exit(message: str) -> NoReturn:
    raise UsageError(message)


def eprint(*parts: object) -> None:
    print(*parts, file=sys.stderr)


class Option(NamedTuple):
    """One flag of a command, as shells need it for completion."""

    names: tuple[str, ...]
    takes_value: bool
    choices: tuple[str, ...] = ()
    help: str = ""


class Command:
    """A node of the parser tree: a noun, group or verb, with its flags and words."""

    def __init__(self, path: tuple[str, ...], help_text: str, options: list[Option]) -> None:
        self.path = path
        self.help = help_text
        self.options = options
        self.children: dict[str, Command] = {}
        self.choices: tuple[str, ...] = ()  # positional choices (the shells of `completions`)

    def walk(self) -> list[Command]:
        """This command and all below it, depth first."""
        out = [self]
        for child in self.children.values():
            out += child.walk()
        return out


def _options(parser: argparse.ArgumentParser, skip_global: bool) -> list[Option]:
    out = []
    for action in parser._actions:
        if not action.option_strings or action.help == argparse.SUPPRESS:
            continue
        if skip_global and action.dest in GLOBAL_DESTS:
            continue
        choices = tuple(str(c) for c in action.choices) if action.choices else ()
        names = tuple(action.option_strings)
        out.append(Option(names, action.nargs != 0, choices, action.help or ""))
    return out


def command_tree(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = (), help_text: str = ""
) -> Command:
    """Walk an argparse tree into :class:`Command` nodes (global flags kept at the root)."""
    node = Command(path, help_text, _options(parser, skip_global=bool(path)))
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {a.dest: a.help or "" for a in action._choices_actions}
            for name, sub in action.choices.items():
                node.children[name] = command_tree(sub, (*path, name), helps.get(name, ""))
        elif not action.option_strings and action.choices and action.help != argparse.SUPPRESS:
            node.choices += tuple(str(c) for c in action.choices)
    return node
