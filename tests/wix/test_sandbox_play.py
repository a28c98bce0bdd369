"""The Wix play adapter driven against its sandbox over httpx's ASGI transport: an order a
shopper places is the one the connector reads, and the store's stock and fulfillments read
back as the connector wrote them."""

from __future__ import annotations

import httpx
import pytest

from connectors.sandbox_catalog import build_catalog
from connectors.sandbox_server import SandboxOptions
from connectors.wix.connector import CONNECTOR
from connectors.wix.sandbox_play import demo_storefront
from tests.play_support import SHARED_SEED, SHARED_VARIANTS, lines_of, read_orders, shipped, stocked
from tests.wix.conftest import BASE_URL, RecordingGate, make_connector

OPTIONS = SandboxOptions(seed=SHARED_SEED, catalog=SHARED_VARIANTS, shared_catalog=True)


async def test_an_order_placed_is_read_and_stock_and_tracking_read_back() -> None:
    made = demo_storefront(OPTIONS)
    played = made.played(BASE_URL)
    play = played.play
    stock = build_catalog(SHARED_SEED, SHARED_VARIANTS).stock()
    assert play.shown_stock() == stock
    assert play.listed_skus() == sorted(stock)
    first, second = play.listed_skus()[:2]
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=made.app)) as http:
        store_order_id = await play.place(http, [(first, 2), (second, 1)], "Express")
        with pytest.raises(httpx.HTTPStatusError):
            await play.place(http, [("NOT-SOLD", 1)], "Standard")
        assert played.settings["site_id"] == made.app.state.site_id
        connector = make_connector(http, made.app, RecordingGate())
        order = (await read_orders(connector, connector.context, CONNECTOR))[store_order_id]
        assert (order.origin, order.shipping_method) == (play.origin, "Express")
        assert lines_of(order) == [(first, 2), (second, 1)]
        assert play.tracking_numbers().get(store_order_id) is None
        await connector.write(shipped(store_order_id, [(first, 2)], "1Z-A"))
        await connector.write(shipped(store_order_id, [(second, 1)], "1Z-B"))
        await connector.write(stocked({first: 7}))
    assert play.tracking_numbers()[store_order_id] == ["1Z-A", "1Z-B"]
    assert play.shown_stock() == stock | {first: 7}
