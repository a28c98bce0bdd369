"""Pacing at scale: 2,000 open orders read and 100 orders marked shipped through the real
channel limiter, fed by ShipStation's X-Rate-Limit headers, on virtual time: no 429."""

from __future__ import annotations

import math
from datetime import timedelta

import httpx
import msgspec
import pytest
import trio
import trio.testing

from actors.channel import CallGate
from actors.ratelimit import RateLimiter
from connectors import model
from connectors.base import CallGate as Gate
from connectors.base import RemoteWrite
from connectors.errors import RateLimited
from connectors.sandbox_server import SandboxOptions
from connectors.shipstation.client import PAGE_SIZE
from connectors.shipstation.connector import CONNECTOR
from connectors.shipstation.sandbox import SandboxApp, create_app
from tests.shipstation.conftest import NOW, STORE_ID, RecordingGate, make_connector

ORDERS = 2_000
WRITES = 100


def busy_store() -> SandboxApp:
    app = create_app(SandboxOptions(seed=11, catalog=300))
    app.state.now = lambda: NOW
    for n in range(ORDERS):
        app.state.place_order(store_id=STORE_ID, at=NOW + timedelta(seconds=n), notify=False)
    return app


def mark(order_id: str, n: int) -> RemoteWrite:
    shipment = model.Shipment(
        shipment_id=f"sb-{n}",
        order_reference=order_id,
        lines=[],
        carrier="UPS",
        tracking_number=f"1Z{n:08d}",
        tracking_url=None,
        shipped_at=NOW,
    )
    payload = msgspec.json.encode(model.TrackingPush(store_order_id=order_id, shipment=shipment))
    return RemoteWrite(kind="fulfillment.create", key=f"w-{n}", payload=payload)


async def read_then_mark(app: SandboxApp, gate: Gate) -> list[str]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app)) as http:
        connector = make_connector(http, gate)
        keys = [r.key async for page in connector.read("orders", None) for r in page.records]
        open_orders = [k for k in keys if app.state.orders[int(k)].order_status != "cancelled"]
        for n, key in enumerate(open_orders[:WRITES]):
            await connector.write(mark(key, n))
    return keys


async def test_two_thousand_orders_and_a_hundred_marks_run_without_a_throttle(
    autojump_clock: trio.testing.MockClock,
) -> None:
    app = busy_store()
    gate = CallGate(RateLimiter(CONNECTOR.requests_per_second, CONNECTOR.burst), paused=False)
    started = trio.current_time()
    keys = await read_then_mark(app, gate)
    elapsed = trio.current_time() - started
    assert len(keys) == len(set(keys)) >= ORDERS
    assert app.state.counters["throttled"] == 0
    # Reads: the awaiting orders (2,000 placed, 3 seeded) take five pages, the first of 500,
    # each next one asked from the last stamp seen and repeating that one order (499 new);
    # the cancelled ones one page. Writes: a fulfillments lookup and a markasshipped each.
    awaiting = len(keys) - 1
    reads = 1 + math.ceil((awaiting - PAGE_SIZE) / (PAGE_SIZE - 1)) + 1
    assert (awaiting, reads) == (2_003, 6)
    assert app.state.counters["requests"] == reads + 2 * WRITES == 206
    assert len(app.state.fulfillments) == WRITES
    assert {str(f.order_id) for f in app.state.fulfillments} <= set(keys)
    # 206 calls at 40 a minute: the first 40 at once, then a window each 60 s.
    assert elapsed == pytest.approx(60 * (206 // 40), abs=2)


async def test_without_pacing_the_same_run_is_throttled(
    autojump_clock: trio.testing.MockClock,
) -> None:
    # The control for the test above: the window really is too small for this run unpaced,
    # so "no 429" there is the limiter's doing.
    app = busy_store()
    with pytest.raises(RateLimited) as caught:
        await read_then_mark(app, RecordingGate())
    assert app.state.counters["throttled"] == 1
    assert app.state.counters["requests"] == 41
    assert caught.value.retry_after == 60
