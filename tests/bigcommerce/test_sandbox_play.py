"""The BigCommerce play adapter driven against its sandbox over httpx's ASGI transport: an
order a shopper places is the one the connector reads, and the store's stock and shipments
read back as the connector wrote them."""

from __future__ import annotations

import httpx

from connectors.bigcommerce.connector import CONNECTOR
from connectors.bigcommerce.sandbox import STORE_HASH
from connectors.bigcommerce.sandbox_play import demo_storefront
from connectors.sandbox_catalog import build_catalog
from connectors.sandbox_server import SandboxOptions
from tests.bigcommerce.conftest import BASE_URL, RecordingGate, make_connector
from tests.play_support import SHARED_SEED, SHARED_VARIANTS, place_read_and_ship_twice, stocked

OPTIONS = SandboxOptions(seed=SHARED_SEED, catalog=SHARED_VARIANTS, shared_catalog=True)


async def test_an_order_placed_is_read_and_stock_and_tracking_read_back() -> None:
    made = demo_storefront(OPTIONS)
    played = made.played(BASE_URL)
    play = played.play
    before = play.shown_stock()
    assert play.listed_skus() == sorted(build_catalog(SHARED_SEED, SHARED_VARIANTS).stock())
    assert played.settings == {"store_hash": STORE_HASH, "base_url": BASE_URL}
    first, second = play.listed_skus()[:2]
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=made.app)) as http:
        connector = make_connector(http, RecordingGate())
        await place_read_and_ship_twice(play, http, connector, connector.context, CONNECTOR)
        # Checkout took the units off the store's stock, as BigCommerce's does.
        assert play.shown_stock() == before | {first: before[first] - 2, second: before[second] - 1}
        await connector.write(stocked({first: 7}))
    assert play.shown_stock()[first] == 7
