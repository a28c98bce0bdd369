"""Client ⇄ sandbox for every call the connector makes, and the whole path over loopback."""

from __future__ import annotations

import json

import httpx
import pytest
import trio
import trio.testing

from connectors.errors import AuthFailed, ChannelFatal, RecordError
from connectors.sandbox_server import SandboxOptions, load_sandbox, serve_app
from connectors.wix import wire
from connectors.wix.auth import ApiKey
from connectors.wix.client import WixClient
from connectors.wix.connector import CONNECTOR, WixConnector, WixSettings
from connectors.wix.sandbox import WixSandbox, create_app
from daemon.credentials import Secret
from tests.wix.conftest import BASE_URL, RecordingGate, make_client, make_connector
from tests.wix.receiver import Receiver


async def test_every_call_carries_the_key_and_site_and_passes_the_gate(
    client: WixClient, app: WixSandbox, gate: RecordingGate
) -> None:
    product = next(p for p in app.state.products.values() if p.track_inventory)
    order = next(o for o in app.state.orders.values() if o.status == "APPROVED")
    (found,) = await client.store_variants("sku", [product.variants[0].sku or "none"])
    assert (found.product_id, found.variant_id) == (product.id, product.variants[0].id)
    page = await client.query_products(None, [{"numericId": "asc"}], 10)
    assert len(page) == 10 and page[0][0].numeric_id == str(
        min(p.numeric_id for p in app.state.products.values())
    )
    await client.update_inventory(
        product.id, [wire.InventoryVariantUpdate(variant_id=product.variants[0].id, quantity=3)]
    )
    assert product.variants[0].quantity == 3
    searched, cursor = await client.search_orders({"status": "APPROVED"}, None, limit=2)
    assert len(searched) == 2 and cursor is not None
    rest, end = await client.search_orders(None, cursor, limit=100)
    assert end is None and {s.id for s, _ in searched}.isdisjoint({s.id for s, _ in rest})
    assert (await client.get_order(order.id)).id == order.id
    assert [f.id for f in await client.list_fulfillments(order.id)] == [
        f["id"] for f in order.fulfillments
    ]
    assert gate.calls == len(app.state.requests) == 7
    # Wix sends no rate headers: an answer that is not a 429 says nothing of the limit.
    assert gate.signals == []


async def test_variant_lookup_reads_every_page_of_matches() -> None:
    # More variants hold the asked SKUs than one page returns: all are read.
    app = create_app(SandboxOptions(seed=5, catalog=800))
    variants = [v for p in app.state.products.values() for v in p.variants][:130]
    for n, variant in enumerate(variants):
        variant.sku = f"SHARED-{n % 2}"
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app)) as http:
        client = make_client(http, app, RecordingGate())
        found = await client.store_variants("sku", ["SHARED-0", "SHARED-1"])
        product = next(p for p in app.state.products.values() if len(p.variants) == 8)
        of_product = await client.store_variants("productId", [product.id])
    assert len(found) == 130 and {v.sku for v in found} == {"SHARED-0", "SHARED-1"}
    assert [v.variant_id for v in of_product] == [v.id for v in product.variants]
    assert len(app.state.requests) == 3


async def test_refusals_are_classified(
    http: httpx.AsyncClient, app: WixSandbox, gate: RecordingGate
) -> None:
    wrong_key = WixClient(http, BASE_URL, ApiKey(Secret("wrong"), app.state.site_id), gate)
    with pytest.raises(AuthFailed, match="401"):
        await wrong_key.get_order("x")
    other = ApiKey(Secret(app.state.api_key), "0f3e2a44-5b6c-4d7e-8f90-a1b2c3d4e5f6")
    other_site = WixClient(http, BASE_URL, other, gate)
    with pytest.raises(AuthFailed, match="403"):
        await other_site.get_order("x")
    client = make_client(http, app, gate)
    with pytest.raises(RecordError) as invalid:
        await client.query_products({"colour": "red"}, [], 10)
    assert invalid.value.reason == "remote_validation" and "colour" in str(invalid.value)
    with pytest.raises(RecordError) as missing:
        await client.get_order("nope")
    assert missing.value.reason == "not_found" and "ORDER_NOT_FOUND" in str(missing.value)


async def test_served_sandbox_over_loopback_with_a_verified_webhook() -> None:
    assert load_sandbox("wix") is create_app
    app = create_app(SandboxOptions(seed=2, catalog=20))
    receiver = Receiver(statuses=[503])
    stop = trio.Event()
    with trio.fail_after(20):
        async with trio.open_nursery() as nursery:
            site_url = await serve_app(nursery, app, "127.0.0.1", 0, stop)
            hook_url = await serve_app(nursery, receiver, "127.0.0.1", 0, stop)
            app.webhooks.queue.retry_delays = (0.05,)
            async with httpx.AsyncClient(base_url=site_url) as http:
                keys = (await http.get("/_sandbox/public-key")).json()
                assert (
                    await http.post("/_sandbox/webhooks", json={"url": hook_url})
                ).status_code == 201
                settings = WixSettings(
                    site_id=keys["siteId"], instance_id=keys["instanceId"], base_url=site_url
                )
                secrets = {"token": Secret(keys["apiKey"]), "public_key": Secret(keys["publicKey"])}
                assert CONNECTOR.check_credentials(secrets) == {}
                auth = ApiKey(secrets["token"], settings.site_id)
                client = WixClient(http, site_url, auth, RecordingGate())
                assert len(await client.query_products(None, [{"numericId": "asc"}], 100)) == len(
                    app.state.products
                )
                await http.post(
                    "/_sandbox/stock",
                    json={
                        "sku": next(
                            v.sku for p in app.state.products.values() for v in p.variants if v.sku
                        ),
                        "quantity": 0,
                    },
                )
                while len(receiver.bodies) < 2:
                    await receiver.received.wait()
                    receiver.received = trio.Event()
            stop.set()
    first, second = (
        CONNECTOR.verify_webhook(settings, secrets, {}, body) for body in receiver.bodies
    )
    assert first.webhook_id == second.webhook_id and first.streams == ("products",)
    assert json.loads(first.body)["changedFields"] == ["stock"]


async def test_oauth_client_credentials_token_is_fetched_reused_and_refreshed(
    http: httpx.AsyncClient,
    app: WixSandbox,
    gate: RecordingGate,
    autojump_clock: trio.testing.MockClock,
) -> None:
    connector = make_connector(
        http,
        app,
        gate,
        app_id=app.state.app_id,
        instance_id=app.state.instance_id,
        secrets={"token": Secret(app.state.app_secret)},
    )
    order = next(o for o in app.state.orders.values() if o.status == "APPROVED")
    await connector.client.get_order(order.id)
    await connector.client.get_order(order.id)
    paths = [r["path"] for r in app.state.requests]
    assert paths.count("/oauth2/token") == 1  # one token for both calls
    # Close to its expiry the token is replaced before it is refused.
    await trio.sleep(4 * 3600 - 200)
    await connector.client.get_order(order.id)
    assert [r["path"] for r in app.state.requests].count("/oauth2/token") == 2
    # A token Wix stopped accepting (revoked) is replaced once, and the call goes through.
    app.state.tokens.clear()
    assert (await connector.client.get_order(order.id)).id == order.id
    statuses = [(r["path"], r["status"]) for r in app.state.requests[-3:]]
    assert statuses == [
        (f"/ecom/v1/orders/{order.id}", 401),
        ("/oauth2/token", 200),
        (f"/ecom/v1/orders/{order.id}", 200),
    ]
    assert gate.calls == len(app.state.requests)


class PacedGate(RecordingGate):
    """Lets each call through a moment after it asks, as a channel's limiter may: calls
    made side by side are then all sent before any is answered."""

    async def let_through(self, cost: float) -> None:
        await super().let_through(cost)
        await trio.sleep(0.01)


async def test_calls_side_by_side_refused_together_share_one_new_token(
    http: httpx.AsyncClient, app: WixSandbox, autojump_clock: trio.testing.MockClock
) -> None:
    # A channel reads while it writes: the calls meet the revoked token together, and none
    # may end the channel (AuthFailed) nor throw away the token another one just brought.
    connector = make_connector(
        http, app, PacedGate(), app_id=app.state.app_id, instance_id=app.state.instance_id,
        secrets={"token": Secret(app.state.app_secret)},
    )  # fmt: skip
    order = next(o for o in app.state.orders.values() if o.status == "APPROVED")
    await connector.client.get_order(order.id)
    app.state.tokens.clear()
    got = []

    async def get() -> None:
        got.append((await connector.client.get_order(order.id)).id)

    async with trio.open_nursery() as nursery:
        for _ in range(3):
            nursery.start_soon(get)
    assert got == [order.id] * 3
    assert [r["path"] for r in app.state.requests].count("/oauth2/token") == 2


async def test_oauth_with_a_wrong_secret_is_auth_failed(
    http: httpx.AsyncClient, app: WixSandbox, gate: RecordingGate
) -> None:
    connector = make_connector(
        http, app, gate, app_id=app.state.app_id, instance_id=app.state.instance_id,
        secrets={"token": Secret("wrong")},
    )  # fmt: skip
    with pytest.raises(AuthFailed, match="oauth2"):
        await connector.client.get_order("x")
    with pytest.raises(ValueError, match="instance_id"):
        WixSettings(site_id=app.state.site_id, app_id=app.state.app_id)


async def test_a_site_on_the_other_catalog_version_stops_the_channel(
    connector: WixConnector, app: WixSandbox
) -> None:
    app.state.catalog = "V3"
    with pytest.raises(ChannelFatal, match=r"settings\.catalog"):
        async for _ in connector.read("products", None):
            pass
    # The eCommerce APIs are the same for both catalogs.
    assert [page async for page in connector.read("orders", None)]
