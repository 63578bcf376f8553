"""Child programs for the benchmark: sleep | stubborn | lines N | crash."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time


def main() -> None:
    mode = sys.argv[1]
    if mode == "sleep":
        time.sleep(3600)
    elif mode == "stubborn":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        code = "import signal,time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(3600)"
        subprocess.Popen([sys.executable, "-c", code])
        time.sleep(3600)
    elif mode == "lines":
        count = int(sys.argv[2])
        pad = "x" * 60
        out = sys.stdout
        for i in range(count):
            out.write(f"L{i:08d} {pad}\n")
        out.flush()
    elif mode == "crash":
        sys.exit(1)
    else:
        raise SystemExit(f"unknown mode {mode}")
    os._exit(0)


if __name__ == "__main__":
    main()
