"""The shared sandbox catalog: what it generates, and every sandbox seeded from it, read back
through the platform's own connector or client over httpx's ASGI transport."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx
import msgspec
import pytest

from connectors import model
from connectors.base import ConnectorContext, ConnectorSpec
from connectors.bigcommerce.connector import CONNECTOR as BIGCOMMERCE
from connectors.bigcommerce.connector import BigCommerceConnector
from connectors.sandbox_catalog import LOW_STOCK, SharedCatalog, build_catalog
from connectors.sandbox_server import SandboxOptions, load_sandbox
from connectors.shipbob import mapping as shipbob_mapping
from connectors.shipbob.connector import CONNECTOR as SHIPBOB
from connectors.shipbob.connector import ShipBobConnector, ShipBobSettings
from connectors.shipbob.sandbox import SANDBOX_TOKEN
from connectors.shipstation.connector import CONNECTOR as SHIPSTATION
from connectors.shipstation.connector import ShipStationConnector
from connectors.shopify.connector import CONNECTOR as SHOPIFY
from connectors.shopify.connector import ShopifyConnector
from connectors.wix.connector import CONNECTOR as WIX
from connectors.wix.connector import WixConnector
from daemon import main as cli
from daemon.credentials import Secret
from tests.bigcommerce import conftest as bigcommerce
from tests.shipbob import conftest as shipbob
from tests.shipstation import conftest as shipstation
from tests.shopify import conftest as shopify
from tests.wix import conftest as wix

SEED, VARIANTS = 11, 40
SHARED = SandboxOptions(seed=SEED, catalog=VARIANTS, shared_catalog=True)
CATALOG = build_catalog(SEED, VARIANTS)
STOREFRONTS = {
    "shopify": SHOPIFY,
    "wix": WIX,
    "shipstation": SHIPSTATION,
    "bigcommerce": BIGCOMMERCE,
}


def named_skus(catalog: SharedCatalog) -> dict[str, str]:
    return {variant.sku: product.variant_name(variant) for product, variant in catalog.variants()}


@asynccontextmanager
async def serving(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    # ShipStation's client sends paths relative to its base URL; the others send full URLs.
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=shipstation.BASE_URL) as http:
        yield http


async def storefront_items(platform: str, options: SandboxOptions) -> list[model.Item]:
    """Every item of ``platform``'s sandbox seeded from ``options``, as its connector reads
    the ``products`` stream and the platform interprets the records."""
    app = load_sandbox(platform)(options)
    spec: ConnectorSpec = STOREFRONTS[platform]
    gate = shipbob.RecordingGate()
    async with serving(app) as http:
        if platform == "shopify":
            connector: ShopifyConnector | WixConnector | ShipStationConnector | BigCommerceConnector
            connector = shopify.make_connector(http, gate)
        elif platform == "wix":
            connector = wix.make_connector(http, app, gate)
        elif platform == "bigcommerce":
            connector = bigcommerce.make_connector(http, gate)
        else:
            connector = shipstation.make_connector(http, gate)
        context = connector.context
        return [
            canonical
            for page in [page async for page in connector.read("products", None)]
            for record in page.records
            for canonical in spec.interpret(
                context.channel, context.settings, "products", record.body
            )
            if isinstance(canonical, model.Item)
        ]


# -- the catalog -----------------------------------------------------------------------------


def test_the_same_seed_and_count_give_the_same_catalog_and_another_seed_another() -> None:
    assert build_catalog(SEED, VARIANTS) == CATALOG
    assert msgspec.json.encode(build_catalog(SEED, VARIANTS)) == msgspec.json.encode(CATALOG)
    assert named_skus(build_catalog(SEED + 1, VARIANTS)) != named_skus(CATALOG)


@pytest.mark.parametrize("count", [0, 1, 7, 40, 500])
def test_the_catalog_has_exactly_the_variants_asked_for_each_sku_and_barcode_once(
    count: int,
) -> None:
    catalog = build_catalog(3, count)
    variants = [variant for _, variant in catalog.variants()]
    assert len(variants) == count
    assert len({v.sku for v in variants}) == count
    assert len({v.barcode for v in variants}) == count
    assert len({p.name for p in catalog.products}) == len(catalog.products)
    assert all(p.variants for p in catalog.products)


def test_barcodes_are_upc_a_with_their_check_digit() -> None:
    for _, variant in CATALOG.variants():
        digits = [int(d) for d in variant.barcode]
        assert len(digits) == 12
        assert (sum(digits[0::2]) * 3 + sum(digits[1::2])) % 10 == 0


def test_products_come_with_and_without_options_and_some_stock_runs_low() -> None:
    catalog = build_catalog(SEED, 200)
    assert any(len(p.variants) == 1 and not p.options() for p in catalog.products)
    assert any(len(p.options()) == 2 for p in catalog.products)
    assert any(p.image_url is None for p in catalog.products)
    stock = catalog.stock()
    low = [sku for sku, units in stock.items() if units <= LOW_STOCK]
    assert 0 < len(low) <= len(stock) // 5
    assert all(units >= 1 for units in stock.values())
    for product, variant in catalog.variants():
        assert variant.weight_grams > 0
        assert variant.price == variant.price.quantize(Decimal("0.01")) > 0
        assert [name for name, _ in product.options()] == [o.name for o in variant.options]


def test_a_negative_count_is_refused() -> None:
    with pytest.raises(ValueError, match="-1 variants"):
        build_catalog(1, -1)


def test_the_options_ask_for_the_shared_catalog_only_when_told() -> None:
    assert SandboxOptions(seed=SEED, catalog=VARIANTS).shared() is None
    assert SHARED.shared() == CATALOG


def test_the_sandbox_command_passes_the_flag_on(monkeypatch: pytest.MonkeyPatch) -> None:
    served: list[tuple[str, SandboxOptions]] = []

    def serve(platform: str, host: str, port: int, options: SandboxOptions) -> int:
        served.append((platform, options))
        return 0

    monkeypatch.setattr("connectors.sandbox_server.serve_sandbox", serve)
    assert cli.main(["sandbox", "wix", "--seed", "11", "--catalog", "40", "--shared-catalog"]) == 0
    assert cli.main(["sandbox", "shopify"]) == 0
    assert served == [("wix", SHARED), ("shopify", SandboxOptions())]


# -- every sandbox seeded from it --------------------------------------------------------------


@pytest.mark.parametrize("platform", sorted(STOREFRONTS))
async def test_a_storefront_sells_the_catalogs_skus_under_its_names(platform: str) -> None:
    items = await storefront_items(platform, SHARED)
    assert {item.sku: item.name for item in items} == named_skus(CATALOG)
    assert len(items) == VARIANTS
    variants = {variant.sku: (product, variant) for product, variant in CATALOG.variants()}
    for item in items:
        product, variant = variants[item.sku]
        assert item.weight is not None
        # ShipStation keeps ounces to the hundredth: within a gram of the catalog's weight.
        assert abs(item.weight.to("g").value - variant.weight_grams) < 1
        assert item.image_url == product.image_url
        if platform != "wix":  # Wix's V1 catalog has no barcodes
            assert item.barcode == variant.barcode
        if platform != "shipstation":  # ShipStation's V1 products have no options
            assert item.options == variant.option_values


async def test_every_storefront_and_the_provider_hold_the_same_skus_and_names() -> None:
    named = [
        {item.sku: item.name for item in await storefront_items(p, SHARED)} for p in STOREFRONTS
    ]
    async with serving(load_sandbox("shipbob")(SHARED)) as http:
        products = await shipbob.make_client(http, shipbob.RecordingGate()).list_products()
    items = [item for product in products for item in shipbob_mapping.items("sb", product)]
    named.append({item.sku: item.name for item in items})
    assert all(each == named[0] for each in named)
    assert {i.sku: i.barcode for i in items} == {v.sku: v.barcode for _, v in CATALOG.variants()}


def shipbob_connector(http: httpx.AsyncClient) -> ShipBobConnector:
    context = ConnectorContext(
        channel="sb",
        settings=ShipBobSettings(channel_id=4000 + SEED, base_url=shipbob.BASE_URL),
        secrets={"token": Secret(SANDBOX_TOKEN), "webhook_secret": Secret(shipbob.SECRET)},
        http=http,
        gate=shipbob.RecordingGate(),
        now=lambda: datetime.now(UTC),
    )
    return ShipBobConnector(context)


async def test_shipbobs_inventory_reports_the_catalogs_stock_per_sku() -> None:
    async with serving(load_sandbox("shipbob")(SHARED)) as http:
        totals = await shipbob.make_client(http, shipbob.RecordingGate()).inventory_totals()
        connector = shipbob_connector(http)
        records = [r async for page in connector.read("inventory", None) for r in page.records]
    stock = CATALOG.stock()
    assert {t.sku: t.total_fulfillable_quantity for t in totals} == stock
    assert {t.sku: t.total_on_hand_quantity for t in totals} == stock
    fulfillable: Counter[str] = Counter()
    settings = connector.context.settings
    for record in records:
        for level in SHIPBOB.interpret("sb", settings, "inventory", record.body):
            assert isinstance(level, model.InventoryLevel)
            fulfillable[level.sku] += level.fulfillable
    assert dict(fulfillable) == stock


async def test_an_order_for_all_of_a_skus_stock_at_shipbob_is_routed_not_held() -> None:
    sku, units = max(CATALOG.stock().items(), key=lambda pair: pair[1])
    request = shipbob.order_request("web-1", sku)
    lines = [msgspec.structs.replace(line, quantity=units) for line in request.products]
    async with serving(load_sandbox("shipbob")(SHARED)) as http:
        client = shipbob.make_client(http, shipbob.RecordingGate())
        created = await client.create_order(msgspec.structs.replace(request, products=lines))
        [total] = [t for t in await client.inventory_totals() if t.sku == sku]
    assert [s.status for s in created.order.shipments] == ["Processing"]
    assert (total.total_committed_quantity, total.total_fulfillable_quantity) == (units, 0)


async def test_shopify_and_wix_start_with_the_catalogs_stock() -> None:
    stock = CATALOG.stock()
    location = "gid://shopify/Location/1"
    async with serving(load_sandbox("shopify")(SHARED)) as http:
        client = shopify.make_client(http, shopify.RecordingGate())
        found = await client.variants_by_sku(list(stock), [], location)
        items = {v.inventory_item.id: v.sku for v in found}
        levels = await client.inventory_levels(list(items), location)
    # On hand: the seeded orders have since taken their units off what is available.
    assert {items[item]: level["on_hand"] for item, level in levels.items()} == stock
    app = load_sandbox("wix")(SHARED)
    async with serving(app) as http:
        variants = await wix.make_client(http, app, wix.RecordingGate()).store_variants(
            "sku", list(stock)
        )
    assert {v.sku: v.stock.quantity for v in variants} == stock
    assert all(v.stock.track_quantity for v in variants)


async def test_without_the_flag_every_sandbox_seeds_its_own_catalog_as_before() -> None:
    own = SandboxOptions(seed=2, catalog=6)
    skus = {p: [i.sku for i in await storefront_items(p, own)] for p in STOREFRONTS}
    assert sorted(skus["shopify"]) == [
        "SB-1001", "SB-1002-GRE", "SB-1003-BLA", "SB-1004-WHI", "SB-1005-BLA-S", "SB-1006-BLA-M"
    ]  # fmt: skip
    assert sorted(skus["wix"]) == [
        "WX-00001-BLA-L", "WX-00001-BLA-M", "WX-00001-BLA-S", "WX-00001-BLA-XL",
        "WX-00001-GRE-M", "WX-00001-GRE-S",
    ]  # fmt: skip
    # BigCommerce's generator leaves about one variant in ten without a SKU (a fallback key).
    assert sorted(skus["bigcommerce"]) == [
        "BC-112-L", "BC-112-M", "BC-112-S", "BC-112-XL", "BC-113", "bc:111"
    ]  # fmt: skip
    names = sorted(i.name for i in await storefront_items("shipstation", own))
    assert names == sorted(
        f"{base} - {size}" for base in ("Classic Mug", "Bamboo Cap") for size in "SML"
    )
    async with serving(load_sandbox("shipbob")(own)) as http:
        totals = await shipbob.make_client(http, shipbob.RecordingGate()).inventory_totals()
    assert [(t.sku, t.total_on_hand_quantity) for t in totals] == [
        ("SKU-0001", 212), ("SKU-0002", 94), ("SKU-0003", 179),
        ("SKU-0004", 43), ("SKU-0005", 82), ("SKU-0006", 120),
    ]  # fmt: skip


# -- bundles ---------------------------------------------------------------------------------

BUNDLED = SandboxOptions(seed=SEED, catalog=VARIANTS, shared_catalog=True, bundles=2)


def test_a_bundle_is_two_well_stocked_variants_listed_with_what_they_allow() -> None:
    catalog = build_catalog(SEED, VARIANTS, 2)
    assert catalog.pooled_products() == list(CATALOG.products)  # bundles change no variant
    assert catalog.stock() == CATALOG.stock()  # and hold no stock of their own
    assert BUNDLED.shared() == catalog
    listed = {variant.sku: variant for _, variant in catalog.variants()}
    assert len(catalog.bundles) == 2
    for bundle in catalog.bundles:
        parts = dict(bundle.components)
        assert len(parts) == 2 and bundle.sku not in parts
        assert all(CATALOG.stock()[sku] > LOW_STOCK for sku in parts)
        variant = listed[bundle.sku]
        assert variant.options == ()
        assert variant.stock == min(CATALOG.stock()[sku] // n for sku, n in parts.items())
        assert variant.weight_grams == sum(listed[sku].weight_grams * n for sku, n in parts.items())
    barcodes = [variant.barcode for variant in listed.values()]
    assert len(set(barcodes)) == len(barcodes)


@pytest.mark.parametrize("platform", sorted(STOREFRONTS))
async def test_a_storefront_lists_the_bundles_as_products(platform: str) -> None:
    catalog = build_catalog(SEED, VARIANTS, 2)
    items = await storefront_items(platform, BUNDLED)
    assert {item.sku: item.name for item in items} == named_skus(catalog)


async def test_the_provider_holds_the_bundles_components_not_the_bundles() -> None:
    async with serving(load_sandbox("shipbob")(BUNDLED)) as http:
        totals = await shipbob.make_client(http, shipbob.RecordingGate()).inventory_totals()
    assert {t.sku: t.total_on_hand_quantity for t in totals} == CATALOG.stock()
