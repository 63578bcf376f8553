"""``python -m benchmarks.cli``: the whole-command benchmark (``run.py``)."""

from __future__ import annotations

import sys

from benchmarks.cli.run import main

sys.exit(main())
