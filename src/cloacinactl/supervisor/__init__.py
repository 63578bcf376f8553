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
        raises ``ChildFatal`` if it never gets there); ``await child.stop()``
        (safe at any moment: while preparing/spawning, STARTING, BACKOFF, twice,
        concurrently); ``child.restart(*, generation=None, grace_s=None) -> bool``
        ends the current generation on purpose (``ExitEvent.requested=True``, not
        a fast crash) and starts the next at once (``grace_s=0``: SIGKILL now);
        ``child.forgive(generation)`` (from the ``exited`` hook): that exit was
        the work's fault, not the child's: no fast-crash count, no backoff;
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
    ``run_service(config, serve, *, reload=None, status=None, drain=None) -> int``:
        ``config`` is a ``ServiceConfig`` (or a subclass: service, home,
        log_filter, shutdown_timeout_s, log_retention_days, log_max_bytes,
        detach); ``await serve(config, task_status=…)`` runs the workload and
        calls ``task_status.started(meta_dict)`` when truly ready (meta is
        recorded in the PID file, e.g. ``{"address": "127.0.0.1:8080"}``);
        ``config.rt`` is the ``Runtime`` (uptime_s, log_sink for
        ``ChildSpec.log_sink``, set_status, record). ``reload()`` runs on
        SIGHUP and may return a new ``LogFilter``; ``drain()`` runs on the
        first SIGINT/SIGTERM, bounded by ``shutdown_timeout_s``.
    PID files: ``PidFile(path, service).acquire()`` / ``.update(**meta)`` /
        ``.release()``; ``read_pid_file(path)``, ``find_owner(path) -> (record,
        owner | None)``, ``lock_held(path)``, ``remove_if_stale(path)``;
        ``stop_service(pid_path, service, force=False, timeout_s=60)``.
    Logging: ``ServiceLogging`` (stderr + JSON file, ``set_filter``,
        ``ingest``), ``LogFile`` (whole-line writer with daily/size rotation),
        ``install_child_logging(fd, filter, labels)`` for child processes.
    ``Notifier`` (sd_notify), ``set_title`` (setproctitle).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cloacinactl.config.lazy import lazy_exports

if TYPE_CHECKING:
    from cloacinactl.supervisor.backoff import (
        BackoffPolicy,
        RestartPlan,
        plan_restart,
    )
    from cloacinactl.supervisor.child import SupervisedChild
    from cloacinactl.supervisor.childspec import (
        ChildFatal,
        ChildSpec,
        ExitEvent,
        PreparedStart,
        jitter_free,
    )
    from cloacinactl.supervisor.control import (
        StopResult,
        kill_descendants,
        stop_service,
    )
    from cloacinactl.supervisor.exits import exit_description
    from cloacinactl.supervisor.logfile import (
        LogFile,
    )
    from cloacinactl.supervisor.logsetup import (
        CHILD_LOG_ENV,
        ServiceLogging,
        child_log_fd,
        install_child_logging,
    )
    from cloacinactl.supervisor.notify import (
        Notifier,
    )
    from cloacinactl.supervisor.pidfile import (
        PidFile,
        PidRecord,
        find_owner,
        lock_held,
        read_pid_file,
        remove_if_stale,
    )
    from cloacinactl.supervisor.process import (
        group_alive,
        kill_group_now,
        signal_group,
        spawn_group,
        terminate_group,
    )
    from cloacinactl.supervisor.runner import (
        Runtime,
        ServiceConfig,
        run_service,
        set_title,
    )
    from cloacinactl.supervisor.states import (
        ChildState,
    )

# Names load on first use so that importing one light submodule (e.g. for a
# fast health probe) never pulls in trio or loguru.
_EXPORTS: dict[str, str] = {
    "BackoffPolicy": "backoff",
    "CHILD_LOG_ENV": "logsetup",
    "ChildFatal": "childspec",
    "ChildSpec": "childspec",
    "ChildState": "states",
    "ExitEvent": "childspec",
    "LogFile": "logfile",
    "Notifier": "notify",
    "PidFile": "pidfile",
    "PidRecord": "pidfile",
    "PreparedStart": "childspec",
    "RestartPlan": "backoff",
    "Runtime": "runner",
    "ServiceConfig": "runner",
    "ServiceLogging": "logsetup",
    "StopResult": "control",
    "SupervisedChild": "child",
    "child_log_fd": "logsetup",
    "exit_description": "exits",
    "find_owner": "pidfile",
    "group_alive": "process",
    "install_child_logging": "logsetup",
    "jitter_free": "childspec",
    "kill_descendants": "control",
    "kill_group_now": "process",
    "lock_held": "pidfile",
    "plan_restart": "backoff",
    "read_pid_file": "pidfile",
    "remove_if_stale": "pidfile",
    "run_service": "runner",
    "set_title": "runner",
    "signal_group": "process",
    "spawn_group": "process",
    "stop_service": "control",
    "terminate_group": "process",
}

__all__ = [
    "CHILD_LOG_ENV",
    "BackoffPolicy",
    "ChildFatal",
    "ChildSpec",
    "ChildState",
    "ExitEvent",
    "LogFile",
    "Notifier",
    "PidFile",
    "PidRecord",
    "PreparedStart",
    "RestartPlan",
    "Runtime",
    "ServiceConfig",
    "ServiceLogging",
    "StopResult",
    "SupervisedChild",
    "child_log_fd",
    "exit_description",
    "find_owner",
    "group_alive",
    "install_child_logging",
    "jitter_free",
    "kill_descendants",
    "kill_group_now",
    "lock_held",
    "plan_restart",
    "read_pid_file",
    "remove_if_stale",
    "run_service",
    "set_title",
    "signal_group",
    "spawn_group",
    "stop_service",
    "terminate_group",
]


__getattr__ = lazy_exports(__name__, _EXPORTS, globals())
