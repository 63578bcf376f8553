"""Measure each start-up/exit trick that leans on a library's internals, on and off.

Run:  .venv/bin/python -m benchmarks.cli.tricks [--runs N] [--no-daemon]

Every row is a whole process, timed from spawn to exit (wall) and by the
user + system CPU time it used (steadier than wall on a shared machine). A variant switches one
trick off by patching cloacinactl before its entry point runs (a ``python -c``
prelude), so the rest of the process is the shipped code:

- ``shipped``: as installed.
- ``no gettext memo``: argparse's ``_()`` left as is (no ``functools.cache``).
- ``sys.exit``: the normal interpreter exit (module teardown) instead of
  ``procexit.exit_now``.
- ``http.client``: the probes' ``http://`` GET done by ``http.client`` instead
  of the plain-socket client (only on the rows that probe over HTTP).

The CLI rows run ``--help``, ``config list``, ``status`` (nothing running: it
still probes the server and compiler ports) and ``server health`` against a
local HTTP peer that answers 200. The daemon rows start ``cloacina-daemon``
directly, wait until its socket answers, let it settle, then time SIGTERM →
process gone (the service side of ``daemon stop``). Rounds interleave the
variants so load from other processes hits them alike; two warm-up rounds.
"""

from __future__ import annotations

import argparse
import contextlib
import http.server
import math
import os
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from benchmarks.cli.run import daemon_answers

SETTLE_S = 0.3

Sample = tuple[float, float]  # (wall ms, CPU ms)

ENTRY = "import sys\nsys.argv[0] = 'cloacinactl'\nfrom cloacinactl.cli.main import entry\nentry()\n"
DAEMON = "from cloacinactl.services.daemon.main import main\nmain()\n"

NO_MEMO = (
    "import cloacinactl.cli.framework as f\n"
    "import cloacinactl.cli.main as m\n"
    "f.memoize_argparse_gettext = m.memoize_argparse_gettext = lambda: None\n"
)
SYS_EXIT = (
    "import sys, cloacinactl.procexit as p\n"
    "p.exit_now = sys.exit\n"
    "import cloacinactl.cli.main as m\n"
    "m.exit_now = sys.exit\n"
)
DAEMON_SYS_EXIT = (
    "import sys, cloacinactl.procexit as p\n"
    "p.exit_now = sys.exit\n"
    "import cloacinactl.services.daemon.main as m\n"
    "m.exit_now = sys.exit\n"
)
HTTP_CLIENT = """
import cloacinactl.probes.http as h
def _http_get(host, port, target, timeout_s):
    import http.client
    conn = http.client.HTTPConnection(host, port, timeout=timeout_s)
    try:
        conn.request("GET", target or "/", headers={"Accept": "application/json"})
        resp = conn.getresponse()
        return resp.status, resp.read()
    except http.client.HTTPException as exc:
        raise h.ProtocolError(str(exc)) from None
    finally:
        conn.close()
h._http_get = _http_get
"""

CLI_VARIANTS = {
    "shipped": "",
    "no gettext memo": NO_MEMO,
    "sys.exit": SYS_EXIT,
    "http.client": HTTP_CLIENT,
}
DAEMON_VARIANTS = {"shipped": "", "sys.exit": DAEMON_SYS_EXIT}

# The gettext memo only acts while the parser is built: time that phase alone.
PARSE_ONLY = (
    "import sys, time\n"
    "import cloacinactl.cli.main as m\n"
    "t = time.process_time()\n"
    "try:\n    m.parse(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
    "print((time.process_time() - t) * 1000)\n"
)


def parse_phase(rows: dict[str, list[str]], runs: int, env: dict[str, str]) -> None:
    """CPU ms of building the parser and parsing, with and without the gettext memo."""
    variants = {"shipped": "", "no gettext memo": NO_MEMO}
    got: dict[tuple[str, str], list[float]] = {(r, v): [] for r in rows for v in variants}
    for _ in range(runs):
        for row, argv in rows.items():
            for variant, prelude in variants.items():
                done = subprocess.run(
                    [sys.executable, "-c", prelude + PARSE_ONLY, *argv],
                    capture_output=True,
                    text=True,
                    env=env,
                    timeout=120,
                )
                got[(row, variant)].append(float(done.stdout.split()[-1]))
    print("\nparser build + parse only (CPU ms, median)")
    for row in rows:
        base, off = (statistics.median(got[(row, v)]) for v in variants)
        print(
            f"{row:<30} shipped {base:6.2f}ms  no gettext memo {off:6.2f}ms  Δ {off - base:+.2f}ms"
        )


class _Health(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b'{"status": "healthy"}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_once(code: str, args: list[str], env: dict[str, str]) -> tuple[Sample, int]:
    """One process: (wall ms, CPU ms of user + system time), and its exit status."""
    cpu = children_cpu_s()
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, env=env, timeout=120
    )
    wall = (time.perf_counter() - start) * 1000
    return (wall, (children_cpu_s() - cpu) * 1000), done.returncode


def daemon_stop_ms(code: str, home: Path, env: dict[str, str]) -> Sample:
    """Start a daemon, wait until it answers, settle, SIGTERM it: ms until it is gone."""
    log = home / "bench-daemon.log"
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-c", code, "--home", str(home)],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=out,
            env=env,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 60
        while not daemon_answers(home):
            if proc.poll() is not None or time.monotonic() > deadline:
                tail = log.read_text(errors="replace")[-2000:]
                raise RuntimeError(f"daemon did not start:\n{tail}")
            time.sleep(0.02)
        time.sleep(SETTLE_S)
        start = time.perf_counter()
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
        # CPU is not split by phase for a daemon: the wall time is the figure here
        return (time.perf_counter() - start) * 1000, math.nan
    finally:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


def report(title: str, times: dict[tuple[str, str], list[Sample]], codes: dict[str, int]) -> None:
    """Median wall and CPU time per row and variant, and each variant's difference."""
    print(f"\n{title}")
    head = f"{'row':<30} {'variant':<16} {'wall':>8} {'Δ wall':>9} {'cpu':>8} {'Δ cpu':>9}"
    print(head)
    for row in dict.fromkeys(row for row, _ in times):
        base = [statistics.median(x) for x in zip(*times[(row, "shipped")], strict=True)]
        for (r, variant), samples in times.items():
            if r != row:
                continue
            wall, cpu = (statistics.median(x) for x in zip(*samples, strict=True))
            dw = "" if variant == "shipped" else f"{wall - base[0]:+.1f}ms"
            dc = "" if variant == "shipped" or math.isnan(cpu) else f"{cpu - base[1]:+.1f}ms"
            code = codes.get(row, 0)
            print(
                f"{row:<30} {variant:<16} {wall:>6.1f}ms {dw:>9} {cpu:>6.1f}ms {dc:>9}".replace(
                    "nanms", "    -"
                )
                + (f"  (exit {code})" if code else "")
            )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--no-daemon", action="store_true", help="Skip the daemon rows.")
    args = parser.parse_args()
    # SIGTERM unwinds like Ctrl-C, so a daemon started for a row is stopped too.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    env = {k: v for k, v in os.environ.items() if k != "RUST_LOG"}
    home = Path(tempfile.mkdtemp(prefix="cloacina-tricks-"))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Health)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    peer = f"127.0.0.1:{server.server_address[1]}"
    rows = {
        "--help": ["--help"],
        "config list": ["--home", str(home), "config", "list"],
        "status (nothing running)": ["--home", str(home), "status"],
        "server health (peer answers)": [
            *("--home", str(home), "--server", f"http://{peer}", "server", "health")
        ],
    }
    probing = {"status (nothing running)", "server health (peer answers)"}
    times: dict[tuple[str, str], list[Sample]] = {
        (row, v): [] for row in rows for v in CLI_VARIANTS if v != "http.client" or row in probing
    }
    codes: dict[str, int] = {}
    dtimes: dict[tuple[str, str], list[Sample]] = {
        ("daemon SIGTERM -> exit", v): [] for v in DAEMON_VARIANTS
    }
    try:
        for round_no in range(args.runs + 2):
            for row, argv in rows.items():
                for variant, prelude in CLI_VARIANTS.items():
                    if variant == "http.client" and row not in probing:
                        continue  # only rows that probe over HTTP
                    sample, codes[row] = run_once(prelude + ENTRY, argv, env)
                    if round_no >= 2:
                        times[(row, variant)].append(sample)
            if args.no_daemon:
                continue
            for variant, prelude in DAEMON_VARIANTS.items():
                dhome = Path(tempfile.mkdtemp(prefix="cloacina-tricks-d-"))
                try:
                    sample = daemon_stop_ms(prelude + DAEMON, dhome, env)
                finally:
                    shutil.rmtree(dhome, ignore_errors=True)
                if round_no >= 2:
                    dtimes[("daemon SIGTERM -> exit", variant)].append(sample)
    finally:
        server.shutdown()
        shutil.rmtree(home, ignore_errors=True)
    report("CLI commands (whole process, ms)", times, codes)
    parse_phase(rows, max(args.runs, 25), env)
    if not args.no_daemon:
        report("daemon (SIGTERM to process gone, ms)", dtimes, {})
    print(
        f"\nruns per variant: {args.runs}, interleaved, after 2 warm-up rounds; medians. "
        "cpu = the process's user + system time (steadier than wall on a busy machine)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
