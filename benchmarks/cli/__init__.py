"""The CLI benchmarks: ``run.py`` (whole commands) and ``tricks`` (each library trick on/off)."""
