"""``cloacinactl secret``: a tenant's secrets (tenant admin key). Values go in, never out.

A field's value comes from a file (``K=@FILE``), stdin (``K=-``) or a hidden
prompt (``K`` alone); a literal ``K=value`` on the command line is refused,
since it would stay in the shell's history and be visible in ``ps``. Every
answer is metadata only: names, field names, times.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from cloacinactl.cli.remote import act, add_force, api_path, show_list, show_object
from cloacinactl.errors import UserError

if TYPE_CHECKING:
    from cloacinactl.cli.context import Ctx
    from cloacinactl.cli.framework import Noun

COLUMNS = ("name", "field_names", "created_at", "updated_at")
FIELD_HINT = "give K=@FILE (from a file), K=- (from stdin) or K alone (hidden prompt)"


def _strip_newline(text: str) -> str:
    """A value minus the one line ending an editor or ``echo`` adds."""
    if text.endswith("\r\n"):
        return text[:-2]
    return text[:-1] if text.endswith("\n") else text


def read_fields(
    specs: Sequence[str],
    *,
    stdin: TextIO,
    prompt: Callable[[str], str] | None,
) -> dict[str, str]:
    """The ``{field: value}`` map for ``--field`` specs; every mistake is exit 1,
    and no message ever contains a value. ``prompt`` is None without a terminal."""
    fields: dict[str, str] = {}
    used_stdin = False
    for spec in specs:
        key, eq, source = spec.partition("=")
        key = key.strip()
        if not key:
            raise UserError("--field needs a field name before '='", hint=FIELD_HINT)
        if key in fields:
            raise UserError(f"--field {key} is given twice")
        if not eq:
            if prompt is None:
                raise UserError(
                    f"--field {key}: no terminal to prompt for its value on",
                    hint="use K=@FILE or K=- when stdin is not a terminal",
                )
            fields[key] = prompt(f"value for {key}: ")
        elif source == "-":
            if used_stdin:
                raise UserError("only one --field can read its value from stdin (K=-)")
            used_stdin = True
            fields[key] = _strip_newline(stdin.read())
        elif source.startswith("@") and len(source) > 1:
            path = Path(source[1:]).expanduser()
            try:
                fields[key] = _strip_newline(path.read_text("utf-8"))
            except FileNotFoundError:
                raise UserError(f"--field {key}: no such file {path}") from None
            except (OSError, UnicodeDecodeError) as exc:
                raise UserError(f"--field {key}: cannot read {path}: {exc}") from None
        else:
            raise UserError(
                f"--field {key}: a literal value on the command line is refused "
                "(it would stay in shell history and show in ps)",
                hint=FIELD_HINT,
            )
    if not fields:
        raise UserError("give at least one --field", hint=FIELD_HINT)
    return fields


def _fields(args: argparse.Namespace) -> dict[str, str]:
    prompt = None
    if sys.stdin.isatty():
        import getpass

        prompt = getpass.getpass
    return read_fields(args.field, stdin=sys.stdin, prompt=prompt)


def create(ctx: Ctx, args: argparse.Namespace) -> None:
    """Create a secret with one or more fields: --field K=@FILE, K=- or K (prompt).

    The values are sealed on the server; no command ever shows them again. A
    workflow run binds it to a declared secret with {"param": {"$secret": "NAME"}}.
    """
    fields = _fields(args)
    with ctx.client() as client:
        created = client.post(
            client.tenant_path("secrets"), json={"name": args.name, "fields": fields}
        )
    show_object(ctx, created)


def rotate(ctx: Ctx, args: argparse.Namespace) -> None:
    """Replace all of a secret's fields (--field as for create); the next run sees them."""
    fields = _fields(args)
    with ctx.client() as client:
        rotated = client.put(client.tenant_path("secrets", args.name), json={"fields": fields})
    show_object(ctx, rotated)


def list_cmd(ctx: Ctx, args: argparse.Namespace) -> None:
    """List the tenant's secrets: names and field names only."""
    with ctx.client() as client:
        body = client.get(client.tenant_path("secrets"))
    show_list(ctx, body, COLUMNS, id_field="name")


def get(ctx: Ctx, args: argparse.Namespace) -> None:
    """Show a secret's metadata (field names and times; never the values)."""
    with ctx.client() as client:
        detail = client.get(client.tenant_path("secrets", args.name))
    show_object(ctx, detail)


def delete(ctx: Ctx, args: argparse.Namespace) -> None:
    """Delete a secret. Asks on a terminal; without one it refuses unless --force."""
    ctx.confirm(f"delete secret '{args.name}'?", force=args.force)
    path = api_path(ctx, "secrets", args.name)
    act(ctx, "DELETE", path, f"secret '{args.name}' deleted", id_field="name")


def _field_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--field",
        action="append",
        default=[],
        metavar="K=@FILE|K=-|K",
        help="A field and where its value comes from; repeatable.",
    )


def register(noun: Noun) -> None:
    for verb, func in (("create", create), ("rotate", rotate)):
        p = noun.verb(verb, func)
        p.add_argument("name", metavar="NAME", help="Secret name.")
        _field_flag(p)
    noun.verb("list", list_cmd)
    noun.verb("get", get).add_argument("name", metavar="NAME", help="Secret name.")
    p = noun.verb("delete", delete)
    p.add_argument("name", metavar="NAME", help="Secret name.")
    add_force(p, "delete the secret")
