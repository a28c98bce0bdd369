"""``SandboxOptions.rate_scale`` and the ``rate_scale`` fault knob: a sandbox's rate limit
multiplied, for load tests that are not about it (the chaos suite, the benches' unmeasured
phases), and the platform's own number without it."""

from __future__ import annotations

import importlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
import trio.testing

from connectors.sandbox_play import SandboxFaults, Webhooked
from connectors.sandbox_server import SandboxOptions
from connectors.shipbob import sandbox_play as shipbob_play
from connectors.shipbob.sandbox import SANDBOX_TOKEN, create_app
from tests.five_platforms import PLATFORMS

SANDBOX_URL = "http://sandbox.test"


@asynccontextmanager
async def shipbob(options: SandboxOptions) -> AsyncIterator[httpx.AsyncClient]:
    """A client of a new ShipBob sandbox of ``options``, authorised for its API."""
    transport = httpx.ASGITransport(app=create_app(options))
    headers = {"Authorization": f"Bearer {SANDBOX_TOKEN}"}
    async with httpx.AsyncClient(
        transport=transport, base_url=SANDBOX_URL, headers=headers
    ) as http:
        yield http


async def admitted_at_once(http: httpx.AsyncClient) -> int:
    """How many of 400 calls at once the ShipBob sandbox answers before its first 429."""
    for call in range(400):
        response = await http.get("/2026-01/channel")
        if response.status_code == 429:
            return call
    return 400


def played(platform: str) -> tuple[Any, Webhooked]:
    """A new sandbox of ``platform`` (its ASGI app) and its demo play, served at
    :data:`SANDBOX_URL`."""
    options = SandboxOptions(catalog=6)
    if platform == "shipbob":
        provider = shipbob_play.demo_provider(options)
        return provider.app, provider.played(SANDBOX_URL)[0]
    module = importlib.import_module(f"connectors.{platform}.sandbox_play")
    storefront = module.demo_storefront(options)
    return storefront.app, storefront.played(SANDBOX_URL).play


@pytest.mark.parametrize(("scale", "limit"), [(1.0, 150), (2.0, 300)])
async def test_shipbob_sandbox_admits_its_limit_times_the_scale(
    autojump_clock: trio.testing.MockClock, scale: float, limit: int
) -> None:
    async with shipbob(SandboxOptions(rate_scale=scale)) as http:
        assert await admitted_at_once(http) == limit


async def test_a_scale_set_at_run_time_is_enforced_from_an_empty_window(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with shipbob(SandboxOptions()) as http:
        assert await admitted_at_once(http) == 150
        await http.post("/_sandbox/faults", json={"rate_scale": 2.0})
        # The same instant: the 150 calls just admitted do not count against the new limit.
        assert await admitted_at_once(http) == 300
        await http.post("/_sandbox/faults", json={"rate_scale": 0.5})
        assert await admitted_at_once(http) == 75


async def test_a_scale_that_is_not_positive_is_refused() -> None:
    async with shipbob(SandboxOptions()) as http:
        refused = await http.post("/_sandbox/faults", json={"rate_scale": 0})
        assert refused.status_code == 400
        assert (await http.get("/_sandbox/state")).json()["faults"]["rate_scale"] == 1.0


@pytest.mark.parametrize("platform", PLATFORMS)
async def test_usage_reports_the_platforms_limit_times_the_scale_injected_last(
    platform: str,
) -> None:
    app, play = played(platform)
    documented = play.usage()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app)) as http:
        await play.inject(http, SandboxFaults(rate_scale=3.0))
        await play.inject(http, SandboxFaults(rate_scale=0.5))
        halved = play.usage()
        await play.inject(http, SandboxFaults())  # faults off; the limits stay
    # A window's quota is its burst and scales with it; Shopify's bucket keeps its size.
    burst = documented.burst if platform == "shopify" else documented.burst / 2
    assert (halved.rate, halved.burst) == (pytest.approx(documented.rate / 2), burst)
    assert play.usage() == halved
