"""ShipBob's stock reaching the stores without delay, over the full daemon on virtual time: a
receipt within the inventory schedule, a shipped webhook at once, and a paused store gathering
one stock write, not one per reconcile."""

from __future__ import annotations

import sqlite3
from contextlib import closing

import msgspec
import pytest
import trio

from connectors.model import InventoryPush
from connectors.shipbob.sandbox_state import SANDBOX_TOKEN
from connectors.shopify.sandbox_state import LOCATION_ID
from daemon.control import ControlRequest
from daemon.http import HttpApp
from daemon.store import ExceptionQuery, open_store
from tests.e2e.conftest import SHIPBOB_HOST, SHIPBOB_SECRET, Shop
from tests.e2e.flows import imported
from tests.e2e.shopping import (
    available,
    receive,
    shipbob_sellable,
    shipbob_skus,
    shipment,
    stocked_sku,
    trackings,
)
from tests.e2e.storefronts import ShopifyStore
from tests.helpers import delivering_to

REVIEW = 50

INVENTORY_SCHEDULE = 30.0
"""ShipBob's default inventory schedule."""


def stock_writes(shop: Shop, channel: str) -> list[tuple[int, int, bool]]:
    """``(id, attempts, done)`` of every stock write queued for ``channel``, oldest first."""
    path = shop.config_path.parent / "state.db"
    with closing(sqlite3.connect(path)) as db:
        rows = db.execute(
            "SELECT id, attempts, done_at IS NOT NULL FROM outbox"
            " WHERE channel = ? AND kind = 'inventory.set' ORDER BY id",
            (channel,),
        ).fetchall()
    return [(i, attempts, bool(done)) for i, attempts, done in rows]


async def test_a_receipt_at_shipbob_reaches_the_store_within_the_inventory_schedule(
    shop: Shop, virtual_clock: trio.abc.Clock
) -> None:
    sku = await stocked_sku(shop)
    # Received at the warehouse: ShipBob sends no webhook for it.
    await receive(shop, sku, on_hand=35)
    expected = shipbob_sellable(shop, sku)
    assert available(shop, sku) != expected
    received_at = trio.current_time()
    await shop.until(lambda: available(shop, sku) == expected, seconds=2 * INVENTORY_SCHEDULE)
    assert trio.current_time() - received_at <= INVENTORY_SCHEDULE + 1


async def test_a_shipped_webhook_reads_shipbob_stock_without_waiting_for_its_schedule(
    shop: Shop, virtual_clock: trio.abc.Clock
) -> None:
    await shop.rewrite_config("fc", schedule={"shipments": "1h", "inventory": "1h"})
    sku = await stocked_sku(shop)
    order, created = await imported(shop, sku)
    subscribed = await shop.http.post(
        f"http://{SHIPBOB_HOST}/2026-01/webhook",
        json={"url": "http://daemon.test/webhooks/fc", "topics": ["order.shipped"]}
        | {"secret": SHIPBOB_SECRET},
        headers={"Authorization": f"Bearer {SANDBOX_TOKEN}"},
    )
    assert subscribed.status_code == 200, subscribed.text
    # A receipt the schedule would find within the hour, and the order leaving.
    await receive(shop, sku, on_hand=50)
    receiver = HttpApp(shop.daemon, shop.daemon.metrics.registry, 1_000_000)
    async with delivering_to(shop.shipbob, receiver) as nursery:
        shipped = await shop.http.post(
            f"http://{SHIPBOB_HOST}/_sandbox/ship",
            json={"order_id": created.id, "shipments": [shipment(sku, 1, "1Z9")]},
        )
        assert shipped.status_code == 200, shipped.text
        expected = shipbob_sellable(shop, sku)
        await shop.until(
            lambda: available(shop, sku) == expected and trackings(shop, order) == ["1Z9"],
            seconds=60,
        )
        nursery.cancel_scope.cancel()
    assert expected == 49  # 50 received, one of them gone with the parcel


async def test_a_paused_store_gathers_one_reconcile_write_and_is_right_once_resumed(
    shop: Shop, virtual_clock: trio.abc.Clock
) -> None:
    sku = await stocked_sku(shop)
    expected = shipbob_sellable(shop, sku)
    drift = shop.daemon.metrics.inventory_drift.labels("web")
    drift_before = drift._value.get()
    # Paused once its writes are done: one the pause caught halfway would be sent on resume,
    # before the reconcile, and overwrite the merchant's edit the reconcile is to find.
    web = shop.actor("web")
    await shop.until(
        lambda: not web.statistics().busy and all(done for _, _, done in stock_writes(shop, "web"))
    )
    paused = await shop.daemon.handle_control(ControlRequest(verb="pause", channel="web"))
    assert paused.ok
    await shop.until(lambda: web.statistics().paused)
    before = [entry[0] for entry in stock_writes(shop, "web")]
    # A merchant edits the store's stock while it is paused; ten reconcile intervals pass.
    state = shop.store().state
    variant = next(v for v in state.variants.values() if v.sku == sku)
    state.levels[(variant.inventory_item_id, LOCATION_ID)]["available"] = expected + 7
    await trio.sleep(20)
    queued = [entry for entry in stock_writes(shop, "web") if entry[0] not in before]
    assert [(attempts, done) for _, attempts, done in queued] == [(0, False)]

    resumed = await shop.daemon.handle_control(ControlRequest(verb="resume", channel="web"))
    assert resumed.ok
    await shop.until(lambda: available(shop, sku) == expected)
    await shop.until(lambda: all(done for _, _, done in stock_writes(shop, "web")))
    written = [entry for entry in stock_writes(shop, "web") if entry[0] not in before]
    assert [(i, attempts) for i, attempts, _ in written[:1]] == [(queued[0][0], 1)]
    # Counted once the write is recorded done: wait for the count, not only the record.
    await shop.until(lambda: drift._value.get() - drift_before == 7)


@pytest.mark.parametrize(
    "storefronts", [[ShopifyStore("web", review_threshold=REVIEW)]], ids=["shopify"]
)
async def test_stock_writes_of_one_batch_fold_into_one_waiting_write_holding_them_all(
    shop: Shop,
) -> None:
    store = shop.store()
    small, big, bigger = sorted(s for s in store.skus() if store.available(s) is not None)[:3]
    await shop.until(lambda: {small, big, bigger} <= shipbob_skus(shop))
    for sku in (small, big, bigger):
        await receive(shop, sku, 20)
    await shop.sync("fc", "inventory")
    skus = (small, big, bigger)
    await shop.until(lambda: all(available(shop, s) == shipbob_sellable(shop, s) for s in skus))
    paused = await shop.daemon.handle_control(ControlRequest(verb="pause", channel="web"))
    assert paused.ok
    await shop.until(lambda: shop.actor("web").statistics().paused)

    # A small move waits in the outbox; two big ones are held for review.
    await receive(shop, small, 25)
    await shop.sync("fc", "inventory")
    await receive(shop, big, 20 + REVIEW + 5)
    await receive(shop, bigger, 20 + REVIEW + 7)
    await shop.sync("fc", "inventory")
    async with open_store(f"sqlite:///{shop.config_path.parent / 'state.db'}") as state:
        held = await state.exceptions(ExceptionQuery(channel="web", reason="review_threshold"))
    assert {e.entity for e in held} == {big, bigger}

    # Both approved at once: one batch queues two stock writes for the paused store, and the
    # waiting write must end up holding all three moves.
    await shop.daemon.hub.replay(held)
    [(waiting, _, _)] = [entry for entry in stock_writes(shop, "web") if not entry[2]]
    with closing(sqlite3.connect(shop.config_path.parent / "state.db")) as db:
        [(payload,)] = db.execute("SELECT payload FROM outbox WHERE id = ?", (waiting,))
    targets = {t.sku: t.quantity for t in msgspec.json.decode(payload, type=InventoryPush).targets}
    assert {sku: targets.get(sku) for sku in skus} == {s: shipbob_sellable(shop, s) for s in skus}
    resumed = await shop.daemon.handle_control(ControlRequest(verb="resume", channel="web"))
    assert resumed.ok
    await shop.until(lambda: all(available(shop, s) == shipbob_sellable(shop, s) for s in skus))
