"""The daemon's ``ScheduleRegistry``: schedule rows in the store + the live schedulers.

``register`` validates every trigger of a package (cron expression and time
zone, poll interval) before touching anything, writes the package's schedule
rows (stable ids per workflow + trigger name, so cron cursors and fired slots
survive a restart), then hands the cron schedules to the ``CronScheduler`` and
the poll triggers to the ``PollScheduler``. ``unregister`` removes them from
both schedulers and retires the package's rows (schedules deleted, workflows
deactivated). ``known_packages`` names every package that still owns rows, so
the reconciler can clean up after packages removed while the daemon was down.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import trio

from cloacinactl.engine.schedules import (
    CronSchedule,
    CronScheduler,
    PollScheduler,
    PollTrigger,
    parse_cron,
)
from cloacinactl.errors import UserError
from cloacinactl.packages import LoadedPackage
from cloacinactl.services.daemon.rows import package_names_in_use, retire_package
from cloacinactl.store import Store
from cloacinactl.store.packages import find_package
from cloacinactl.store.schedules import ScheduleSpec, replace_package_schedules
from cloacinactl.workflow.model import TriggerDef, TriggerKind


@dataclass(frozen=True)
class PollTarget:
    """What the worker needs to poll one trigger: the package source and trigger name."""

    package: str
    source: dict[str, Any]
    trigger: str
    function: str | None


def _spec(trigger: TriggerDef) -> ScheduleSpec:
    if trigger.kind is TriggerKind.CRON:
        if not trigger.cron:
            raise UserError(f"trigger {trigger.name!r}: a cron trigger needs an expression")
        cron = parse_cron(trigger.cron, trigger.timezone)
        return ScheduleSpec("cron", trigger.workflow, trigger.name, cron.expression, cron.timezone)
    if trigger.poll_interval_ms <= 0:
        raise UserError(f"trigger {trigger.name!r}: poll interval must be greater than zero")
    return ScheduleSpec(
        "trigger",
        trigger.workflow,
        trigger.name,
        timezone=trigger.timezone,
        poll_interval_ms=trigger.poll_interval_ms,
        allow_concurrent=trigger.allow_concurrent,
    )


class ScheduleBook:
    """Schedules of loaded packages (implements reconcile's ``ScheduleRegistry``)."""

    def __init__(
        self,
        store: Store,
        cron: CronScheduler,
        poll: PollScheduler,
        targets: dict[str, PollTarget] | None = None,
    ) -> None:
        self.store = store
        self.cron = cron
        self.poll = poll
        # poll trigger id -> where it lives (shared with the PoolPoller)
        self.targets: dict[str, PollTarget] = {} if targets is None else targets

    async def register(self, package: LoadedPackage) -> None:
        name = package.identity.name
        triggers = package.triggers()
        workflows = {wf.name for wf in package.workflows()}
        for trig in triggers:
            if trig.workflow not in workflows:
                raise UserError(
                    f"trigger {trig.name!r} starts workflow {trig.workflow!r}, "
                    "which the package does not define"
                )
        specs = [_spec(t) for t in triggers]
        now = dt.datetime.now(dt.UTC)
        version = package.identity.version

        def write(conn: Any) -> dict[str, str]:
            row = find_package(conn, name, version)
            if row is None:
                raise UserError(f"package {name!r} {version} has no row; load it first")
            return replace_package_schedules(conn, row.id, specs, now)

        ids = await trio.to_thread.run_sync(self.store.write, write)
        crons: list[CronSchedule] = []
        polls: list[PollTrigger] = []
        for trig, spec in zip(triggers, specs, strict=True):
            sid = ids[trig.name]
            if spec.schedule_type == "cron":
                assert spec.cron_expression is not None
                cron = parse_cron(spec.cron_expression, spec.timezone)
                crons.append(CronSchedule(sid, name, trig.name, trig.workflow, cron))
            else:
                polls.append(
                    PollTrigger(
                        trigger_id=sid,
                        package=name,
                        name=trig.name,
                        workflow=trig.workflow,
                        poll_interval_s=trig.poll_interval_ms / 1000.0,
                        allow_concurrent=trig.allow_concurrent,
                    )
                )
                ref = f"{trig.module}:{trig.qualname}" if trig.module and trig.qualname else None
                self.targets[sid] = PollTarget(name, package.source(), trig.name, ref)
        self._drop_targets(name, keep={p.trigger_id for p in polls})
        self.cron.set_package(name, crons)
        self.poll.set_package(name, polls)

    async def unregister(self, package_name: str) -> None:
        self.cron.remove_package(package_name)
        self.poll.remove_package(package_name)
        self._drop_targets(package_name, keep=set())
        await trio.to_thread.run_sync(self.store.write, lambda c: retire_package(c, package_name))

    async def known_packages(self) -> set[str]:
        return await trio.to_thread.run_sync(self.store.read, package_names_in_use)

    def _drop_targets(self, package: str, keep: set[str]) -> None:
        for tid, target in list(self.targets.items()):
            if target.package == package and tid not in keep:
                del self.targets[tid]

    def counts(self) -> dict[str, int]:
        return {"cron": len(self.cron.schedules()), "poll": len(self.poll.triggers())}
