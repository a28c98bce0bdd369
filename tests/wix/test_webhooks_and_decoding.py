"""Webhooks as the sandbox sends them (JWT RS256, redelivery, faults) and strict decoding."""

from __future__ import annotations

import base64
import json

import httpx
import msgspec
import pytest
import trio
import trio.testing
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from connectors.errors import InvalidSignature, RecordError
from connectors.sandbox_server import SandboxOptions
from connectors.wix import mapping, webhooks, wire
from connectors.wix.client import decode
from connectors.wix.connector import CONNECTOR, WixSettings
from connectors.wix.sandbox import WixSandbox, create_app
from daemon.credentials import Secret
from tests.wix.conftest import BASE_URL
from tests.wix.receiver import Receiver, delivering


def some_sku(app: WixSandbox) -> str:
    return next(v.sku for p in app.state.products.values() for v in p.variants if v.sku)


async def test_genuine_webhooks_verify_and_name_the_stream(
    http: httpx.AsyncClient, app: WixSandbox, autojump_clock: trio.testing.MockClock
) -> None:
    receiver = Receiver()
    async with delivering(app, receiver):
        placed = await http.post(
            f"{BASE_URL}/_sandbox/orders", json={"lines": [{"sku": some_sku(app)}]}
        )
        await trio.sleep(1)
    events = [webhooks.verify(app.webhooks.public_key, {}, body) for body in receiver.bodies]
    assert sorted(e.topic for e in events) == [
        "wix.ecom.v1.order_approved",
        "wix.ecom.v1.order_created",
        "wix.ecom.v1.order_updated",
    ]
    assert {e.streams for e in events} == {("orders",)}
    assert {e.entity for e in events} == {placed.json()["id"]}  # the orders stream's key
    assert len({e.webhook_id for e in events}) == 3
    inner = json.loads(next(e.body for e in events if e.topic.endswith("created")))
    assert inner["entityId"] == placed.json()["id"]
    assert inner["createdEvent"]["entity"]["id"] == placed.json()["id"]
    # The spec's verifier, with the instance check on.
    settings = WixSettings(site_id=app.state.site_id, instance_id=app.state.instance_id)
    secrets = {"token": Secret("k"), "public_key": Secret(app.webhooks.public_key)}
    assert CONNECTOR.verify_webhook(settings, secrets, {}, receiver.bodies[0]) in events
    elsewhere = WixSettings(site_id=app.state.site_id, instance_id="another-instance")
    with pytest.raises(InvalidSignature, match="another app instance"):
        CONNECTOR.verify_webhook(elsewhere, secrets, {}, receiver.bodies[0])


async def test_tampered_and_foreign_webhooks_are_rejected(
    http: httpx.AsyncClient, app: WixSandbox, autojump_clock: trio.testing.MockClock
) -> None:
    receiver = Receiver()
    async with delivering(app, receiver):
        await http.post(f"{BASE_URL}/_sandbox/orders", json={"lines": [{"sku": some_sku(app)}]})
        await trio.sleep(1)
    header, payload, signature = receiver.bodies[0].split(b".")
    claims = json.loads(base64.urlsafe_b64decode(payload + b"=" * (-len(payload) % 4)))
    claims["data"] = claims["data"].replace("order_created", "order_canceled")
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=")
    with pytest.raises(InvalidSignature):
        webhooks.verify(app.webhooks.public_key, {}, b".".join([header, forged, signature]))
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with pytest.raises(InvalidSignature):
        webhooks.verify(webhooks.public_key_pem(other_key), {}, receiver.bodies[0])
    envelope = wire.WebhookEnvelope(event_type="x", instance_id="i", data="{}")
    expired = webhooks.sign(app.webhooks.key, envelope, issued_at=1_000_000)
    with pytest.raises(InvalidSignature, match="expired"):
        webhooks.verify(app.webhooks.public_key, {}, expired)
    with pytest.raises(InvalidSignature):
        webhooks.verify(app.webhooks.public_key, {}, b'{"not": "a jwt"}')


async def test_non_200_answers_are_redelivered_with_the_same_event_id(
    http: httpx.AsyncClient, app: WixSandbox, autojump_clock: trio.testing.MockClock
) -> None:
    # 202 (what an "accepted" answer looks like) is a failure to Wix: only 200 counts.
    receiver = Receiver(statuses=[500, 202])
    async with delivering(app, receiver):
        await http.post(f"{BASE_URL}/_sandbox/stock", json={"sku": some_sku(app), "quantity": 3})
        await trio.sleep(60 + 600 + 1)
    events = [webhooks.verify(app.webhooks.public_key, {}, body) for body in receiver.bodies]
    assert len(events) == 3
    assert len({e.webhook_id for e in events}) == 1
    assert events[0].streams == ("products",)
    assert [entry["status"] for entry in app.webhooks.log] == [500, 202, 200]
    gaps = [b["at"] - a["at"] for a, b in zip(app.webhooks.log, app.webhooks.log[1:], strict=False)]
    assert gaps == pytest.approx([60.0, 600.0])


async def test_duplicate_fault_repeats_the_event_id(
    http: httpx.AsyncClient, app: WixSandbox, autojump_clock: trio.testing.MockClock
) -> None:
    await http.post(f"{BASE_URL}/_sandbox/faults", json={"duplicate_webhooks": True})
    receiver = Receiver()
    async with delivering(app, receiver):
        await http.post(f"{BASE_URL}/_sandbox/stock", json={"sku": some_sku(app), "quantity": 1})
        await trio.sleep(1)
    ids = [webhooks.verify(app.webhooks.public_key, {}, b).webhook_id for b in receiver.bodies]
    assert len(ids) == 2 and len(set(ids)) == 1


async def test_out_of_order_fault_lets_a_later_event_overtake(
    autojump_clock: trio.testing.MockClock,
) -> None:
    app = create_app(SandboxOptions(seed=5, catalog=20))
    app.state.faults.out_of_order_webhooks = True
    product = next(p for p in app.state.products.values() if p.options)
    receiver = Receiver()
    async with (
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app)) as http,
        delivering(app, receiver),
    ):
        await http.post(f"{BASE_URL}/_sandbox/products/{product.id}", json={"name": "First"})
        variant = {"id": product.variants[0].id, "sku": "NEW-SKU"}
        await http.post(f"{BASE_URL}/_sandbox/products/{product.id}", json={"variants": [variant]})
        await trio.sleep(61)
    changed = [
        json.loads(webhooks.verify(app.webhooks.public_key, {}, b).body)["changedFields"]
        for b in receiver.bodies
    ]
    assert changed == [["variants"], ["name"]]  # the first change arrived last
    overtaking, held = app.webhooks.log
    assert held["at"] - overtaking["at"] == pytest.approx(60.0)


def test_public_key_check_refuses_without_quoting() -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = webhooks.public_key_pem(key)
    assert webhooks.public_key_problem(pem) is None
    body = "".join(pem.strip().splitlines()[1:-1])
    assert webhooks.public_key_problem(body) is None  # the bare base64 body is accepted
    problem = webhooks.public_key_problem("s3cr3t-not-a-key")
    assert problem is not None and "s3cr3t" not in problem
    ec_key = ec.generate_private_key(ec.SECP256R1()).public_key()
    ec_text = ec_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()
    assert "not an RSA" in (webhooks.public_key_problem(ec_text) or "")
    checked = CONNECTOR.check_credentials({"token": Secret("a b"), "public_key": Secret("x")})
    assert set(checked) == {"token", "public_key"}


def order_json(app: WixSandbox) -> dict[str, object]:
    order = next(o for o in app.state.orders.values() if o.status == "APPROVED")
    return app.state.order_json(order)


def test_wrong_types_name_the_field_and_new_fields_are_ignored(app: WixSandbox) -> None:
    body = order_json(app)
    body["brandNewField"] = {"anything": [1, 2]}
    decoded = decode(json.dumps(body).encode(), wire.Order, "order", "order")
    assert decoded.id == body["id"]
    lines = body["lineItems"]
    assert isinstance(lines, list)
    lines[0]["quantity"] = "2"
    with pytest.raises(RecordError, match=r"\$\.lineItems\[0\]\.quantity") as caught:
        decode(json.dumps(body).encode(), wire.Order, "order", "order")
    assert caught.value.reason == "schema"
    naive = order_json(app) | {"updatedDate": "2025-06-01T10:00:00"}
    with pytest.raises(RecordError, match="updatedDate"):
        decode(json.dumps(naive).encode(), wire.Order, "order", "order")


def test_mapping_of_an_order(app: WixSandbox) -> None:
    raw = order_json(app)
    order = mapping.order_from_wire("wix", "wix:site", msgspec.convert(raw, wire.Order))
    assert order.origin == "wix:site"
    assert order.status == "open" and order.payment_status == "paid"
    assert order.recipient is not None and order.recipient.state == "NY"
    assert order.recipient.address1.endswith("Main Street")
    assert order.shipping_method
    assert [line.store_line_id for line in order.lines] == [line["id"] for line in raw["lineItems"]]  # type: ignore[index]
    unknown = raw | {"paymentStatus": "SOMETHING_NEW"}
    with pytest.raises(RecordError, match="paymentStatus"):
        mapping.order_from_wire("wix", "wix:site", msgspec.convert(unknown, wire.Order))


def test_mapping_of_products_and_fallback_keys(app: WixSandbox) -> None:
    product = next(p for p in app.state.products.values() if len(p.variants) > 1)
    product.variants[0].sku = ""
    items = mapping.items_from_product(
        "wix", msgspec.convert(app.state.product_json(product), wire.Product), weight_unit="lb"
    )
    assert len(items) == len(product.variants)
    assert items[0].sku == f"wix:{product.id}/{product.variants[0].id}"
    assert items[1].name == f"{product.name} - {' / '.join(product.variants[1].choices.values())}"
    assert mapping.fallback_target("wix", items[0].sku) == (product.id, product.variants[0].id)
    single = next(p for p in app.state.products.values() if not p.options)
    single.sku = single.variants[0].sku = ""
    item = mapping.items_from_product(
        "wix", msgspec.convert(app.state.product_json(single), wire.Product)
    )[0]
    assert item.sku == f"wix:{single.id}"
    line = wire.LineItem(
        id="1",
        quantity=1,
        product_name=wire.Translatable(original="x"),
        catalog_reference=wire.CatalogReference(
            catalog_item_id=single.id, options={"variantId": wire.DEFAULT_VARIANT_ID}
        ),
    )
    assert mapping.line_sku("wix", "order", line) == item.sku
    assert CONNECTOR.origin is not None
    assert (
        CONNECTOR.origin(WixSettings(site_id=app.state.site_id.upper()))
        == f"wix:{app.state.site_id}"
    )


def test_settings_refuse_clear_text_to_a_remote_host() -> None:
    site = "0f3e2a44-5b6c-4d7e-8f90-a1b2c3d4e5f6"
    with pytest.raises(ValueError, match="loopback"):
        WixSettings(site_id=site, base_url="http://example.com")
    assert WixSettings(site_id=site, base_url="http://127.0.0.1:8080").base_url
    with pytest.raises(msgspec.ValidationError):
        msgspec.convert({"site_id": "not-a-guid"}, WixSettings)
    with pytest.raises(msgspec.ValidationError):
        msgspec.convert({"site_id": site, "catalog": "v3"}, WixSettings)
