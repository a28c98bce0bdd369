"""Pacing: a 10,000-variant catalog read through the real channel limiter is never throttled."""

from __future__ import annotations

import httpx
import msgspec
import pytest
import trio
import trio.testing

from actors.channel import CallGate
from actors.ratelimit import RateLimiter, shaped_limiter
from connectors.errors import RateLimited
from connectors.sandbox_server import SandboxOptions
from connectors.wix import wire
from connectors.wix.client import FIRST_THROTTLE_WAIT
from connectors.wix.connector import CONNECTOR
from connectors.wix.sandbox import create_app
from tests.wix.conftest import RecordingGate, make_connector


async def test_ten_thousand_variants_read_without_a_throttle(
    autojump_clock: trio.testing.MockClock,
) -> None:
    app = create_app(SandboxOptions(seed=11, catalog=10_000))
    gate = CallGate(wix_limiter(), paused=False)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app)) as http:
        connector = make_connector(http, app, gate)
        started = trio.current_time()
        pages = [page async for page in connector.read("products", None)]
        elapsed = trio.current_time() - started
    records = [r for page in pages for r in page.records]
    variants = sum(len(msgspec.json.decode(r.body, type=wire.Product).variants) for r in records)
    assert variants == 10_000
    assert len(records) == len(app.state.products) == 2_544
    assert [r.updated_at for r in records] == sorted(r.updated_at for r in records)
    assert app.throttled == 0
    # A page of 100 products, then the rest of its last stamp's run: two calls per full page.
    full_pages = len(records) // 100
    assert len(app.state.requests) == 2 * full_pages + 1 == 51
    # 51 calls within the first minute's window of 195: none waited.
    assert elapsed == 0


async def test_pacing_holds_a_sliding_minute_below_wix_limit(
    autojump_clock: trio.testing.MockClock,
) -> None:
    # 600 calls through the limiter: no 60 s window ever holds more than 200, and each
    # minute's window is spent at once (195 calls), not spread over it.
    app = create_app(SandboxOptions(seed=11, catalog=5))
    gate = CallGate(wix_limiter(), paused=False)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app)) as http:
        connector = make_connector(http, app, gate)
        for _ in range(600):
            await connector.client.query_products(None, [{"numericId": "asc"}], 1)
    times = [r["at"] for r in app.state.requests]
    assert app.throttled == 0
    assert max(sum(1 for t in times if start <= t < start + 60) for start in times) <= 200
    assert [sum(1 for t in times if t - times[0] < m * 60) for m in (1, 2, 3)] == [195, 390, 585]


async def test_without_pacing_the_site_throttles_at_two_hundred(
    autojump_clock: trio.testing.MockClock,
) -> None:
    # The control: the sandbox does refuse the 201st call of a minute.
    app = create_app(SandboxOptions(seed=11, catalog=5))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app)) as http:
        connector = make_connector(http, app, RecordingGate())
        with pytest.raises(RateLimited) as caught:
            for _ in range(201):
                await connector.client.query_products(None, [{"numericId": "asc"}], 1)
    assert app.throttled == 1
    assert caught.value.retry_after == FIRST_THROTTLE_WAIT


def wix_limiter() -> RateLimiter:
    """The limiter a Wix channel's actor paces its calls with."""
    return shaped_limiter(
        CONNECTOR.requests_per_second, CONNECTOR.burst, sliding_window=CONNECTOR.sliding_window
    )
