"""``cloacinactl key``: create, list and revoke API keys.

Without --tenant the global keys (/v1/auth/keys, admin key needed); with
--tenant NAME that tenant's keys (/v1/tenants/NAME/keys, a tenant admin key).
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from cloacinactl.cli.remote import act, add_force, api_path, note, show_list, show_object

if TYPE_CHECKING:
    from cloacinactl.cli.context import Ctx
    from cloacinactl.cli.framework import Noun

ROLES = ("admin", "write", "read")
COLUMNS = ("id", "name", "permissions", "tenant_id", "is_admin", "created_at", "revoked")


def _keys_path(ctx: Ctx, *parts: str) -> str:
    if ctx.tenant_flag is not None:
        return api_path(ctx, "keys", *parts)
    return api_path(ctx, "auth", "keys", *parts, tenant=False)


def create(ctx: Ctx, args: argparse.Namespace) -> None:
    """Create an API key; its plaintext is printed once, now, and never again.

    Roles: read (list and get), write (+ upload, delete, run), admin (+ that
    tenant's keys); default read. -o id prints only the key, for pipes:
    cloacinactl key create ci -o id > ci.key
    """
    with ctx.client() as client:
        created = client.post(_keys_path(ctx), json={"name": args.name, "role": args.role})
    if ctx.output == "id":
        sys.stdout.write(f"{created['key']}\n")
    else:
        show_object(ctx, created)
    note("warning: this is the only time the key is shown; store it now (it cannot be retrieved)")


def list_cmd(ctx: Ctx, args: argparse.Namespace) -> None:
    """List API keys: metadata only (no hashes, no plaintext)."""
    with ctx.client() as client:
        body = client.get(_keys_path(ctx))
    show_list(ctx, body, COLUMNS)


def revoke(ctx: Ctx, args: argparse.Namespace) -> None:
    """Revoke a key by id; it stops working at once.

    Asks for confirmation on a terminal; without one it refuses unless --force.
    """
    ctx.confirm(f"revoke API key {args.id}?", force=args.force)
    path = _keys_path(ctx, args.id)
    act(ctx, "DELETE", path, f"key {args.id} revoked", fallback={"id": args.id})


def register(noun: Noun) -> None:
    p = noun.verb("create", create)
    p.add_argument("name", metavar="NAME", help="A name to recognise the key by.")
    p.add_argument("--role", choices=ROLES, default="read", help="Role (default read).")
    noun.verb("list", list_cmd)
    p = noun.verb("revoke", revoke)
    p.add_argument("id", metavar="ID", help="The key's id (from key list).")
    add_force(p, "revoke the key")
