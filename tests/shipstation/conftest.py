"""Fixtures: a seeded ShipStation sandbox, and a client and connector talking to it through
httpx's ASGI transport."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import trio
import trio.testing

from connectors.base import CallGate, ConnectorContext
from connectors.errors import InvalidSignature
from connectors.sandbox_server import SandboxOptions
from connectors.sandboxkit import read_body
from connectors.shipstation import webhooks
from connectors.shipstation.client import ShipStationClient
from connectors.shipstation.connector import ShipStationConnector, ShipStationSettings
from connectors.shipstation.sandbox import SANDBOX_KEY, SANDBOX_SECRET, SandboxApp, create_app
from daemon.credentials import Secret
from tests.helpers import RecordingGate

BASE_URL = "https://shipstation.test"
STORE_ID = 2001
"""The seeded store the test channel reads (``Web Shop``)."""
WEBHOOK_SECRET = "ss-webhook-0123456789abcdef"
AUTH = httpx.BasicAuth(SANDBOX_KEY, SANDBOX_SECRET)
NOW = datetime(2026, 1, 6, 18, 0, tzinfo=UTC)

__all__ = ["RecordingGate"]


@pytest.fixture
def app() -> SandboxApp:
    sandbox = create_app(SandboxOptions(seed=3, catalog=24))
    sandbox.state.now = lambda: NOW
    return sandbox


@pytest.fixture
async def http(app: SandboxApp) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url=BASE_URL
    ) as client:
        yield client


@pytest.fixture
def client(http: httpx.AsyncClient, gate: RecordingGate) -> ShipStationClient:
    return ShipStationClient(http, BASE_URL, Secret(SANDBOX_KEY), Secret(SANDBOX_SECRET), gate)


def make_connector(
    http: httpx.AsyncClient,
    gate: CallGate,
    *,
    store_id: int = STORE_ID,
    notify_sales_channel: bool = True,
    secret: str = SANDBOX_SECRET,
) -> ShipStationConnector:
    settings = ShipStationSettings(
        store_id=store_id, base_url=BASE_URL, notify_sales_channel=notify_sales_channel
    )
    secrets = {
        "api_key": Secret(SANDBOX_KEY),
        "api_secret": Secret(secret),
        "webhook_secret": Secret(WEBHOOK_SECRET),
    }
    return ShipStationConnector(
        ConnectorContext(
            channel="ss", settings=settings, secrets=secrets, http=http, gate=gate, now=lambda: NOW
        )
    )


@pytest.fixture
def connector(http: httpx.AsyncClient, gate: RecordingGate) -> ShipStationConnector:
    return make_connector(http, gate)


@pytest.fixture
def mock_clock() -> trio.testing.MockClock:
    """Virtual time that jumps as soon as every task waits (no threads or real I/O here)."""
    return trio.testing.MockClock(autojump_threshold=0)


class Receiver:
    """An ASGI webhook endpoint that verifies with our verifier (the request target as
    ``:path``, as the daemon passes it) and answers scripted statuses."""

    def __init__(self, statuses: list[int] | None = None) -> None:
        self.statuses = statuses or []
        self.accepted: list[webhooks.WebhookEvent] = []
        self.rejected: list[str] = []
        self.arrived = trio.Event()

    async def __call__(
        self,
        scope: MutableMapping[str, Any],
        receive: Callable[[], Awaitable[MutableMapping[str, Any]]],
        send: Callable[[MutableMapping[str, Any]], Awaitable[None]],
    ) -> None:
        body = await read_body(receive)
        headers = {k.decode(): v.decode() for k, v in scope["headers"]}
        query = scope.get("query_string", b"").decode()
        headers[":path"] = scope["path"] + (f"?{query}" if query else "")
        try:
            self.accepted.append(webhooks.verify(WEBHOOK_SECRET, headers, body))
            status = self.statuses.pop(0) if self.statuses else 200
        except InvalidSignature as exc:
            self.rejected.append(str(exc))
            status = 401
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": b""})
        self.arrived.set()
