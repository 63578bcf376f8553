"""Run a service in the foreground under the supervisor: ``run_service``.

``run_service(config, serve, reload=…, status=…, drain=…)`` owns, in order:
``--detach`` (python-daemon), the PID file, dual logging, the process title,
then ``trio.run``: the service's ``serve(config, task_status=…)`` is started
with ``nursery.start``; the value it passes to ``task_status.started`` (a dict)
is recorded in the PID file's metadata (e.g. ``{"address": "127.0.0.1:8080"}``)
and only then ``READY=1`` goes to systemd.

Signals become cancellation here and nowhere else: the first SIGINT/SIGTERM
sends ``STOPPING=1``, awaits ``drain()`` for at most ``shutdown_timeout_s`` and
then cancels ``serve`` (whose cleanup stops its children: SIGTERM, then
SIGKILL to each group); a second SIGINT/SIGTERM kills every descendant and
exits 1 at once. SIGHUP awaits ``reload()``; if it returns a ``LogFilter`` the
new level applies to both log sinks immediately.
"""

from __future__ import annotations

import contextlib
import gc
import os
import signal
import sys
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

import psutil
import trio
from loguru import logger

from cloacinactl.config.home import Home
from cloacinactl.config.logfilter import LogFilter
from cloacinactl.errors import CloacinaError, UserError, first_cloacina_error, leaves
from cloacinactl.supervisor.control import kill_descendants
from cloacinactl.supervisor.logsetup import ServiceLogging
from cloacinactl.supervisor.notify import Notifier
from cloacinactl.supervisor.pidfile import PidFile, lock_held, read_pid_file


@dataclass
class Runtime:
    """What the supervisor offers the running service (``config.runtime``)."""

    service: str
    pid: int
    started_at: float  # wall clock (epoch seconds)
    started_monotonic: float
    logging: ServiceLogging
    notifier: Notifier
    pid_file: PidFile

    @property
    def uptime_s(self) -> float:
        return time.monotonic() - self.started_monotonic

    def log_sink(self, lines: Sequence[bytes], labels: Mapping[str, Any]) -> None:
        """Give to ``ChildSpec.log_sink``: children's records are written by us."""
        self.logging.ingest_lines(lines, labels)

    def set_status(self, text: str) -> None:
        """A one-line status for ``systemctl status`` (``STATUS=``)."""
        self.notifier.status(text)

    def record(self, **meta: Any) -> None:
        """Add metadata to the PID file (e.g. the bound address)."""
        self.pid_file.update(**meta)


@dataclass(frozen=True)
class ServiceConfig:
    """The supervisor's part of every service's configuration."""

    service: str  # daemon | server | compiler
    home: Home
    log_filter: LogFilter
    shutdown_timeout_s: float = 30.0
    log_retention_days: int = 7
    log_max_bytes: int | None = None
    detach: bool = False
    runtime: Runtime | None = field(default=None, compare=False)

    @property
    def rt(self) -> Runtime:
        if self.runtime is None:
            raise RuntimeError("the service is not running under run_service")
        return self.runtime


C = TypeVar("C", bound=ServiceConfig)


Reload = Callable[[], Awaitable[LogFilter | None]]
Status = Callable[[], str]
Drain = Callable[[], Awaitable[None]]
DrainTimeout = Callable[[], float]


def _refuse_if_running(config: ServiceConfig) -> None:
    path = config.home.pid_file(config.service)
    if lock_held(path):
        record = read_pid_file(path)
        pid = f" (pid {record.pid})" if record else ""
        raise UserError(
            f"{config.service} is already running{pid}; PID file {path} is locked",
            hint=f"stop it first: cloacinactl {config.service} stop",
        )


def _detach(config: ServiceConfig) -> None:
    import daemon  # python-daemon; only needed here

    _refuse_if_running(config)
    context = daemon.DaemonContext(
        working_directory=str(config.home.root), umask=0o077, detach_process=True
    )
    context.open()


def run_service(
    config: C,
    serve: Callable[..., Awaitable[None]],
    *,
    reload: Reload | None = None,
    status: Status | None = None,
    drain: Drain | None = None,
    drain_timeout: DrainTimeout | None = None,
) -> int:
    """Run ``serve`` as the ``config.service`` service until signalled; 0 once stopped.

    When ``serve`` fails, the failure is logged and raised (inside trio's
    exception groups) after the PID file and logs are released; the entry
    point's ``errors.run_main`` turns it into the exit status.
    ``drain_timeout`` gives the drain deadline when the drain starts (so a reload
    can change it); without it ``config.shutdown_timeout_s`` applies.
    """
    home = config.home
    home.ensure()
    home.ensure_dir(home.logs)
    if config.detach:
        _detach(config)
    # The title goes first: the PID file records the command line as ps shows it.
    set_title(f"cloacina-{config.service}: supervisor")
    pid_file = PidFile(home.pid_file(config.service), config.service).acquire()
    logs = ServiceLogging(
        config.service,
        home.log_file(config.service),
        config.log_filter,
        stderr=None if config.detach else sys.stderr,
        retention_days=config.log_retention_days,
        max_bytes=config.log_max_bytes,
    )
    logs.install()
    runtime = Runtime(
        service=config.service,
        pid=os.getpid(),
        started_at=time.time(),
        started_monotonic=time.monotonic(),
        logging=logs,
        notifier=Notifier.from_env(),
        pid_file=pid_file,
    )
    if pid_file.stale is not None:
        logger.warning("cleaned a stale PID file pid={}", pid_file.stale.pid)
    configured = replace(config, runtime=runtime)
    try:
        stop = _Stop(timeout_s=drain_timeout or (lambda: configured.shutdown_timeout_s))
        return trio.run(_supervise, configured, serve, reload, status, drain, stop)
    finally:
        logger.info("{} stopped pid={}", config.service, os.getpid())
        pid_file.release()
        logs.close()


@dataclass
class _Stop:
    timeout_s: DrainTimeout
    requested: int = 0
    scope: trio.CancelScope | None = None


def _settle_heap() -> None:
    """Collect start-up garbage once, then move every surviving object (modules,
    classes, configuration, caches: ~60,000 of them) out of the collector's reach.

    A full collection walks every tracked object: ~1 µs each on a small machine,
    so 50-200 ms with the GIL held, a stall for every in-flight task each time
    the heap has grown by a quarter. After the freeze only what was allocated
    since start-up is walked.
    """
    gc.collect()
    gc.freeze()


async def _supervise(
    config: ServiceConfig,
    serve: Callable[..., Awaitable[None]],
    reload: Reload | None,
    status: Status | None,
    drain: Drain | None,
    stop: _Stop,
) -> int:
    rt = config.rt
    async with trio.open_nursery() as outer:
        outer.start_soon(_signals, config, stop, reload, drain, outer)
        if rt.notifier.watchdog_interval_s is not None:
            outer.start_soon(_watchdog, rt.notifier, rt.notifier.watchdog_interval_s)
        try:
            async with trio.open_nursery() as inner:
                stop.scope = inner.cancel_scope
                meta = await inner.start(serve, config)
                _settle_heap()
                if isinstance(meta, dict) and meta:
                    rt.record(**meta)
                where = (
                    f" address={meta['address']}"
                    if isinstance(meta, dict) and "address" in meta
                    else ""
                )
                logger.info("{} ready pid={}{}", config.service, rt.pid, where)
                rt.notifier.ready(status() if status else f"{config.service} ready")
        except Exception as exc:
            # The service failed: record it in the log (the only trace a detached
            # service leaves), then let it travel. run_service's cleanup runs on
            # the way out and errors.run_main turns it into the exit status.
            _log_failure(config.service, exc)
            raise
        outer.cancel_scope.cancel()
    return 0


def _log_failure(service: str, exc: Exception) -> None:
    known = first_cloacina_error(exc)
    if known is not None:
        hint = f" (hint: {known.hint})" if known.hint else ""
        logger.error("{} failed: {}{}", service, known.message, hint)
    else:
        logger.opt(exception=exc).error("{} crashed: {!r}", service, leaves(exc)[0])


async def _signals(
    config: ServiceConfig,
    stop: _Stop,
    reload: Reload | None,
    drain: Drain | None,
    nursery: trio.Nursery,
) -> None:
    rt = config.rt
    sigs = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    with trio.open_signal_receiver(*sigs) as receiver:
        async for signum in receiver:
            if signum == signal.SIGHUP:
                logger.info("SIGHUP: reloading")
                if reload is not None:
                    try:
                        new_filter = await reload()
                    except CloacinaError as exc:
                        logger.error("reload failed, keeping the old settings: {}", exc.message)
                        continue
                    if new_filter is not None:
                        rt.logging.set_filter(new_filter)
                continue
            stop.requested += 1
            name = signal.Signals(signum).name
            if stop.requested > 1:
                logger.warning("{} during shutdown: exiting now", name)
                _force_exit(rt)
            timeout_s = stop.timeout_s()
            logger.info("{}: draining (up to {}s)", name, timeout_s)
            rt.notifier.stopping("draining")
            trio.lowlevel.spawn_system_task(_drain_then_cancel, stop, drain, timeout_s)


async def _drain_then_cancel(stop: _Stop, drain: Drain | None, timeout_s: float) -> None:
    if drain is not None:
        with trio.move_on_after(timeout_s):
            try:
                await drain()
            except Exception as exc:  # a failed drain still ends in a stop
                logger.opt(exception=exc).error("drain failed: {}", exc)
    if stop.scope is not None:
        stop.scope.cancel()


async def _watchdog(notifier: Notifier, interval_s: float) -> None:
    while True:
        notifier.watchdog()
        await trio.sleep(interval_s)


def _force_exit(rt: Runtime) -> None:
    """Second signal: kill every descendant now, drop the PID file, exit 1."""
    with contextlib.suppress(psutil.Error):
        kill_descendants(psutil.Process())
    with contextlib.suppress(Exception):
        rt.pid_file.release()
    with contextlib.suppress(Exception):
        rt.logging.file.close()
    os._exit(1)


def set_title(title: str) -> None:
    """Set the process title shown by ``ps`` (no-op when setproctitle is unavailable)."""
    try:
        import setproctitle
    except ImportError:  # pragma: no cover - it is a dependency
        return
    setproctitle.setproctitle(title)
