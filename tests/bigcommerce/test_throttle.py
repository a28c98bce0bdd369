"""Pacing: the real channel limiter, fed by BigCommerce's window headers, is never throttled."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import msgspec
import pytest
import trio
import trio.testing

from actors.channel import CallGate
from actors.ratelimit import RateLimiter
from connectors.base import CallGate as Gate
from connectors.base import CallReport, RateSignal
from connectors.bigcommerce import mapping, wire
from connectors.bigcommerce.connector import CONNECTOR
from connectors.bigcommerce.sandbox import SandboxApp, create_app
from connectors.errors import RateLimited
from connectors.sandbox_server import SandboxOptions
from tests.bigcommerce.conftest import CHANNEL, RecordingGate, inventory_write, make_connector

CATALOG = 10_000


async def sync_catalog(app: SandboxApp, gate: Gate) -> tuple[int, int]:
    """Read every product, then set every item's stock twice (a reconcile, then another after
    a round of sales): ``(variants read, items written)``."""
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app)) as http:
        connector = make_connector(http, gate)
        records = [
            r for p in [p async for p in connector.read("products", None)] for r in p.records
        ]
        items = [
            i
            for r in records
            for i in mapping.items_from_product(
                CHANNEL, msgspec.json.decode(r.body, type=wire.Product)
            )
        ]
        for round_ in range(2):
            targets = {i.sku: 10 + round_ for i in items}
            await connector.write(inventory_write(targets, key=f"round-{round_}"))
    return len(items), len(targets)


async def test_ten_thousand_variants_synced_without_a_throttle(
    mock_clock: trio.testing.MockClock,
) -> None:
    app = create_app(SandboxOptions(seed=11, catalog=CATALOG))
    gate = CallGate(RateLimiter(CONNECTOR.requests_per_second, CONNECTOR.burst), paused=False)
    started = trio.current_time()
    variants, written = await sync_catalog(app, gate)
    elapsed = trio.current_time() - started
    assert variants == CATALOG and written == CATALOG
    assert app.state.counters["throttled"] == 0
    products = len(app.state.products)
    # 250 products a page; per round 100 SKUs a look-up (fallback keys need none), 250
    # products a tracking read, and 2,000 items an adjustment: one per variant tracked by
    # variant, one per product tracked by product.
    state = app.state
    with_sku = sum(1 for _, v in state.variants() if v.sku)
    adjusted = sum(1 for p, _ in state.variants() if p.inventory_tracking == "variant") + sum(
        1 for p in state.products.values() if p.inventory_tracking == "product"
    )
    per_round = -(-with_sku // 100) + -(-products // 250) + -(-adjusted // 2000)
    assert app.state.counters["requests"] == -(-products // 250) + 2 * per_round == 261
    assert app.state.counters["requests"] > 150  # more than one window's quota
    # Paced at 150 per 30 s after the first burst (48 virtual seconds here); within the first
    # window the requests-left header stopped the limiter until the reset (see the control
    # below, which paces by rate alone).
    rate, burst = CONNECTOR.requests_per_second, CONNECTOR.burst
    assert elapsed >= (app.state.counters["requests"] - burst) / rate


async def test_unpaced_the_same_sync_is_throttled(mock_clock: trio.testing.MockClock) -> None:
    # The control for the test above: the sandbox's window really is too small for the sync
    # unpaced, so "no 429" there is the limiter's doing.
    app = create_app(SandboxOptions(seed=11, catalog=CATALOG))
    with pytest.raises(RateLimited) as caught:
        await sync_catalog(app, RecordingGate())
    assert app.state.counters["throttled"] == 1
    assert app.state.counters["requests"] == 151
    assert caught.value.retry_after == 30.0


class WindowBlindGate:
    """The channel's gate, told only of Retry-After: what pacing by rate alone would do."""

    def __init__(self, inner: CallGate) -> None:
        self.inner = inner

    @asynccontextmanager
    async def call(self, cost: float = 1.0) -> AsyncIterator[CallReport]:
        async with self.inner.call(cost) as call:
            yield RetryAfterOnly(call)


class RetryAfterOnly:
    def __init__(self, call: CallReport) -> None:
        self.call = call

    def observe(self, signal: RateSignal) -> None:
        self.call.observe(RateSignal(retry_after=signal.retry_after))


async def test_pacing_by_rate_alone_meets_the_window(mock_clock: trio.testing.MockClock) -> None:
    # The second control: the documented rate with a burst passes 150 inside one fixed
    # window, so it is the requests-left header that keeps the paced sync above unthrottled.
    app = create_app(SandboxOptions(seed=11, catalog=CATALOG))
    limiter = RateLimiter(CONNECTOR.requests_per_second, CONNECTOR.burst)
    with pytest.raises(RateLimited):
        await sync_catalog(app, WindowBlindGate(CallGate(limiter, paused=False)))
    assert app.state.counters["throttled"] == 1
    assert app.state.counters["requests"] == 151
