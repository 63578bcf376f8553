"""A linear pipeline: ingest -> clean -> report.

Declares typed inputs with ``workflow_params`` (both optional here, so a run
with an empty context works) and reads ``CLOACINA_VAR_REPORT_TITLE`` through
``cloaca.var_or`` at run time.
"""

import random
import statistics

import cloaca

from linear_pipeline.cleaning import drop_outliers


@cloaca.workflow_params(sensor=(str, "greenhouse-1"), samples=(int, 24))
@cloaca.task(id="ingest", dependencies=[])
def ingest(context):
    """Read a batch of readings (simulated, seeded by the sensor name)."""
    samples = int(context.get("samples") or 24)
    sensor = context.get("sensor") or "greenhouse-1"
    rng = random.Random(sensor)
    readings = [round(20 + rng.gauss(0, 2), 2) for _ in range(samples)]
    readings[samples // 2] = 85.0  # one broken reading for clean to drop
    context.set("sensor", sensor)
    context.set("readings", readings)
    return context


@cloaca.task(id="clean", dependencies=["ingest"])
def clean(context):
    """Drop readings more than three standard deviations from the median."""
    readings = context.get("readings") or []
    kept = drop_outliers(readings)
    context.set("clean_readings", kept)
    context.set("dropped", len(readings) - len(kept))
    return context


@cloaca.task(id="report", dependencies=["clean"])
def report(context):
    """Summarise the clean readings under a configurable title."""
    kept = context.get("clean_readings") or []
    title = cloaca.var_or("REPORT_TITLE", "Daily sensor report")
    context.set(
        "report",
        {
            "title": title,
            "sensor": context.get("sensor"),
            "count": len(kept),
            "mean": round(statistics.fmean(kept), 2) if kept else None,
            "min": min(kept, default=None),
            "max": max(kept, default=None),
            "dropped": context.get("dropped"),
        },
    )
    return context


@cloaca.trigger(name="every_half_minute", cron="*/30 * * * * *")
def every_half_minute():
    """Run the pipeline at :00 and :30 of every minute (6 fields: seconds first)."""
