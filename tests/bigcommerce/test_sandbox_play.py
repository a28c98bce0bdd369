"""The BigCommerce play adapter driven against its sandbox over httpx's ASGI transport: an
order a shopper places is the one the connector reads, and the store's stock and shipments
read back as the connector wrote them."""

from __future__ import annotations

import httpx
import pytest

from connectors.bigcommerce.connector import CONNECTOR
from connectors.bigcommerce.sandbox import STORE_HASH
from connectors.bigcommerce.sandbox_play import demo_storefront
from connectors.sandbox_catalog import build_catalog
from connectors.sandbox_server import SandboxOptions
from tests.bigcommerce.conftest import BASE_URL, RecordingGate, make_connector
from tests.play_support import SHARED_SEED, SHARED_VARIANTS, lines_of, read_orders, shipped, stocked

OPTIONS = SandboxOptions(seed=SHARED_SEED, catalog=SHARED_VARIANTS, shared_catalog=True)


async def test_an_order_placed_is_read_and_stock_and_tracking_read_back() -> None:
    made = demo_storefront(OPTIONS)
    played = made.played(BASE_URL)
    play = played.play
    before = play.shown_stock()
    assert play.listed_skus() == sorted(build_catalog(SHARED_SEED, SHARED_VARIANTS).stock())
    first, second = play.listed_skus()[:2]
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=made.app)) as http:
        store_order_id = await play.place(http, [(first, 2), (second, 1)], "Express")
        with pytest.raises(httpx.HTTPStatusError):
            await play.place(http, [("NOT-SOLD", 1)], "Standard")
        # Checkout takes the units off the store's stock, as BigCommerce's does.
        assert play.shown_stock() == before | {first: before[first] - 2, second: before[second] - 1}
        assert played.settings == {"store_hash": STORE_HASH, "base_url": BASE_URL}
        connector = make_connector(http, RecordingGate())
        order = (await read_orders(connector, connector.context, CONNECTOR))[store_order_id]
        assert (order.origin, order.shipping_method) == (play.origin, "Express")
        assert lines_of(order) == [(first, 2), (second, 1)]
        assert play.tracking_numbers().get(store_order_id) is None
        await connector.write(shipped(store_order_id, [(first, 2)], "1Z-A"))
        await connector.write(shipped(store_order_id, [(second, 1)], "1Z-B"))
        await connector.write(stocked({first: 7}))
    assert play.tracking_numbers()[store_order_id] == ["1Z-A", "1Z-B"]
    assert play.shown_stock()[first] == 7
