"""Fixtures: a seeded BigCommerce sandbox, a client and a connector talking to it in process."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from datetime import UTC, datetime
from typing import Any

import httpx
import msgspec
import pytest
import trio
import trio.testing

from connectors import model
from connectors.base import CallGate, ConnectorContext, RemoteWrite, WebhookEvent
from connectors.bigcommerce import mapping, wire
from connectors.bigcommerce.client import BigCommerceClient
from connectors.bigcommerce.connector import CONNECTOR, BigCommerceConnector, BigCommerceSettings
from connectors.bigcommerce.sandbox import SANDBOX_TOKEN, STORE_HASH, SandboxApp, create_app
from connectors.bigcommerce.sandbox_orders import render_product
from connectors.bigcommerce.sandbox_state import Order
from connectors.errors import InvalidSignature
from connectors.sandbox_server import SandboxOptions
from connectors.sandboxkit import header_map, read_body
from daemon.credentials import Secret
from tests.helpers import RecordingGate

BASE_URL = "http://127.0.0.1:9"
"""Where the client thinks the API is (requests go through the ASGI transport instead)."""
API = f"{BASE_URL}/stores/{STORE_HASH}"
SECRET = "whk-0123456789abcdef-sandbox"
CHANNEL = "bc"
HEADERS = {"X-Auth-Token": SANDBOX_TOKEN, "Accept": "application/json"}


@pytest.fixture
def app() -> SandboxApp:
    return create_app(SandboxOptions(seed=7, catalog=40))


@pytest.fixture
def client(http: httpx.AsyncClient, gate: RecordingGate) -> BigCommerceClient:
    return BigCommerceClient(http, BASE_URL, STORE_HASH, Secret(SANDBOX_TOKEN), gate)


@pytest.fixture
def mock_clock() -> trio.testing.MockClock:
    """Virtual time that jumps as soon as every task waits (no threads or real I/O here)."""
    return trio.testing.MockClock(autojump_threshold=0)


def settings(**overrides: Any) -> BigCommerceSettings:
    return BigCommerceSettings(store_hash=STORE_HASH, base_url=BASE_URL, **overrides)


def make_connector(
    http: httpx.AsyncClient, gate: CallGate, **overrides: Any
) -> BigCommerceConnector:
    context = ConnectorContext(
        channel=CHANNEL,
        settings=settings(**overrides),
        secrets={"token": Secret(SANDBOX_TOKEN), "webhook_secret": Secret(SECRET)},
        http=http,
        gate=gate,
        now=lambda: datetime.now(UTC),
    )
    return BigCommerceConnector(context)


@pytest.fixture
def connector(http: httpx.AsyncClient, gate: RecordingGate) -> BigCommerceConnector:
    return make_connector(http, gate)


def canonical_lines(order: Order) -> list[tuple[str, int]]:
    """The canonical SKU and quantity of each line of a sandbox order."""
    lines = []
    for line in order.products:
        decoded = msgspec.convert(render_product(line), wire.OrderProduct)
        lines.append((mapping.line_sku(CHANNEL, decoded), line.quantity))
    return lines


def tracking_write(
    order: Order,
    lines: list[tuple[str, int]],
    number: str | None = "1Z999AA10123456784",
    carrier: str | None = "UPS",
    url: str | None = None,
) -> RemoteWrite:
    shipment = model.Shipment(
        shipment_id=f"sb-{order.id}-{number}",
        order_reference=f"ref-{order.id}",
        lines=[model.ShipmentLine(sku=sku, quantity=q) for sku, q in lines],
        carrier=carrier,
        tracking_number=number,
        tracking_url=url,
        shipped_at=None,
    )
    push = model.TrackingPush(store_order_id=str(order.id), shipment=shipment)
    return RemoteWrite(
        kind="fulfillment.create", key=shipment.shipment_id, payload=msgspec.json.encode(push)
    )


def inventory_write(
    targets: dict[str, int],
    key: str = "inv-1",
    *,
    reconcile: bool = False,
    read_first: bool = False,
) -> RemoteWrite:
    push = model.InventoryPush(
        targets=[model.StockTarget(sku=s, quantity=q) for s, q in targets.items()],
        reconcile=reconcile,
        read_first=read_first,
    )
    return RemoteWrite(kind="inventory.set", key=key, payload=msgspec.json.encode(push))


def open_order(app: SandboxApp) -> Order:
    """The first seeded order awaiting fulfillment."""
    return next(o for o in app.state.orders.values() if o.status_id == 11)


class Receiver:
    """An ASGI webhook endpoint that verifies with the connector's check and answers scripted
    statuses (200 once the script is used up; 401 for a delivery that does not verify)."""

    def __init__(self, secret: str = SECRET, statuses: list[int] | None = None) -> None:
        self.secret = secret
        self.statuses = statuses or []
        self.accepted: list[WebhookEvent] = []
        self.rejected: list[str] = []
        self.raw: list[tuple[dict[str, str], bytes]] = []
        self.arrived = trio.Event()

    async def __call__(
        self,
        scope: MutableMapping[str, Any],
        receive: Callable[[], Awaitable[MutableMapping[str, Any]]],
        send: Callable[[MutableMapping[str, Any]], Awaitable[None]],
    ) -> None:
        body = await read_body(receive)
        headers = header_map(scope)
        self.raw.append((headers, body))
        secrets = {"token": Secret(SANDBOX_TOKEN), "webhook_secret": Secret(self.secret)}
        try:
            self.accepted.append(CONNECTOR.verify_webhook(settings(), secrets, headers, body))
            status = self.statuses.pop(0) if self.statuses else 200
        except InvalidSignature as exc:
            self.rejected.append(str(exc))
            status = 401
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": b""})
        self.arrived.set()


async def subscribe(
    http: httpx.AsyncClient, secret: str = SECRET, scopes: tuple[str, ...] | None = None
) -> Any:
    """Register hooks for the test receiver through the sandbox hook, with the secret header."""
    body: dict[str, Any] = {
        "destination": "https://receiver.example/webhooks",
        "headers": {"X-Shelfsync-Webhook-Secret": secret},
    }
    if scopes is not None:
        body["scopes"] = list(scopes)
    response = await http.post(f"{BASE_URL}/_sandbox/webhooks", json=body)
    assert response.status_code == 201, response.text
    return response.json()
