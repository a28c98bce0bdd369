"""The ShipStation play adapter driven against its sandbox over httpx's ASGI transport: an
order a shopper places in the store is the one the connector reads, the store shows no stock
(V1 keeps none), and tracking marked shipped reads back from the fulfillments."""

from __future__ import annotations

import httpx

from connectors.sandbox_catalog import build_catalog
from connectors.sandbox_server import SandboxOptions
from connectors.shipstation.connector import CONNECTOR
from connectors.shipstation.sandbox_play import demo_storefront
from tests.play_support import SHARED_SEED, SHARED_VARIANTS, lines_of, read_orders, shipped
from tests.shipstation.conftest import BASE_URL, STORE_ID, RecordingGate, make_connector

OPTIONS = SandboxOptions(seed=SHARED_SEED, catalog=SHARED_VARIANTS, shared_catalog=True)


async def test_an_order_placed_is_read_and_tracking_read_back() -> None:
    made = demo_storefront(OPTIONS)
    played = made.played(BASE_URL)
    play = played.play
    assert play.shown_stock() == {}
    assert play.listed_skus() == sorted(build_catalog(SHARED_SEED, SHARED_VARIANTS).stock())
    assert played.settings == {"store_id": STORE_ID, "base_url": BASE_URL}
    first, second = play.listed_skus()[:2]
    transport = httpx.ASGITransport(app=made.app)
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as http:
        store_order_id = await play.place(http, [(first, 2), (second, 1)], "Express")
        connector = make_connector(http, RecordingGate())
        order = (await read_orders(connector, connector.context, CONNECTOR))[store_order_id]
        assert (order.origin, order.shipping_method) == (play.origin, "Express")
        assert lines_of(order) == [(first, 2), (second, 1)]
        assert play.tracking_numbers().get(store_order_id) is None
        # Marking shipped covers the whole order: V1 has no line selection.
        await connector.write(shipped(store_order_id, [(first, 2), (second, 1)], "1Z-A"))
    assert play.tracking_numbers()[store_order_id] == ["1Z-A"]
