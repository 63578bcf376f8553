"""The supervisor library: run a service in the foreground and own its processes.

Public API (import from ``cloacinactl.supervisor``):

Child processes (for the worker pool and build runners)
    ``BackoffPolicy(initial_s, factor, max_s, jitter, fast_crash_s, max_fast_crashes)``
        pure restart policy; ``plan_restart(policy, fast_crashes, run_seconds, rand)
        -> RestartPlan(fast_crashes, delay_s, fatal)``. First restart immediate,
        then exponential backoff with jitter and a cap, FATAL after too many
        consecutive fast crashes.
    ``ChildState``: STOPPED/STARTING/RUNNING/BACKOFF/STOPPING/EXITED/FATAL.
    ``ChildSpec(name, argv, env=None, cwd=None, grace_s=5.0, backoff=BackoffPolicy(),
        autorestart=True, stdin=None, stdout=None, stderr=None)``.
    ``SupervisedChild(spec, *, prepare=None, started=None, exited=None)``:
        ``prepare(generation) -> PreparedStart(pass_fds, env, after_spawn)`` runs
        before every (re)start (e.g. make a fresh socketpair, pass one end);
        ``await started(generation, process)`` runs once the process exists and
        may await readiness (raise to fail the start); ``exited(ExitEvent)`` is
        called on every exit with the generation number. Start with
        ``await nursery.start(child.run)`` (returns once generation 1 is RUNNING,
        raises ``ChildFatal`` if it never gets there); ``await child.stop()``;
        ``child.state``, ``child.generation``, ``child.pid``, ``child.restarts``,
        ``await child.wait_state(*states)``, ``await child.wait_generation(n)``,
        ``child.send_signal(sig, generation=None)``. Cancelling ``run`` stops the
        child too (SIGTERM, then SIGKILL to the whole group after ``grace_s``).
    Low-level: ``await spawn_group(argv, *, env, cwd, pass_fds, stdin, stdout,
        stderr) -> trio.Process`` (new session, pgid == pid);
        ``await terminate_group(process, grace_s) -> returncode`` (SIGTERM the
        group, SIGKILL after the grace, wait for every member, reap the leader);
        ``signal_group(pgid, sig)``, ``group_alive(pgid)``, ``kill_group_now(pgid)``.

Running a service
    ``run_service(config, serve, *, reload=None, status=None, drain=None) -> int``
        see ``cloacinactl.supervisor.runner``.
"""

from __future__ import annotations

from cloacinactl.supervisor.backoff import BackoffPolicy, RestartPlan, plan_restart
from cloacinactl.supervisor.child import (
    ChildFatal,
    ChildSpec,
    ExitEvent,
    PreparedStart,
    SupervisedChild,
    exit_description,
    jitter_free,
)
from cloacinactl.supervisor.process import (
    group_alive,
    kill_group_now,
    signal_group,
    spawn_group,
    terminate_group,
)
from cloacinactl.supervisor.states import ChildState

__all__ = [
    "BackoffPolicy",
    "ChildFatal",
    "ChildSpec",
    "ChildState",
    "ExitEvent",
    "PreparedStart",
    "RestartPlan",
    "SupervisedChild",
    "exit_description",
    "group_alive",
    "jitter_free",
    "kill_group_now",
    "plan_restart",
    "signal_group",
    "spawn_group",
    "terminate_group",
]
