"""A market-making computation graph.

Two accumulators feed one reactor: ``prices`` polls a (synthetic) price feed
every two seconds, ``orderbook`` takes order-book snapshots injected from
outside (``POST /v1/health/accumulators/orderbook/inject``). Whenever either
has a new value the graph fires: ``decide`` routes to ``trade`` when the
spread is tight and the book agrees with the feed, else to ``hold``.
"""

import math

import cloaca

_feed = {"n": 0}


@cloaca.polling_accumulator(interval="2s")
def prices():
    """A deterministic wave around 100 stands in for a real price feed."""
    _feed["n"] += 1
    return {"mid": round(100 + math.sin(_feed["n"] / 3), 3), "tick": _feed["n"]}


@cloaca.boundary_schema(bid=float, ask=float)
@cloaca.passthrough_accumulator
def orderbook(event):
    return {"bid": event["bid"], "ask": event["ask"], "spread": event["ask"] - event["bid"]}


@cloaca.reactor(name="market_maker", accumulators=["prices", "orderbook"], mode="when_any")
class MarketMaker:
    pass


with cloaca.ComputationGraphBuilder(
    "market_maker",
    reactor=MarketMaker,
    graph={
        "decide": {
            "inputs": ["prices", "orderbook"],
            "routes": {"Trade": "trade", "Hold": "hold"},
        },
        "trade": {},
        "hold": {},
    },
):

    @cloaca.node
    def decide(prices, orderbook):
        if orderbook is None or prices is None:
            return ("Hold", {"reason": "waiting for both the feed and an order book"})
        book_mid = (orderbook["bid"] + orderbook["ask"]) / 2
        if orderbook["spread"] < 0.2 and abs(book_mid - prices["mid"]) < 0.5:
            side = "BUY" if prices["mid"] > book_mid else "SELL"
            return ("Trade", {"side": side, "price": round(book_mid, 3)})
        return ("Hold", {"reason": f"spread {orderbook['spread']:.2f} or feed disagrees"})

    @cloaca.node
    def trade(signal):
        return {"action": signal["side"], "price": signal["price"]}

    @cloaca.node
    def hold(why):
        return {"action": "HOLD", "reason": why["reason"]}
