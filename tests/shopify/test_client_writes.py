"""Contract: inventory compare-and-set and fulfillments against the sandbox."""

from __future__ import annotations

import httpx
import msgspec
import pytest

from connectors.errors import RecordError
from connectors.sandbox_server import SandboxOptions
from connectors.shopify import queries
from connectors.shopify.client import FulfillmentLine, InventorySet, ShopifyClient, Tracking
from connectors.shopify.sandbox import ShopifySandbox, create_app
from connectors.shopify.sandbox_state import LOCATION_ID, gid
from tests.shopify.conftest import RecordingGate, make_client

LOCATION = gid("Location", LOCATION_ID)


def stocked(app: ShopifySandbox) -> list[tuple[int, dict[str, int]]]:
    return [(item, level) for (item, _), level in sorted(app.state.levels.items())]


async def test_set_inventory_compare_and_set(client: ShopifyClient, app: ShopifySandbox) -> None:
    (item, level), *_ = stocked(app)
    before = level["available"]
    changes = await client.set_inventory(
        [InventorySet(gid("InventoryItem", item), LOCATION, before + 5, change_from=before)],
        key="sync-1",
    )
    assert app.state.levels[(item, LOCATION_ID)]["available"] == before + 5
    assert {(c.name, c.delta, c.quantity_after_change) for c in changes} >= {
        ("available", 5, before + 5)
    }


async def test_stale_change_from_is_a_stale_record_error_then_reread_succeeds(
    client: ShopifyClient, app: ShopifySandbox
) -> None:
    (item, level), *_ = stocked(app)
    seen = level["available"]
    level["available"] += 2  # a sale lands between our read and our write
    with pytest.raises(RecordError) as caught:
        await client.set_inventory(
            [InventorySet(gid("InventoryItem", item), LOCATION, 40, change_from=seen)], key="k1"
        )
    assert caught.value.reason == "stale"
    assert caught.value.entity == gid("InventoryItem", item)
    assert "CHANGE_FROM_QUANTITY_STALE" in str(caught.value)
    assert app.state.levels[(item, LOCATION_ID)]["available"] == seen + 2  # nothing applied
    # The re-read path: read the quantity again through the API and write against it.
    levels = await client.inventory_levels([gid("InventoryItem", item)], LOCATION)
    fresh = levels[gid("InventoryItem", item)]["available"]
    assert fresh == seen + 2
    await client.set_inventory(
        [InventorySet(gid("InventoryItem", item), LOCATION, 40, change_from=fresh)], key="k2"
    )
    assert app.state.levels[(item, LOCATION_ID)]["available"] == 40


async def test_inventory_batches_at_250(gate: RecordingGate) -> None:
    big = create_app(SandboxOptions(seed=5, catalog=600))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=big)) as http_big:
        client = make_client(http_big, gate)
        items = stocked(big)
        changes = [
            InventorySet(gid("InventoryItem", item), LOCATION, 7, change_from=level["available"])
            for item, level in items
        ]
        assert len(changes) == 599  # one seeded item is not stocked at the location
        await client.set_inventory(changes, key="bulk")
        assert big.state.counters["requests"] == 3  # 250 + 250 + 99
        # {key}:{batch index}:{hash of the batch's input}
        keys = sorted(big.state.idempotency)
        assert [k.rsplit(":", 1)[0] for k in keys] == ["bulk:0", "bulk:1", "bulk:2"]
        assert all(level["available"] == 7 for _, level in items)


async def test_idempotent_replay_applies_once(client: ShopifyClient, app: ShopifySandbox) -> None:
    (item, level), *_ = stocked(app)
    start = level["available"]
    write = [InventorySet(gid("InventoryItem", item), LOCATION, start + 1, change_from=start)]
    first = await client.set_inventory(write, key="replay")
    # A retry after a lost answer: same key, same input. Without the key this would be stale.
    second = await client.set_inventory(write, key="replay")
    assert first == second
    assert app.state.levels[(item, LOCATION_ID)]["available"] == start + 1


async def test_same_key_recomputed_input_is_a_new_request(
    client: ShopifyClient, app: ShopifySandbox
) -> None:
    # A write recomputed after a stale answer keeps its write key; the idempotency key also
    # covers the input, so Shopify does not refuse it as IDEMPOTENCY_KEY_PARAMETER_MISMATCH.
    (item, level), *_ = stocked(app)
    start = level["available"]
    item_id = gid("InventoryItem", item)
    await client.set_inventory([InventorySet(item_id, LOCATION, 3, change_from=start)], key="k")
    await client.set_inventory([InventorySet(item_id, LOCATION, 4, change_from=3)], key="k")
    assert app.state.levels[(item, LOCATION_ID)]["available"] == 4
    assert len([k for k in app.state.idempotency if k.startswith("k:0:")]) == 2


async def test_unstocked_item_is_a_validation_error(
    client: ShopifyClient, app: ShopifySandbox
) -> None:
    unstocked = next(
        item for item in app.state.item_to_variant if (item, LOCATION_ID) not in app.state.levels
    )
    with pytest.raises(RecordError) as caught:
        await client.set_inventory(
            [InventorySet(gid("InventoryItem", unstocked), LOCATION, 1, change_from=None)], key="u"
        )
    assert caught.value.reason == "remote_validation"
    assert "ITEM_NOT_STOCKED_AT_LOCATION" in str(caught.value)


async def test_explicit_null_change_from_opts_out(
    client: ShopifyClient, app: ShopifySandbox
) -> None:
    (item, level), *_ = stocked(app)
    await client.set_inventory(
        [InventorySet(gid("InventoryItem", item), LOCATION, 11, change_from=None)], key="n"
    )
    assert level["available"] == 11


def open_order(app: ShopifySandbox) -> int:
    return next(
        o.id
        for o in app.state.orders.values()
        if o.fulfillment == "UNFULFILLED" and o.cancelled_at is None
    )


async def test_fulfillment_with_tracking_partial_then_complete(
    client: ShopifyClient, app: ShopifySandbox
) -> None:
    order_id = open_order(app)
    (fo,) = await client.fulfillment_orders(gid("Order", order_id))
    first_line = fo.line_items.nodes[0]
    created = await client.create_fulfillment(
        [(fo.id, [FulfillmentLine(first_line.id, first_line.remaining_quantity)])],
        Tracking(company="UPS", number="1Z999", url="https://ups.example/1Z999"),
    )
    assert created.status == "SUCCESS"
    assert [(t.company, t.number, t.url) for t in created.tracking_info] == [
        ("UPS", "1Z999", "https://ups.example/1Z999")
    ]
    assert app.state.orders[order_id].fulfillment == "PARTIALLY_FULFILLED"
    again = await client.fulfillment_orders(gid("Order", order_id))
    assert again[0].status == "IN_PROGRESS"
    assert [f.id for f in await client.fulfillments(gid("Order", order_id))] == [created.id]
    await client.create_fulfillment([(fo.id, None)], Tracking(company="UPS", number="1Z998"))
    assert app.state.orders[order_id].fulfillment == "FULFILLED"
    final = await client.fulfillment_orders(gid("Order", order_id))
    assert final[0].status == "CLOSED"
    assert len(app.state.fulfillments) == 2
    assert all(f.notify_customer for f in app.state.fulfillments.values())


async def test_fulfilling_more_than_remains_is_refused(
    client: ShopifyClient, app: ShopifySandbox
) -> None:
    order_id = open_order(app)
    fo = (await client.fulfillment_orders(gid("Order", order_id)))[0]
    line = fo.line_items.nodes[0]
    with pytest.raises(RecordError) as caught:
        await client.create_fulfillment(
            [(fo.id, [FulfillmentLine(line.id, line.remaining_quantity + 1)])], Tracking()
        )
    assert caught.value.reason == "remote_validation"
    assert "quantity" in str(caught.value)
    assert app.state.fulfillments == {}


async def test_unknown_order_is_not_found(client: ShopifyClient) -> None:
    for read in (client.fulfillment_orders, client.fulfillments):
        with pytest.raises(RecordError) as caught:
            await read(gid("Order", 999999))
        assert caught.value.reason == "not_found"


def test_inventory_set_is_plain_data() -> None:
    # change_from=None must travel as an explicit null (Shopify's opt-out), never be dropped.
    encoded = msgspec.json.encode(InventorySet("i", "l", 1, None))
    assert b'"change_from":null' in encoded


async def test_inventory_levels_reread_in_batches(gate: RecordingGate) -> None:
    shop = create_app(SandboxOptions(seed=8, catalog=300))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=shop)) as http:
        client = make_client(http, gate)
        ids = [gid("InventoryItem", item) for item in sorted(shop.state.item_to_variant)]
        levels = await client.inventory_levels(ids, LOCATION)
    assert shop.state.counters["requests"] == 2  # 250 + 50
    expected = {gid("InventoryItem", item): level for (item, _), level in shop.state.levels.items()}
    assert levels == expected  # the unstocked item is absent
    assert len(levels) == 299
    assert gate.costs[0] == 2 + 250 * 3


async def test_sku_lookup_reads_every_page_of_matches(gate: RecordingGate) -> None:
    # More matches than search terms (Shopify matches SKU prefixes; here a SKU held twice):
    # the variant past the first page is still found.
    app = create_app(SandboxOptions(seed=3, catalog=80))
    variants = [v for v in app.state.variants.values() if v.sku][: queries.VARIANTS_BY_SKU_PAGE]
    twin = next(v for v in app.state.variants.values() if v not in variants)
    twin.sku = variants[-1].sku
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app)) as http:
        client = make_client(http, gate)
        found = await client.variants_by_sku(
            [v.sku for v in variants], [], gid("Location", LOCATION_ID)
        )
    assert len(found) == queries.VARIANTS_BY_SKU_PAGE + 1
    assert gid("ProductVariant", twin.id) in {v.id for v in found}
