"""The Wix play adapter driven against its sandbox over httpx's ASGI transport: an order a
shopper places is the one the connector reads, and the store's stock and fulfillments read
back as the connector wrote them."""

from __future__ import annotations

import httpx

from connectors.sandbox_catalog import build_catalog
from connectors.sandbox_server import SandboxOptions
from connectors.wix.connector import CONNECTOR
from connectors.wix.sandbox_play import demo_storefront
from tests.play_support import SHARED_SEED, SHARED_VARIANTS, place_read_and_ship_twice, stocked
from tests.wix.conftest import BASE_URL, RecordingGate, make_connector

OPTIONS = SandboxOptions(seed=SHARED_SEED, catalog=SHARED_VARIANTS, shared_catalog=True)


async def test_an_order_placed_is_read_and_stock_and_tracking_read_back() -> None:
    made = demo_storefront(OPTIONS)
    played = made.played(BASE_URL)
    play = played.play
    stock = build_catalog(SHARED_SEED, SHARED_VARIANTS).stock()
    assert play.shown_stock() == stock
    assert play.listed_skus() == sorted(stock)
    assert played.settings == {"site_id": made.app.state.site_id, "base_url": BASE_URL}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=made.app)) as http:
        connector = make_connector(http, made.app, RecordingGate())
        _, first = await place_read_and_ship_twice(
            play, http, connector, connector.context, CONNECTOR
        )
        await connector.write(stocked({first: 7}))
    assert play.shown_stock() == stock | {first: 7}
