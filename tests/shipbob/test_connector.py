"""The ShipBob connector through the contract the actor uses, against the sandbox."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import msgspec
import pytest

from connectors.base import ConnectorContext, RemoteWrite
from connectors.errors import RecordError
from connectors.registry import BUILTIN
from connectors.shipbob import mapping, wire
from connectors.shipbob.connector import (
    CONNECTOR,
    InventorySnapshot,
    ShipBobConnector,
    ShipBobSettings,
)
from connectors.shipbob.sandbox import SANDBOX_TOKEN, SandboxApp
from daemon.config import load_config
from daemon.credentials import Secret
from tests.shipbob.conftest import BASE_URL, RecordingGate, order_of

NOW = datetime(2026, 2, 1, tzinfo=UTC)


@pytest.fixture
def connector(http: httpx.AsyncClient, gate: RecordingGate) -> ShipBobConnector:
    context = ConnectorContext(
        channel="fulfil",
        settings=ShipBobSettings(channel_id=4007, base_url=BASE_URL),
        secrets={"token": Secret(SANDBOX_TOKEN), "webhook_secret": Secret("whsec_" + "A" * 32)},
        http=http,
        gate=gate,
        now=lambda: NOW,
    )
    return ShipBobConnector(context)


def write(kind: str, key: str, payload: object) -> RemoteWrite:
    return RemoteWrite(kind=kind, key=key, payload=msgspec.json.encode(payload))


async def test_order_create_is_idempotent_under_its_reference(
    connector: ShipBobConnector, app: SandboxApp
) -> None:
    order = order_of("42", "SKU-0001")
    first = await connector.write(write("order.create", "web:42", order))
    again = await connector.write(write("order.create", "web:42", order))
    assert first.remote_id == again.remote_id
    assert (first.summary, again.summary) == ("order created", "order already existed")
    assert len(app.state.orders) == 1


async def test_shipments_stream_yields_raw_orders_with_their_update_time(
    connector: ShipBobConnector, http: httpx.AsyncClient
) -> None:
    created = await connector.write(write("order.create", "web:43", order_of("43", "SKU-0002")))
    response = await http.post(
        f"{BASE_URL}/_sandbox/ship",
        json={
            "order_id": int(created.remote_id or 0),
            "shipments": [
                {
                    "products": [{"sku": "SKU-0002", "quantity": 1}],
                    "carrier": "USPS",
                    "tracking_number": "Z1",
                }
            ],
        },
    )
    assert response.status_code == 200
    pages = [page async for page in connector.read("shipments", None)]
    [record] = [r for page in pages for r in page.records]
    order = msgspec.json.decode(record.body, type=wire.Order)
    assert record.key == created.remote_id == str(order.id)
    assert record.updated_at == order.shipments[0].last_update_at

    shipment_ids = [str(s.id) for s in order.shipments]
    marked = await connector.write(
        write("tracking.uploaded", "t:1", {"shipment_ids": shipment_ids})
    )
    assert marked.summary == "1 marked"
    assert [p async for p in connector.read("shipments", None)] == [
        msgspec.structs.replace(pages[0], records=[])
    ]


async def test_inventory_stream_is_a_snapshot_per_item(
    connector: ShipBobConnector, app: SandboxApp
) -> None:
    records = [r async for page in connector.read("inventory", None) for r in page.records]
    assert [r.key for r in records] == [str(i) for i in sorted(app.state.stock)]
    snapshot = msgspec.json.decode(records[0].body, type=InventorySnapshot)
    assert (
        snapshot.totals is not None
        and snapshot.totals.inventory_id == snapshot.locations.inventory_id
    )
    assert all(r.updated_at == NOW for r in records)


async def test_cancel_by_reference_and_product_create(
    connector: ShipBobConnector, app: SandboxApp
) -> None:
    await connector.write(write("order.create", "web:44", order_of("44", "SKU-0003")))
    cancel = {"origin": "shopify:web.myshopify.com", "store_order_id": "44"}
    result = await connector.write(write("order.cancel", "c:44", cancel))
    assert result.summary == "cancel: Success"
    item = {"channel": "web", "store_item_id": "1", "sku": "WEB-NEW", "name": "New thing"}
    created = await connector.write(write("product.create", "p:1", item))
    assert int(created.remote_id or 0) in app.state.products


async def test_unknown_kind_and_bad_payload_are_record_errors(connector: ShipBobConnector) -> None:
    with pytest.raises(RecordError) as unknown:
        await connector.write(write("inventory.set", "k", {}))
    assert unknown.value.reason == "unsupported_write"
    with pytest.raises(RecordError) as bad:
        await connector.write(write("tracking.uploaded", "k", {"shipment_ids": [1]}))
    assert bad.value.reason == "schema"


def test_registered_and_configurable(tmp_path: Path) -> None:
    assert BUILTIN["shipbob"] is CONNECTOR
    config_file = tmp_path / "shelfsync.toml"
    config_file.write_text(
        '[[channels]]\nname = "fulfil"\nplatform = "shipbob"\n'
        'credentials = { token = "env:SB_TOKEN", webhook_secret = "env:SB_WHSEC" }\n'
        "settings = { channel_id = 4007 }\n",
        encoding="utf-8",
    )
    config = load_config(config_file, environ={"SB_TOKEN": "t", "SB_WHSEC": "whsec_" + "A" * 32})
    [channel] = config.channels
    assert channel.settings == ShipBobSettings(channel_id=4007)
    assert channel.schedule_seconds("shipments") == 900.0


async def test_shipments_since_filters_on_last_update(
    connector: ShipBobConnector, http: httpx.AsyncClient, app: SandboxApp
) -> None:
    created = await connector.write(write("order.create", "web:45", order_of("45", "SKU-0004")))
    shipment = {"products": [{"sku": "SKU-0004", "quantity": 1}], "tracking_number": "S1"}
    await http.post(
        f"{BASE_URL}/_sandbox/ship",
        json={"order_id": int(created.remote_id or 0), "shipments": [shipment]},
    )
    updated = app.state.order_updated[int(created.remote_id or 0)]
    at_update = [r async for p in connector.read("shipments", updated) for r in p.records]
    after = [
        r
        async for p in connector.read("shipments", updated + timedelta(seconds=1))
        for r in p.records
    ]
    assert [r.key for r in at_update] == [created.remote_id]  # inclusive
    assert after == []


async def test_cancel_of_an_order_already_picked_labeled_or_shipped_is_a_record_error(
    connector: ShipBobConnector, http: httpx.AsyncClient, app: SandboxApp
) -> None:
    """The sandbox answers 200 ``Failure`` with the shipment's ``is_success`` false, as
    ShipBob does; the write must not report it as done."""
    orders = {}
    for n, to in enumerate(("Picked", "LabeledCreated", "Completed")):
        created = await connector.write(
            write("order.create", f"web:5{n}", order_of(f"5{n}", "SKU-0005"))
        )
        orders[to] = int(created.remote_id or 0)
        shipment_id = app.state.orders[orders[to]].shipments[0].id
        steps = ("Picked", "Packed", "LabeledCreated", "Completed")
        for step in steps[: steps.index(to) + 1]:
            moved = await http.post(
                f"{BASE_URL}/_sandbox/shipments/{shipment_id}", json={"to": step}
            )
            assert moved.status_code == 200, moved.text
    for n, (to, order_id) in enumerate(orders.items()):
        cancel = {"origin": "shopify:web.myshopify.com", "store_order_id": f"5{n}"}
        with pytest.raises(RecordError) as failed:
            await connector.write(write("order.cancel", f"c:{order_id}", cancel))
        assert failed.value.reason == "remote_validation"
        assert "ShipBob answered Failure: shipment" in str(failed.value)
        assert f"Shipment is {to} and cannot be cancelled" in str(failed.value)
        order = app.state.orders[order_id]
        assert order.status != "Cancelled" and order.shipments[0].status != "Cancelled"


async def test_cancel_of_a_split_order_stops_what_it_can_and_is_a_record_error(
    connector: ShipBobConnector, http: httpx.AsyncClient, app: SandboxApp
) -> None:
    created = await connector.write(
        write("order.create", "web:60", order_of("60", "SKU-0006", "SKU-0007"))
    )
    order_id = int(created.remote_id or 0)
    one = {"products": [{"sku": "SKU-0006", "quantity": 1}], "tracking_number": "P1"}
    shipped = await http.post(
        f"{BASE_URL}/_sandbox/ship", json={"order_id": order_id, "shipments": [one]}
    )
    assert shipped.status_code == 200
    with pytest.raises(RecordError, match="ShipBob answered PartialSuccess") as failed:
        cancel = {"origin": "shopify:web.myshopify.com", "store_order_id": "60"}
        await connector.write(write("order.cancel", "c:60", cancel))
    rest, gone = app.state.orders[order_id].shipments
    assert (rest.status, gone.status) == ("Cancelled", "Completed")
    assert f"shipment {gone.id} not cancelled" in str(failed.value)
    assert str(rest.id) not in str(failed.value)


async def test_shipments_stream_waits_until_a_labeled_shipment_has_left(
    connector: ShipBobConnector, http: httpx.AsyncClient, app: SandboxApp
) -> None:
    created = await connector.write(write("order.create", "web:61", order_of("61", "SKU-0008")))
    order_id = int(created.remote_id or 0)
    one = {"products": [{"sku": "SKU-0008", "quantity": 1}], "tracking_number": "L61"}
    labeled = await http.post(
        f"{BASE_URL}/_sandbox/ship",
        json={"order_id": order_id, "shipments": [one], "to": "LabeledCreated"},
    )
    assert labeled.status_code == 200
    assert [r async for p in connector.read("shipments", None) for r in p.records] == []
    [shipment] = app.state.orders[order_id].shipments
    completed = await http.post(
        f"{BASE_URL}/_sandbox/shipments/{shipment.id}", json={"to": "Completed"}
    )
    assert completed.status_code == 200
    [record] = [r async for p in connector.read("shipments", None) for r in p.records]
    assert (record.key, record.updated_at) == (str(order_id), shipment.last_update_at)
    [pushed] = mapping.shipments(mapping.decode_order(record.body))
    assert pushed.tracking_number == "L61"
