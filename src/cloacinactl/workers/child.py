"""The worker program: ``python -m cloacinactl.workers.child --fd N ...``.

A plain synchronous loop (no trio here, to start fast): read a request frame
from the private socket, serve it, write the response frame. Task output goes
to capture files (see ``capture.py``), never to the socket. The worker ignores
SIGINT (the supervisor decides when it stops), sets its process title
(``cloacina-daemon: worker 3``), raises its ``oom_score_adj`` (under memory
pressure the kernel kills a worker, not the supervisor) and exits when the
socket closes or when its parent process goes away.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from . import protocol
from .calling import TaskHandle, call_task, call_trigger, wants_handle
from .capture import Capture, remove_capture
from .loader import LoadedSource, NotFound, SourceCache
from .memory import prefer_as_oom_victim
from .outcome import TaskError, error_from_exception
from .redact import Redactor
from .sources import source_from_dict

FD_ENV = protocol.FD_ENV
DEFAULT_OUTPUT_LIMIT = protocol.DEFAULT_OUTPUT_LIMIT
TAG_KEYS = ("execution_id", "task_id", "attempt", "trigger")  # copied onto log records


class Worker:
    """Serves requests against one cache of loaded sources."""

    def __init__(self, index: int, capture: Capture) -> None:
        self.index = index
        self.capture = capture
        self.cache = SourceCache()
        self._wants_handle: dict[Any, bool] = {}  # per task function, inspected once

    def handle(self, op: str, args: dict[str, Any]) -> dict[str, Any]:
        """Serve one request; user-code failures are results, not exceptions."""
        if op == "ping":
            return {
                "pid": os.getpid(),
                "index": self.index,
                "protocol": protocol.PROTOCOL_VERSION,
                "sources": self.cache.ids(),
            }
        source = source_from_dict(args.get("source"))
        tags: dict[str, Any] = {k: args[k] for k in TAG_KEYS if k in args}
        self.capture.begin(tags)
        started = time.perf_counter()
        try:
            result = self._serve(op, source, args)
        finally:
            captured = self.capture.end()
        redactor = Redactor.of(args.get("secrets"))
        result.update(redactor.deep(captured.to_dict()) if redactor else captured.to_dict())
        result["duration_s"] = time.perf_counter() - started
        return result

    def _serve(self, op: str, source: Any, args: dict[str, Any]) -> dict[str, Any]:
        try:
            loaded, cached = self.cache.get(source)
        except (Exception, SystemExit) as exc:
            failure = error_from_exception("load_failed", exc, f"importing {source.source_id}")
            return {"status": "failed", "error": failure.to_dict(), "source_id": source.source_id}
        base = {"source_id": source.source_id, "cached": cached}
        if op == "load":
            return {**base, "status": "loaded", "description": loaded.description, "error": None}
        # the package's own modules for the lookup, the call and its callbacks
        self.cache.activate(loaded)
        function_ref = args.get("function")
        if function_ref is not None and not isinstance(function_ref, str):
            raise ValueError("'function' must be a string 'module:qualname' or 'qualname'")
        if op == "run_task":
            return {**base, **self._run_task(loaded, args, function_ref)}
        if op == "graph":
            from cloacinactl.workers.graphcall import graph_call

            graph_set = getattr(loaded.collection, "graph_set", None)
            return {**base, **graph_call(graph_set, args)}
        return {**base, **self._poll_trigger(loaded, str(args["trigger"]), function_ref)}

    def _run_task(
        self, loaded: LoadedSource, args: dict[str, Any], function_ref: str | None
    ) -> dict[str, Any]:
        handle = TaskHandle(
            execution_id=str(args.get("execution_id", "")),
            workflow=str(args["workflow"]),
            task_id=str(args["task_id"]),
            attempt=int(args.get("attempt", 1)),
            worker=self.index,
        )
        try:
            function = loaded.task_function(handle.workflow, handle.task_id, function_ref)
        except (NotFound, ImportError) as exc:
            return {"status": "failed", "output": None, "error": _not_found(exc)}
        on_success, on_failure = loaded.task_callbacks(handle.workflow, handle.task_id, function)
        output, error = call_task(
            function,
            args.get("context", {}),
            handle,
            on_success,
            on_failure,
            pass_handle=self._pass_handle(function),
            secrets=args.get("secrets"),
        )
        return {
            "status": "completed" if error is None else "failed",
            "output": output,
            "error": None if error is None else error.to_dict(),
        }

    def _pass_handle(self, function: Any) -> bool:
        try:
            cached = self._wants_handle.get(function)
        except TypeError:  # an unhashable callable: inspect every time
            return wants_handle(function)
        if cached is None:
            cached = self._wants_handle[function] = wants_handle(function)
        return cached

    @staticmethod
    def _poll_trigger(loaded: LoadedSource, name: str, function_ref: str | None) -> dict[str, Any]:
        failed: dict[str, Any] = {"status": "failed", "fire": False, "context": None}
        try:
            function = loaded.trigger_function(name, function_ref)
        except (NotFound, ImportError) as exc:
            return {**failed, "error": _not_found(exc)}
        poll, error = call_trigger(function, name)
        if error is not None or poll is None:
            return {**failed, "error": None if error is None else error.to_dict()}
        return {"status": "ok", **poll, "error": None}


def _not_found(exc: BaseException) -> dict[str, Any]:
    return TaskError("not_found", str(exc), exc_type=type(exc).__name__).to_dict()


def serve_socket(sock: socket.socket, worker: Worker) -> None:
    """The request loop; returns when the peer closes the socket."""
    decoder = protocol.FrameDecoder()
    while True:
        data = sock.recv(1 << 20)
        if not data:
            return
        for message in decoder.feed(data):
            sock.sendall(protocol.encode_frame(_respond(worker, message)))


def _respond(worker: Worker, message: dict[str, Any]) -> dict[str, Any]:
    request_id = message.get("id", -1)
    try:
        request_id, op, args = protocol.check_request(message)
        return protocol.ok_response(request_id, worker.handle(op, args))
    except (protocol.ProtocolError, ValueError, KeyError, TypeError) as exc:
        return protocol.error_response(
            request_id if isinstance(request_id, int) else -1, type(exc).__name__, str(exc)
        )


def _watch_parent(parent: int, interval: float, capture_dir: Path) -> None:
    """Exit when the parent dies (a busy worker does not read its socket).

    The pool cannot clean up after a ``kill -9``, so the orphan removes its own
    capture files, and the folder once it is the last one out.
    """
    while True:
        time.sleep(interval)
        if os.getppid() != parent:
            _clean_up(capture_dir, orphaned=True)
            os._exit(70)


def _clean_up(capture_dir: Path, *, orphaned: bool) -> None:
    """Remove this worker's capture files; an orphan also removes the folder if it
    is the last one out (the pool that owns it is gone)."""
    remove_capture(capture_dir, os.getpid())
    if orphaned:
        with contextlib.suppress(OSError):
            os.rmdir(capture_dir)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """The worker's command line."""
    parser = argparse.ArgumentParser(prog="cloacina-worker", description=__doc__)
    parser.add_argument("--fd", type=int, default=None, help="the private socket's fd")
    parser.add_argument("--index", type=int, default=0, help="worker number (for the title)")
    parser.add_argument("--title", default="cloacina", help="service name for the title")
    parser.add_argument("--capture-dir", type=Path, required=True)
    parser.add_argument("--output-limit", type=int, default=DEFAULT_OUTPUT_LIMIT)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Run one worker until its socket closes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    args = parse_args(argv)
    fd = args.fd if args.fd is not None else int(os.environ.get(FD_ENV, "-1"))
    if fd < 0:
        print("cloacina worker: no socket fd (--fd or CLOACINA_WORKER_FD)", file=sys.stderr)
        return 2
    try:
        import setproctitle

        setproctitle.setproctitle(f"{args.title}: worker {args.index}")
    except ImportError:
        pass
    prefer_as_oom_victim()
    sock = socket.socket(fileno=fd)
    sock.set_inheritable(False)
    parent = os.getppid()
    watcher = threading.Thread(
        target=_watch_parent, args=(parent, 0.5, args.capture_dir), daemon=True
    )
    watcher.start()
    worker = Worker(args.index, Capture(args.capture_dir, os.getpid(), args.output_limit))
    try:
        serve_socket(sock, worker)
    except (ConnectionError, OSError):
        pass
    finally:
        sock.close()
    # The pool closed the socket (recycling, shutdown) or died: nobody will
    # read this worker's capture files any more.
    _clean_up(args.capture_dir, orphaned=os.getppid() != parent)
    return 0


if __name__ == "__main__":
    sys.exit(main())
