"""Daemon benchmarks: reconcile, package-drop latency, cron lateness."""
