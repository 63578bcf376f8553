"""Fan-out / fan-in with a skipped branch and a retried task.

    split --+--> price_eu ------+
            +--> price_us ------+--> merge
            +--> fetch_rates ---+
            +--> audit (skipped unless audit=true in the context)

``fetch_rates`` fails on its first attempt (a simulated flaky service: the
attempt count lives in a file under the system temp folder, keyed by the run's
batch id) and succeeds on the retry. ``audit`` has a trigger rule on the
context, so it is Skipped unless the run asks for it; ``merge`` still runs
because a Skipped dependency counts as resolved.
"""

import json
import tempfile
import uuid
from pathlib import Path

import cloaca

ORDERS = [
    {"id": 1, "region": "eu", "amount": 120.0},
    {"id": 2, "region": "us", "amount": 80.0},
    {"id": 3, "region": "eu", "amount": 42.5},
    {"id": 4, "region": "us", "amount": 300.0},
]


@cloaca.task(id="split", dependencies=[])
def split(context):
    """Split the batch by region and give the run a batch id."""
    orders = context.get("orders") or ORDERS
    context.set("batch_id", context.get("batch_id") or uuid.uuid4().hex)
    context.set("eu_orders", [o for o in orders if o["region"] == "eu"])
    context.set("us_orders", [o for o in orders if o["region"] == "us"])
    context.set("audit", bool(context.get("audit")))
    return context


@cloaca.task(id="price_eu", dependencies=["split"])
def price_eu(context):
    """EU prices include 20 % VAT."""
    total = sum(o["amount"] for o in context.get("eu_orders") or [])
    context.set("totals", {"eu": round(total * 1.2, 2)})
    return context


@cloaca.task(id="price_us", dependencies=["split"])
def price_us(context):
    """US prices include 8 % sales tax."""
    total = sum(o["amount"] for o in context.get("us_orders") or [])
    context.set("totals", {"us": round(total * 1.08, 2)})
    return context


@cloaca.task(
    id="fetch_rates",
    dependencies=["split"],
    retry_attempts=3,
    retry_backoff="fixed",
    retry_delay_ms=200,
)
def fetch_rates(context):
    """A flaky exchange-rate service: the first attempt of every batch fails."""
    marker = Path(tempfile.gettempdir()) / f"cloacina-example-rates-{context.get('batch_id')}"
    attempts = int(marker.read_text()) + 1 if marker.exists() else 1
    marker.write_text(str(attempts))
    if attempts == 1:
        raise ConnectionError("rates service unavailable (simulated; will be retried)")
    marker.unlink(missing_ok=True)
    context.set("usd_per_eur", 1.08)
    context.set("rates_attempts", attempts)
    return context


@cloaca.task(
    id="audit",
    dependencies=["split"],
    trigger_rules=cloaca.context_value("audit", "Equals", True),
)
def audit(context):
    """Only runs when the run's context says audit=true."""
    context.set("audited", json.dumps(context.get("eu_orders")) != "[]")
    return context


@cloaca.task(id="merge", dependencies=["price_eu", "price_us", "fetch_rates", "audit"])
def merge(context):
    """Fan-in: the parallel branches' outputs arrive merged into one context."""
    totals = context.get("totals") or {}
    rate = context.get("usd_per_eur")
    context.set(
        "summary",
        {
            "eu_eur": totals.get("eu"),
            "us_usd": totals.get("us"),
            "grand_total_usd": round(totals.get("eu", 0) * rate + totals.get("us", 0), 2),
            "audited": bool(context.get("audited")),
        },
    )
    return context


@cloaca.trigger(name="every_twenty_seconds", cron="5/20 * * * * *", timezone="UTC")
def every_twenty_seconds():
    """Run a batch at :05, :25 and :45 of every minute (6 fields: seconds first)."""
