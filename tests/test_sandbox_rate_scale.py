"""``SandboxOptions.rate_scale``: a sandbox's rate limit multiplied, for load tests that are
not about it (the chaos suite), and the platform's own number without it."""

from __future__ import annotations

import httpx
import pytest
import trio.testing

from connectors.sandbox_server import SandboxOptions
from connectors.shipbob.sandbox import SANDBOX_TOKEN, create_app


async def admitted_in_a_minute(options: SandboxOptions) -> int:
    """How many of 400 calls at once the ShipBob sandbox answers before its first 429."""
    transport = httpx.ASGITransport(app=create_app(options))
    headers = {"Authorization": f"Bearer {SANDBOX_TOKEN}"}
    async with httpx.AsyncClient(transport=transport, base_url="http://shipbob.test") as http:
        for call in range(400):
            response = await http.get("/2026-01/channel", headers=headers)
            if response.status_code == 429:
                return call
    return 400


@pytest.mark.parametrize(("scale", "limit"), [(1.0, 150), (2.0, 300)])
async def test_shipbob_sandbox_admits_its_limit_times_the_scale(
    autojump_clock: trio.testing.MockClock, scale: float, limit: int
) -> None:
    assert await admitted_in_a_minute(SandboxOptions(rate_scale=scale)) == limit
