"""The server half of ``cloacinactl package``: upload, publish, list, inspect, delete.

``package.py`` registers these verbs; they live here so the local half (new,
build, pack, sign, validate, run) stays a module of its own size.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cloacinactl.cli.remote import (
    act,
    api_path,
    filtered,
    list_sections,
    note,
    show_build_error,
    show_list,
    show_object,
)
from cloacinactl.errors import UserError

if TYPE_CHECKING:
    from cloacinactl.cli.context import Ctx
    from cloacinactl.cli.http import ApiClient

COLUMNS = ("id", "package_name", "version", "build_status", "created_at")


def package_name(row: dict[str, Any]) -> str:
    return str(row.get("package_name") or row.get("name") or "")


def send_archive(ctx: Ctx, client: ApiClient, archive: Path) -> Any:
    """POST ``archive`` (and its ``.sig`` side-car, when there is one) to the tenant's
    workflows; a progress bar on stderr when it is a terminal."""
    from cloacinactl.cli.multipart import FilePart
    from cloacinactl.packages.signing import signature_path

    if not archive.is_file():
        raise UserError(f"no such archive: {archive}", hint="package pack DIR makes one")
    parts = [FilePart("file", archive)]
    side_car = signature_path(archive)
    if side_car.is_file():
        parts.append(FilePart("signature", side_car, "application/json"))
    path = client.tenant_path("workflows")
    if not sys.stderr.isatty():
        return client.upload(path, parts)
    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, Progress, TransferSpeedColumn

    console = Console(stderr=True, no_color=ctx.no_color)
    columns = (
        "[progress.description]{task.description}",
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
    )
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task(f"uploading {archive.name}", total=sum(p.size for p in parts))
        return client.upload(path, parts, on_chunk=lambda n: progress.advance(task, n))


def upload(ctx: Ctx, args: argparse.Namespace) -> None:
    """Upload a .cloacina archive to the tenant (POST /v1/tenants/TENANT/workflows).

    ARCHIVE.sig, when present beside it, is sent too (a server started with
    --require-signatures refuses unsigned or untrusted packages). Prints the new
    package id (-o id: only that). Exit 1 on a missing file, 2 when the server
    is unreachable, 4 when the key is refused, 5 when the server rejects it.
    """
    with ctx.client(timeout=args.timeout) as client:
        answer = send_archive(ctx, client, Path(args.archive))
    show_object(ctx, answer, id_field="package_id")


def publish(ctx: Ctx, args: argparse.Namespace) -> None:
    """Build, pack and upload a package folder in one step.

    The same build as package build (validate, byte-compile, vendor, import
    check), the same archive as package pack, signed with --sign KEYFILE when
    given (the side-car is uploaded with it). The archive is temporary.
    """
    from cloacinactl.packages.build import build
    from cloacinactl.packages.pack import pack_dir

    folder = Path(args.dir)
    key = None
    if args.sign:
        from cloacinactl.packages.signing import load_private_key

        key = load_private_key(Path(args.sign))  # a bad key fails before the build
    target = ctx.target()  # no server/key: fail before the build, too
    build(folder, release=args.release, import_timeout=args.import_timeout)
    with tempfile.TemporaryDirectory(prefix="cloacina-publish-") as tmp:
        packed = pack_dir(folder, Path(tmp))
        if key is not None:
            from cloacinactl.packages.signing import sign_archive

            sign_archive(packed.path, key)
        from cloacinactl.cli.http import ApiClient

        with ApiClient(
            target.server, target.api_key, tenant=ctx.tenant, timeout=args.timeout
        ) as client:
            answer = send_archive(ctx, client, packed.path)
    if ctx.output == "table":
        note(f"published {packed.manifest.name} {packed.manifest.version} ({packed.size} bytes)")
    show_object(ctx, answer, id_field="package_id")


def list_cmd(ctx: Ctx, args: argparse.Namespace) -> None:
    """List the key's tenant's packages (GET /v1/packages); --filter keeps the names
    that contain it."""
    with ctx.client() as client:
        body = client.get(client.path("packages"))
    if args.filter:
        body = filtered(body, lambda row: args.filter in package_name(dict(row)))
    show_list(ctx, body, COLUMNS)


def inspect(ctx: Ctx, args: argparse.Namespace) -> None:
    """Show a package by id: version, build status and build error, its workflows."""
    with ctx.client() as client:
        detail = client.get(client.path("packages", args.id))
    show_object(ctx, detail, sections=list_sections(detail))
    show_build_error(ctx, detail)


def delete(ctx: Ctx, args: argparse.Namespace) -> None:
    """Delete a package by id, and its workflows and triggers, from the server.

    Asks on a terminal; without one it refuses unless --force.
    """
    ctx.confirm(f"delete package {args.id} from the server?", force=args.force)
    path = api_path(ctx, "packages", args.id, tenant=False)
    act(ctx, "DELETE", path, f"package {args.id} deleted", fallback={"id": args.id})
