"""``cloacinactl workflow``: list, inspect, run, pause and resume a tenant's workflows."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from cloacinactl.cli.remote import (
    act,
    api_path,
    filtered,
    list_sections,
    read_json_object,
    show_build_error,
    show_list,
    show_object,
)

if TYPE_CHECKING:
    from cloacinactl.cli.context import Ctx
    from cloacinactl.cli.framework import Noun

EXIT_INTERRUPTED = 130  # Ctrl-C during --wait: the outcome is unknown
COLUMNS = ("workflow_name", "package_name", "version", "tasks", "paused", "created_at")


def list_cmd(ctx: Ctx, args: argparse.Namespace) -> None:
    """List the tenant's workflows; --package keeps those whose package name contains it."""
    with ctx.client() as client:
        body = client.get(client.tenant_path("workflows"))
    if args.package:
        body = filtered(body, lambda row: args.package in str(row.get("package_name") or ""))
    show_list(ctx, body, COLUMNS, id_field="workflow_name")


def inspect(ctx: Ctx, args: argparse.Namespace) -> None:
    """Show a workflow (by name or package id): build status and error, its tasks and
    their dependencies, declared params and secrets, trigger rules and schedules."""
    with ctx.client() as client:
        detail = client.get(client.tenant_path("workflows", args.name))
    show_object(ctx, detail, id_field="workflow_name", sections=list_sections(detail))
    show_build_error(ctx, detail)


def run(ctx: Ctx, args: argparse.Namespace) -> int:
    """Start a workflow and print its execution id.

    --context takes a JSON file or - (stdin), default {}; it is parsed before
    anything is sent (a syntax error is exit 1 with its line and column).
    A declared secret param is bound with {"param": {"$secret": "NAME"}}.
    --wait follows its events to the end: exit 0 when it completed, 5 when it
    failed (130 after Ctrl-C: it goes on on the server). -o id prints only the
    execution id; -o json with --wait prints the finished execution.
    """
    context = read_json_object(args.context)
    with ctx.client() as client:
        started = client.post(
            client.tenant_path("workflows", args.name, "execute"), json={"context": context}
        )
    execution_id = str(started.get("execution_id"))
    if not args.wait:
        show_object(ctx, started, id_field="execution_id")
        return 0
    if ctx.output == "id":
        print(execution_id, flush=True)
    elif ctx.output == "table":
        print(f"execution {execution_id} started", flush=True)
    from cloacinactl.cli.execution import follow_execution

    code = follow_execution(
        ctx, execution_id, quiet=ctx.output != "table", interrupted=EXIT_INTERRUPTED
    )
    if ctx.output in ("json", "yaml"):
        with ctx.client() as client:
            ctx.render(client.get(client.tenant_path("executions", execution_id)))
    return code


def _pause(ctx: Ctx, name: str, verb: str) -> None:
    act(ctx, "POST", api_path(ctx, "workflows", name, verb), f"workflow '{name}' {verb}d")


def pause(ctx: Ctx, args: argparse.Namespace) -> None:
    """Pause a workflow: new executions (run, cron, triggers) are refused until resume."""
    _pause(ctx, args.name, "pause")


def resume(ctx: Ctx, args: argparse.Namespace) -> None:
    """Resume a paused workflow."""
    _pause(ctx, args.name, "resume")


def register(noun: Noun) -> None:
    p = noun.verb("list", list_cmd)
    p.add_argument("--package", metavar="FILTER", help="Substring of the package name.")
    p = noun.verb("inspect", inspect)
    p.add_argument("name", metavar="NAME", help="Workflow name or package id.")
    p = noun.verb("run", run)
    p.add_argument("name", metavar="NAME", help="The workflow to run.")
    p.add_argument("--context", metavar="FILE|-", help="Input context: a JSON file or - (stdin).")
    p.add_argument("--wait", action="store_true", help="Follow it to the end; exit by outcome.")
    for verb, func in (("pause", pause), ("resume", resume)):
        noun.verb(verb, func).add_argument("name", metavar="NAME", help="Workflow name.")
