"""Fixtures: a seeded Wix sandbox, and clients and connectors talking to it in process."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
import msgspec
import pytest

from connectors import model
from connectors.base import CallGate, ConnectorContext, RemoteWrite
from connectors.sandbox_server import SandboxOptions
from connectors.wix.auth import ApiKey
from connectors.wix.client import WixClient
from connectors.wix.connector import CONNECTOR, WixConnector, WixSettings
from connectors.wix.sandbox import WixSandbox, create_app
from daemon.credentials import Secret
from tests.helpers import RecordingGate

BASE_URL = "https://www.wixapis.com"


@pytest.fixture
def app() -> WixSandbox:
    return create_app(SandboxOptions(seed=5, catalog=300))


def headers(app: WixSandbox) -> dict[str, str]:
    """The headers of an authenticated call to ``app``."""
    return {"Authorization": app.state.api_key, "wix-site-id": app.state.site_id}


def make_client(http: httpx.AsyncClient, app: WixSandbox, gate: CallGate) -> WixClient:
    auth = ApiKey(Secret(app.state.api_key), app.state.site_id)
    return WixClient(http, BASE_URL, auth, gate)


@pytest.fixture
def client(http: httpx.AsyncClient, app: WixSandbox, gate: RecordingGate) -> WixClient:
    return make_client(http, app, gate)


def make_connector(
    http: httpx.AsyncClient,
    app: WixSandbox,
    gate: CallGate,
    secrets: dict[str, Secret] | None = None,
    **settings: Any,
) -> WixConnector:
    """A Wix connector for channel "wix" on the sandbox's site, through ``http``; ``secrets``
    replace the sandbox's API key and public key."""
    made = CONNECTOR.create(
        ConnectorContext(
            channel="wix",
            settings=WixSettings(site_id=app.state.site_id, **settings),
            secrets={
                "token": Secret(app.state.api_key),
                "public_key": Secret(app.webhooks.public_key),
            }
            | (secrets or {}),
            http=http,
            gate=gate,
            now=lambda: datetime.now(UTC),
        )
    )
    assert isinstance(made, WixConnector)
    return made


@pytest.fixture
def connector(http: httpx.AsyncClient, app: WixSandbox, gate: RecordingGate) -> WixConnector:
    return make_connector(http, app, gate)


def inventory_write(key: str, targets: dict[str, int]) -> RemoteWrite:
    push = model.InventoryPush(
        targets=[model.StockTarget(sku=s, quantity=q) for s, q in targets.items()]
    )
    return RemoteWrite(kind="inventory.set", key=key, payload=msgspec.json.encode(push))


def fulfil(
    key: str,
    order_id: str,
    lines: list[tuple[str, int]],
    number: str | None = "1Z999",
    carrier: str | None = "UPS",
    url: str | None = None,
) -> RemoteWrite:
    """A ``fulfillment.create`` of one shipment of ``order_id``: ``(sku, quantity)`` lines."""
    push = model.TrackingPush(
        store_order_id=order_id,
        shipment=model.Shipment(
            shipment_id=key,
            order_reference="ref",
            lines=[model.ShipmentLine(sku=s, quantity=q) for s, q in lines],
            carrier=carrier,
            tracking_number=number,
            tracking_url=url,
            shipped_at=None,
        ),
    )
    return RemoteWrite(kind="fulfillment.create", key=key, payload=msgspec.json.encode(push))
