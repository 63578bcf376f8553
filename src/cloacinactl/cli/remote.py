"""What the server commands share: list answers, ``-o`` views of server objects, JSON input.

json and yaml always show the server's answer unchanged (one document per
response); table and id show the rows a command picks out of it.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cloacinactl.errors import UserError

if TYPE_CHECKING:
    from cloacinactl.cli.context import Ctx


def items_of(body: Any) -> list[dict[str, Any]]:
    """The rows of a list answer: ``{"items": [...]}``, or a bare JSON array."""
    rows = body.get("items") if isinstance(body, dict) else body
    if not isinstance(rows, list):
        return []
    return [row for row in rows if isinstance(row, dict)]


def _word(value: Any) -> Any:
    # yes/no, not true/false: the table colours "false" red, which reads as an error
    return ("yes" if value else "no") if isinstance(value, bool) else value


def pick(rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> list[dict[str, Any]]:
    """Table rows: only ``columns``, in order, booleans as yes/no."""
    return [{c: _word(row.get(c)) for c in columns} for row in rows]


def ids_text(rows: Sequence[Mapping[str, Any]], field: str) -> str:
    """One ``field`` value per line (falling back to ``id`` then ``name``)."""
    out = []
    for row in rows:
        for name in (field, "id", "name"):
            if row.get(name) is not None:
                out.append(str(row[name]))
                break
        else:
            raise UserError(f"cannot print -o id: an object has no {field} field")
    return "".join(f"{line}\n" for line in out)


def show_list(
    ctx: Ctx,
    document: Any,
    columns: Sequence[str],
    *,
    id_field: str = "id",
    rows: Sequence[Mapping[str, Any]] | None = None,
) -> None:
    """A list answer: json/yaml the document, table ``columns`` of its rows, id one per line."""
    shown = items_of(document) if rows is None else list(rows)
    if ctx.output in ("json", "yaml"):
        ctx.render(document)
    elif ctx.output == "id":
        sys.stdout.write(ids_text(shown, id_field))
        sys.stdout.flush()
    else:
        ctx.render(pick(shown, columns), columns=columns)


def show_object(
    ctx: Ctx,
    document: Mapping[str, Any],
    *,
    id_field: str = "id",
    sections: Mapping[str, tuple[str, Sequence[str] | None]] | None = None,
) -> None:
    """One object: json/yaml as is; id its ``id_field``; table its scalar fields as
    key/value lines, then each list field named in ``sections`` (field → (title,
    columns, None = the first row's keys)) as its own table."""
    if ctx.output in ("json", "yaml"):
        ctx.render(dict(document))
        return
    if ctx.output == "id":
        sys.stdout.write(ids_text([document], id_field))
        sys.stdout.flush()
        return
    sections = sections or {}
    ctx.render({k: _word(v) for k, v in document.items() if k not in sections})
    for field, (title, columns) in sections.items():
        rows = [r for r in document.get(field) or [] if isinstance(r, dict)]
        print(f"\n{title} ({len(rows)}):")
        if rows:
            cols = list(columns) if columns else list(rows[0])
            ctx.render(pick(rows, cols), columns=cols)
    sys.stdout.flush()


def show_build_error(ctx: Ctx, document: Mapping[str, Any]) -> None:
    """Table view of a package or workflow: a failed build's whole ``build_error`` (the
    key/value table cuts long values to the terminal's width), indented, at the end."""
    error = document.get("build_error")
    if ctx.output != "table" or not error:
        return
    body = "\n".join("  " + line for line in str(error).splitlines())
    print(f"\nbuild error:\n{body}", flush=True)


def list_sections(document: Mapping[str, Any]) -> dict[str, tuple[str, None]]:
    """Every field of ``document`` holding a list of objects, as a ``show_object`` section."""
    return {
        field: (field.replace("_", " "), None)
        for field, value in document.items()
        if isinstance(value, list) and value and all(isinstance(v, dict) for v in value)
    }


def filtered(document: Any, keep: Callable[[Mapping[str, Any]], bool]) -> Any:
    """A list answer with only the rows ``keep`` accepts (``total`` counting those)."""
    rows = [row for row in items_of(document) if keep(row)]
    if isinstance(document, dict):
        return {**document, "items": rows, "total": len(rows)}
    return rows


def read_json_object(source: str | None, flag: str = "--context") -> dict[str, Any]:
    """A JSON object from a file or ``-`` (stdin); ``None`` → ``{}``.

    Any problem is a UserError (exit 1) before anything is sent; a syntax error
    names its line and column.
    """
    if source is None:
        return {}
    where = "stdin" if source == "-" else source
    try:
        text = sys.stdin.read() if source == "-" else Path(source).read_text("utf-8")
    except FileNotFoundError:
        raise UserError(f"{flag} {source}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"{flag} {source}: cannot read it: {exc}") from None
    if not text.strip():
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UserError(
            f"{flag} {where}: invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}",
            hint="fix the file; nothing was sent to the server",
        ) from None
    if not isinstance(value, dict):
        raise UserError(f"{flag} {where}: the context must be a JSON object, not {_kind(value)}")
    return value


def _kind(value: Any) -> str:
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if value is None:
        return "null"
    return "a " + type(value).__name__.replace("bool", "boolean").replace("int", "number")


def check_since(text: str) -> str:
    """``--since``: an RFC 3339 time, or a duration in the d/h/m/s grammar of
    ``admin cleanup-events`` (exit 1 if neither)."""
    import datetime as dt

    try:
        dt.datetime.fromisoformat(text.strip())
        return text.strip()
    except ValueError:
        pass
    from cloacinactl.engine.cleanup import parse_duration

    parse_duration(text)
    return text.strip().lower()


def add_force(parser: argparse.ArgumentParser, action: str) -> None:
    """``--force``: do ``action`` (e.g. "delete the tenant") without asking."""
    parser.add_argument(
        "--force",
        action="store_true",
        help=f"{action[:1].upper()}{action[1:]} without asking (needed without a terminal).",
    )


def note(text: str) -> None:
    """A human remark on stderr (stdout stays clean for pipes)."""
    print(text, file=sys.stderr)


def api_path(ctx: Ctx, *parts: str, tenant: bool = True) -> str:
    """``/v1/tenants/<--tenant>/<parts>`` (or ``/v1/<parts>`` with ``tenant=False``)."""
    from cloacinactl.cli.http import ApiClient

    return ApiClient.path(*(("tenants", ctx.tenant) if tenant else ()), *parts)


def act(
    ctx: Ctx,
    method: str,
    path: str,
    done: str | Callable[[Any], str],
    *,
    fallback: Mapping[str, Any] | None = None,
    id_field: str = "id",
) -> None:
    """Send a change (pause, resume, delete, revoke): in table form a note on stderr
    saying what was ``done``; else the server's answer (``fallback`` when empty)."""
    with ctx.client() as client:
        answer = client.call(method, path)
    if ctx.output == "table":
        note(done if isinstance(done, str) else done(answer))
        return
    show_object(ctx, answer or dict(fallback or {}), id_field=id_field)
