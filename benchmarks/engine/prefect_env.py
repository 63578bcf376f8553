"""Install Prefect 3 into .bench-envs/prefect (once) and run the shapes there."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
VENV = ROOT / ".bench-envs" / "prefect"
SCRIPT = Path(__file__).with_name("prefect_flows.py")


def ensure() -> Path | None:
    python = VENV / "bin" / "python"
    if (
        python.exists()
        and subprocess.run([str(python), "-c", "import prefect"], capture_output=True).returncode
        == 0
    ):
        return python
    print("installing prefect 3 into .bench-envs/prefect ...", file=sys.stderr, flush=True)
    subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    done = subprocess.run([str(python), "-m", "pip", "install", "-q", "prefect>=3,<4"])
    return python if done.returncode == 0 else None


def run_all(shapes: list[str], count: int, concurrency: int) -> dict[str, dict[str, Any]]:
    python = ensure()
    if python is None:
        return {s: {"error": "prefect could not be installed"} for s in shapes}
    env = {
        **os.environ,
        "PREFECT_HOME": str(VENV.parent / "prefect-home"),
        "PREFECT_LOGGING_LEVEL": "ERROR",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    }
    out: dict[str, dict[str, Any]] = {}
    for shape in shapes:
        # Prefect's local server answers 503 when pushed harder than this; on failure
        # the shape is retried one flow at a time (its best case, not ours)
        for threads in (min(concurrency, 4), 1):
            proc = subprocess.run(
                [str(python), str(SCRIPT), shape, str(count), str(threads)],
                capture_output=True,
                text=True,
                env=env,
                timeout=1800,
            )
            lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
            if proc.returncode == 0 and lines:
                out[shape] = json.loads(lines[-1]) | {"threads": threads}
                break
            out[shape] = {"error": (proc.stderr or proc.stdout)[-300:]}
    return out
