"""Plain helpers imported by the tasks module (tasks may live in several modules)."""

import statistics


def drop_outliers(values, limit=3.0):
    """Values within ``limit`` median absolute deviations (scaled) of the median."""
    if len(values) < 3:
        return list(values)
    median = statistics.median(values)
    spread = statistics.median(abs(v - median) for v in values) * 1.4826 or 1.0
    return [v for v in values if abs(v - median) <= limit * spread]
