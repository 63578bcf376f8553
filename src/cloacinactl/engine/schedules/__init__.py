"""Cron maths, the cron scheduler and the poll-trigger scheduler (design §10)."""

from cloacinactl.engine.schedules.cron_scheduler import (
    CronConfig,
    CronSchedule,
    CronScheduler,
    CronStats,
)
from cloacinactl.engine.schedules.interfaces import (
    Clock,
    CronStore,
    ExecutionStarter,
    ExecutionTracker,
    SystemClock,
)
from cloacinactl.engine.schedules.poll import (
    PollOutcome,
    PollTrigger,
    fire_context,
    interpret_poll_result,
    parse_interval,
)
from cloacinactl.engine.schedules.poll_scheduler import PollScheduler, PollStats, TriggerPoller
from cloacinactl.store.cronslots import ClaimedSlot
from cloacinactl.workflow.cron import (
    CronError,
    CronExpr,
    DuePlan,
    cron_context,
    next_after,
    parse_cron,
    plan_due,
    slots_between,
)

__all__ = [
    "ClaimedSlot",
    "Clock",
    "CronConfig",
    "CronError",
    "CronExpr",
    "CronSchedule",
    "CronScheduler",
    "CronStats",
    "CronStore",
    "DuePlan",
    "ExecutionStarter",
    "ExecutionTracker",
    "PollOutcome",
    "PollScheduler",
    "PollStats",
    "PollTrigger",
    "SystemClock",
    "TriggerPoller",
    "cron_context",
    "fire_context",
    "interpret_poll_result",
    "next_after",
    "parse_cron",
    "parse_interval",
    "plan_due",
    "slots_between",
]
