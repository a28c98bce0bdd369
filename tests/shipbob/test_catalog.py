"""The catalog at ShipBob through the connector, against the sandbox: ``product.update`` and the
``products`` stream, bundles declared at ShipBob included."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx
import msgspec
import pytest

from connectors import model
from connectors.base import ConnectorContext, RemoteWrite
from connectors.errors import RecordError
from connectors.shipbob.connector import ShipBobConnector, ShipBobSettings, interpret
from connectors.shipbob.sandbox import SANDBOX_TOKEN, SandboxApp
from daemon.credentials import Secret
from tests.shipbob.conftest import BASE_URL, RecordingGate

SETTINGS = ShipBobSettings(channel_id=4007, base_url=BASE_URL)
LATER = datetime(2026, 3, 1, tzinfo=UTC)
"""After every seeded product's last update (the seed's are in 2025)."""
AUTH = {"Authorization": f"Bearer {SANDBOX_TOKEN}"}


@pytest.fixture
def connector(http: httpx.AsyncClient, gate: RecordingGate, app: SandboxApp) -> ShipBobConnector:
    app.state.now = lambda: LATER
    context = ConnectorContext(
        channel="fc",
        settings=SETTINGS,
        secrets={"token": Secret(SANDBOX_TOKEN), "webhook_secret": Secret("whsec_" + "A" * 32)},
        http=http,
        gate=gate,
        now=lambda: LATER + timedelta(hours=1),
    )
    return ShipBobConnector(context)


def update(item: model.Item) -> RemoteWrite:
    return RemoteWrite(
        kind="product.update", key=f"product-update:{item.sku}", payload=msgspec.json.encode(item)
    )


async def read_items(
    connector: ShipBobConnector, since: datetime | None = None
) -> dict[str, model.Item]:
    """The ``products`` stream read from ``since``, interpreted: item by SKU."""
    records = [r async for page in connector.read("products", since) for r in page.records]
    assert [r.updated_at for r in records] == sorted(r.updated_at for r in records)
    items = [i for r in records for i in interpret("fc", SETTINGS, "products", r.body)]
    return {item.sku: item for item in items if isinstance(item, model.Item)}


async def declare(http: httpx.AsyncClient, sku: str, components: dict[str, int]) -> None:
    response = await http.post(
        f"{BASE_URL}/_sandbox/bundles", json={"sku": sku, "components": components}
    )
    assert response.status_code == 200, response.text


async def test_an_update_gives_the_variant_of_the_sku_the_items_fields(
    connector: ShipBobConnector, app: SandboxApp
) -> None:
    before = await read_items(connector)
    item = model.Item(
        channel="web",
        store_item_id="77",
        sku="SKU-0002",
        name="Merino Sock - Grey",
        weight=model.Weight(value=Decimal(250), unit="g"),
        dimensions=model.Dimensions(
            length=Decimal("25.4"), width=Decimal("12.7"), height=Decimal("2.54"), unit="cm"
        ),
        barcode="4006381333931",
    )
    result = await connector.write(update(item))
    assert result.summary == "product updated"
    after = await read_items(connector, since=LATER)
    assert set(after) == {"SKU-0001", "SKU-0002", "SKU-0003"}  # one product: its variants
    changed = after["SKU-0002"]
    assert result.remote_id == changed.store_item_id
    assert (changed.name, changed.barcode) == ("Merino Sock - Grey", "4006381333931")
    assert changed.weight == model.Weight(value=Decimal("8.8185"), unit="oz")
    assert changed.dimensions == model.Dimensions(
        length=Decimal("10.0"), width=Decimal("5.0"), height=Decimal("1.0"), unit="in"
    )
    # The product's other variants are as they were, bar ShipBob's update time.
    for sku in ("SKU-0001", "SKU-0003"):
        assert msgspec.structs.replace(after[sku], updated_at=None) == msgspec.structs.replace(
            before[sku], updated_at=None
        )


async def test_a_partial_item_leaves_what_it_lacks_as_shipbob_has_it(
    connector: ShipBobConnector,
) -> None:
    before = (await read_items(connector))["SKU-0004"]
    item = model.Item(channel="web", store_item_id="1", sku="SKU-0004", name="Renamed")
    await connector.write(update(item))
    after = (await read_items(connector, since=LATER))["SKU-0004"]
    assert after.name == "Renamed"
    assert (after.weight, after.dimensions, after.barcode) == (
        before.weight,
        before.dimensions,
        before.barcode,
    )


async def test_updating_a_sku_shipbob_lacks_is_not_found(connector: ShipBobConnector) -> None:
    item = model.Item(channel="web", store_item_id="1", sku="NOT-THERE", name="Ghost")
    with pytest.raises(RecordError) as missing:
        await connector.write(update(item))
    assert missing.value.reason == "not_found"


async def test_the_products_stream_reads_what_changed_since_the_cursor(
    connector: ShipBobConnector, app: SandboxApp
) -> None:
    everything = await read_items(connector)
    assert len(everything) == 30
    assert await read_items(connector, since=LATER) == {}
    item = model.Item(channel="web", store_item_id="1", sku="SKU-0010", name="Linen Cap - 10")
    await connector.write(update(item))
    assert set(await read_items(connector, since=LATER)) == {"SKU-0010", "SKU-0011", "SKU-0012"}
    assert await read_items(connector, since=LATER + timedelta(seconds=1)) == {}


async def test_a_bundle_declared_at_shipbob_is_read_with_its_components(
    connector: ShipBobConnector, app: SandboxApp, http: httpx.AsyncClient
) -> None:
    await declare(http, "GIFT-1", {"SKU-0001": 2, "SKU-0005": 1})
    bundle = (await read_items(connector, since=LATER))["GIFT-1"]
    assert bundle.components == [
        model.BundleComponent("SKU-0001", 2),
        model.BundleComponent("SKU-0005", 1),
    ]
    assert "GIFT-1" not in {s.sku for s in app.state.stock.values()}  # it holds no units
    await declare(http, "GIFT-1", {"SKU-0005": 3})  # redefined
    app.state.now = lambda: LATER + timedelta(minutes=1)
    redefined = (await read_items(connector, since=LATER))["GIFT-1"]
    assert redefined.components == [model.BundleComponent("SKU-0005", 3)]
    app.state.now = lambda: LATER + timedelta(minutes=2)
    await declare(http, "GIFT-1", {})  # no bundle any more
    plain = (await read_items(connector, since=LATER + timedelta(minutes=2)))["GIFT-1"]
    assert plain.components == []


async def test_a_bundle_is_defined_and_undefined_through_the_variant_update(
    connector: ShipBobConnector, app: SandboxApp, http: httpx.AsyncClient
) -> None:
    product = next(iter(app.state.products.values()))
    bundle, first = product.variants[:2]
    patch = f"{BASE_URL}/2026-01/product/{product.id}/variants"
    definition = [{"variant_id": first.id, "quantity": 2}]
    answer = await http.patch(
        patch, json=[{"id": bundle.id, "bundle_definition": definition}], headers=AUTH
    )
    assert answer.status_code == 200, answer.text
    [served] = answer.json()
    assert served["bundle_definition"] == [
        {
            "variant_id": first.id,
            "quantity": 2,
            "product_id": product.id,
            "variant_sku": first.sku,
            "variant_name": first.name,
        }
    ]
    items = await read_items(connector, since=LATER)
    assert items[bundle.sku or ""].components == [model.BundleComponent(first.sku or "", 2)]
    answer = await http.patch(
        patch, json=[{"id": bundle.id, "bundle_definition": []}], headers=AUTH
    )
    assert answer.status_code == 200, answer.text
    assert (await read_items(connector, since=LATER))[bundle.sku or ""].components == []


async def test_a_variant_update_refused_changes_nothing(
    app: SandboxApp, http: httpx.AsyncClient
) -> None:
    product = next(iter(app.state.products.values()))
    variant = product.variants[0]
    other = next(p for p in app.state.products.values() if p is not product).variants[0]
    patch = f"{BASE_URL}/2026-01/product/{product.id}/variants"
    for body in (
        [{"id": variant.id, "name": "Fine"}, {"id": other.id, "name": "Not its variant"}],
        [{"id": variant.id, "bundle_definition": [{"variant_id": variant.id, "quantity": 1}]}],
        [],
        {"id": variant.id, "name": "An object, not an array"},
    ):
        answer = await http.patch(patch, json=body, headers=AUTH)
        assert answer.status_code == 400, body
    assert variant.name != "Fine"
    missing = await http.patch(
        f"{BASE_URL}/2026-01/product/1/variants", json=[{"id": 1}], headers=AUTH
    )
    assert missing.status_code == 404
