"""Pacing: the real channel limiter, fed by Shopify's cost answers, never gets throttled."""

from __future__ import annotations

import math

import httpx
import msgspec
import pytest
import trio
import trio.testing

from actors.channel import CallGate
from actors.ratelimit import RateLimiter
from connectors.errors import RateLimited
from connectors.sandbox_server import SandboxOptions
from connectors.shopify import wire
from connectors.shopify.client import THROTTLE_RETRIES
from connectors.shopify.connector import CONNECTOR
from connectors.shopify.sandbox import create_app
from tests.shopify.conftest import RecordingGate, make_connector


async def test_ten_thousand_variants_read_without_a_throttle(
    autojump_clock: trio.testing.MockClock,
) -> None:
    app = create_app(SandboxOptions(seed=11, catalog=10_000))
    gate = CallGate(RateLimiter(CONNECTOR.requests_per_second, CONNECTOR.burst), paused=False)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app)) as http:
        connector = make_connector(http, gate)
        started = trio.current_time()
        pages = [page async for page in connector.read("products", None)]
    records = [r for page in pages for r in page.records]
    variants = {
        v.id for r in records for v in msgspec.json.decode(r.body, type=wire.Product).variants.nodes
    }
    assert len(variants) == 10_000
    assert [r.updated_at for r in records] == sorted(r.updated_at for r in records)
    assert app.state.counters["throttled"] == 0
    assert app.state.counters["requests"] == math.ceil(len(app.state.products) / 17)
    assert {entry["outcome"] for entry in app.state.request_log} == {"ok"}
    # The limiter did have to wait: hundreds of calls of 954 points exceed the 2000-point bucket.
    assert trio.current_time() - started > 10


async def test_without_pacing_the_same_read_is_throttled(
    autojump_clock: trio.testing.MockClock,
) -> None:
    # The control for the test above: the sandbox's bucket really is too small to read the
    # catalog unpaced, so "no THROTTLED" there is the limiter's doing.
    app = create_app(SandboxOptions(seed=11, catalog=10_000))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app)) as http:
        connector = make_connector(http, RecordingGate())
        with pytest.raises(RateLimited) as caught:
            async for _ in connector.read("products", None):
                pass
    # Unpaced, the client's re-sends find the bucket still empty (no time passed).
    assert app.state.counters["throttled"] == THROTTLE_RETRIES + 1
    assert caught.value.retry_after is not None and 0 < caught.value.retry_after <= 9.54


async def test_products_read_under_throttling_completes(
    autojump_clock: trio.testing.MockClock,
) -> None:
    # Another app drains the bucket before each of the first calls: the client waits at the
    # gate and sends again instead of raising RateLimited (which would spend the actor's
    # attempts and throw away the pages already collected).
    app = create_app(SandboxOptions(seed=11, catalog=500))
    app.state.faults.throttle_burst = THROTTLE_RETRIES
    gate = CallGate(RateLimiter(CONNECTOR.requests_per_second, CONNECTOR.burst), paused=False)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app)) as http:
        connector = make_connector(http, gate)
        pages = [page async for page in connector.read("products", None)]
    assert len({r.key for page in pages for r in page.records}) == len(app.state.products)
    assert app.state.counters["throttled"] == THROTTLE_RETRIES
    pages_read = math.ceil(len(app.state.products) / 17)
    assert app.state.counters["requests"] == pages_read + THROTTLE_RETRIES
