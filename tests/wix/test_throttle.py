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
    # 51 calls within the first minute's window of 200: none waited.
    assert elapsed == 0


async def test_pacing_holds_a_sliding_minute_below_wix_limit(
    autojump_clock: trio.testing.MockClock,
) -> None:
    # 600 calls through the limiter: no 60 s window ever holds more than 200, and each
    # minute's window is spent at once (200 calls), not spread over it.
    app = create_app(SandboxOptions(seed=11, catalog=5))
    gate = CallGate(wix_limiter(), paused=False)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app)) as http:
        connector = make_connector(http, app, gate)
        for _ in range(600):
            await connector.client.query_products(None, [{"numericId": "asc"}], 1)
    times = [r["at"] for r in app.state.requests]
    assert app.throttled == 0
    assert max(sum(1 for t in times if start <= t < start + 60) for start in times) <= 200
    assert [sum(1 for t in times if t - times[0] < m * 60) for m in (1, 2, 3)] == [200, 400, 600]


class FirstCallLate(httpx.AsyncBaseTransport):
    """The first request reaches the site ``late`` seconds after the channel let it through
    (a slow network, a connection being opened); every other request at once."""

    def __init__(self, inner: httpx.AsyncBaseTransport, late: float) -> None:
        self._inner = inner
        self._late: float | None = late

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        late, self._late = self._late, None
        if late:
            await trio.sleep(late)
        return await self._inner.handle_async_request(request)


async def throttled_with_first_call_late(late: float) -> int:
    """200 callers side by side, two calls each, paced by a Wix channel's limiter, the very
    first call reaching the site ``late`` seconds after it was let through: the site's 429s.

    Each caller's first call is let through at once and their second calls all a window
    later, as the first ones leave the channel's window: the site still counts the late one
    if it arrived more than a minute before them."""
    app = create_app(SandboxOptions(seed=11, catalog=5))
    gate = CallGate(wix_limiter(), paused=False)
    refused = 0
    async with httpx.AsyncClient(
        transport=FirstCallLate(httpx.ASGITransport(app=app), late)
    ) as http:
        connector = make_connector(http, app, gate)

        async def caller() -> None:
            nonlocal refused
            for _ in range(2):
                try:
                    await connector.client.query_products(None, [{"numericId": "asc"}], 1)
                except RateLimited:
                    refused += 1

        async with trio.open_nursery() as nursery:
            for _ in range(200):
                nursery.start_soon(caller)
    assert refused == app.throttled
    return app.throttled


async def test_the_whole_site_budget_is_safe_for_calls_that_arrive_up_to_a_second_late(
    autojump_clock: trio.testing.MockClock,
) -> None:
    # The channel spends all 200 calls of the site's minute: a call is held in its window a
    # second more than the site holds it (TRAVEL_SLACK), which covers a call up to a second late.
    assert await throttled_with_first_call_late(0.95) == 0
    # The control: later than that, the site counts it beside a whole window of new calls.
    assert await throttled_with_first_call_late(1.05) == 1


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
