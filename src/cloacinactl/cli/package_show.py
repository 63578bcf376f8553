"""How ``package build`` and ``package validate`` show a package: the summary, then
one row per task (dependencies, retry, trigger rule in one line) and per trigger."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cloacinactl.cli.context import Ctx


def _condition_text(cond: dict[str, Any]) -> str:
    if cond.get("kind") == "context_value":
        value = json.dumps(cond.get("value"))
        return f"{cond.get('key')} {cond.get('op')} {value}"
    return f"{cond.get('kind')}({cond.get('task')})"


def rule_text(rule: dict[str, Any] | None) -> str:
    """A one-line form of a trigger rule (``default`` when the task has none)."""
    if rule is None:
        return "default"
    kind = rule.get("kind", "always")
    conditions = [_condition_text(c) for c in rule.get("conditions", [])]
    if kind == "always" or not conditions:
        return "always"
    if len(conditions) == 1 and kind in ("all", "any"):
        return conditions[0]
    return f"{kind}_of({', '.join(conditions)})"


def task_rows(description: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per task: workflow, task, dependencies, retry, rule."""
    rows = []
    for wf in description.get("workflows", []):
        for task in wf.get("tasks", []):
            retry = task.get("retry") or {}
            rule = task.get("trigger_rule")
            rows.append(
                {
                    "workflow": wf.get("name"),
                    "task": task.get("id"),
                    "dependencies": task.get("dependencies") or [],
                    "retry": f"{retry.get('max_attempts', '?')}x {retry.get('backoff', '')}",
                    "rule": rule_text(rule),
                }
            )
    return rows


def trigger_rows(description: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per trigger: name, workflow, kind, schedule."""
    rows = []
    for trig in description.get("triggers", []):
        if trig.get("kind") == "cron":
            schedule = f"{trig.get('cron')} ({trig.get('timezone', 'UTC')})"
        else:
            schedule = f"every {int(trig.get('poll_interval_ms', 0)) / 1000:g}s"
        rows.append(
            {
                "trigger": trig.get("name"),
                "workflow": trig.get("workflow"),
                "kind": trig.get("kind"),
                "schedule": schedule,
            }
        )
    return rows


def show_package(ctx: Ctx, summary: dict[str, Any], description: dict[str, Any] | None) -> None:
    """Table: the summary object, then tasks and triggers; other formats: one document."""
    if ctx.output != "table":
        document = dict(summary)
        if description is not None:
            document["workflows"] = description.get("workflows", [])
            document["triggers"] = description.get("triggers", [])
        ctx.render(document)
        return
    ctx.render(summary)
    if description is None:
        return
    tasks = task_rows(description)
    print(f"\n{len(tasks)} task(s):")
    if tasks:
        ctx.render(tasks)
    triggers = trigger_rows(description)
    print(f"\n{len(triggers)} trigger(s):")
    if triggers:
        ctx.render(triggers)
