"""``cloacinactl tenant``: create, list and delete tenants on a server (admin key)."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from cloacinactl.cli.remote import act, add_force, api_path, show_list, show_object

if TYPE_CHECKING:
    from cloacinactl.cli.context import Ctx
    from cloacinactl.cli.framework import Noun


def create(ctx: Ctx, args: argparse.Namespace) -> None:
    """Create a tenant: its own PostgreSQL schema (or SQLite file) on the server.

    POST /v1/tenants. Names are 1-63 letters, digits and _, not starting with a
    digit. Needs an admin key. Its keys are made with key create --tenant NAME.
    """
    body: dict[str, str] = {"name": args.name}
    if args.description is not None:
        body["description"] = args.description
    with ctx.client() as client:
        created = client.post("/v1/tenants", json=body)
    show_object(ctx, created, id_field="name")


def list_cmd(ctx: Ctx, args: argparse.Namespace) -> None:
    """List the server's tenants (GET /v1/tenants; admin key)."""
    with ctx.client() as client:
        body = client.get("/v1/tenants")
    show_list(ctx, body, ("name", "description"), id_field="name")


def delete(ctx: Ctx, args: argparse.Namespace) -> None:
    """Delete a tenant: revoke its keys, stop its work and drop its data.

    DELETE /v1/tenants/NAME. Asks for confirmation on a terminal; without one
    it refuses unless --force. The public tenant cannot be deleted.
    """
    ctx.confirm(
        f"delete tenant '{args.name}' and all its workflows, executions and keys?",
        force=args.force,
    )

    def done(answer: Any) -> str:
        revoked = answer.get("revoked_keys") if isinstance(answer, dict) else None
        return f"tenant '{args.name}' deleted" + (f" ({revoked} key(s) revoked)" if revoked else "")

    path = api_path(ctx, "tenants", args.name, tenant=False)
    act(ctx, "DELETE", path, done, id_field="schema_name")


def register(noun: Noun) -> None:
    p = noun.verb("create", create)
    p.add_argument("name", metavar="NAME", help="Tenant name (letters, digits, _).")
    p.add_argument("--description", metavar="TEXT", help="A note for operators.")
    noun.verb("list", list_cmd)
    p = noun.verb("delete", delete)
    p.add_argument("name", metavar="NAME", help="The tenant to delete.")
    add_force(p, "delete the tenant")
