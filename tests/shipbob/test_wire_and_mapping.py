"""Strict decoding of ShipBob payloads, the pure mapping rules, and signature checks."""

from __future__ import annotations

import base64
import string
from datetime import UTC, datetime
from decimal import Decimal

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from connectors import model
from connectors.errors import InvalidSignature, RecordError
from connectors.http import decode_body
from connectors.shipbob import mapping, webhooks, wire

ORDER = b"""[{"id": 7, "created_date": "2026-01-05T12:00:00Z", "status": "Fulfilled",
  "reference_id": "web-1", "shipments": [{"id": 9, "order_id": 7,
  "created_date": "2026-01-06T00:00:00Z", "status": "Completed",
  "last_update_at": "2026-01-06T01:00:00Z", "unknown_new_field": {"x": 1},
  "tracking": {"carrier": "USPS", "tracking_number": "T1"}}]}]"""


def test_order_decodes_and_ignores_new_fields() -> None:
    [order] = msgspec.json.decode(ORDER, type=list[wire.Order])
    assert order.shipments[0].tracking == wire.Tracking(carrier="USPS", tracking_number="T1")
    assert mapping.order_updated_at(order) == datetime(2026, 1, 6, 1, tzinfo=UTC)


def test_a_field_that_changed_type_fails_with_its_path() -> None:
    changed = ORDER.replace(b'"id": 9', b'"id": "9"')
    with pytest.raises(
        RecordError, match=r"Expected `int`, got `str` - at `\$\[0\]\.shipments\[0\]\.id`"
    ) as caught:
        decode_body(changed, list[wire.Order], "list orders", "order")
    assert caught.value.reason == "schema"


def test_inventory_quantity_as_string_fails_with_its_path() -> None:
    location = b'{"location_id": 10, "on_hand_quantity": "5"}'
    body = b'{"items": [{"inventory_id": 1, "locations": [' + location + b"]}]}"
    with pytest.raises(
        msgspec.ValidationError, match=r"\$\.items\[0\]\.locations\[0\]\.on_hand_quantity"
    ):
        msgspec.json.decode(body, type=wire.InventoryLocationsPage)


def canonical_order(**changes: object) -> model.Order:
    stamp = datetime(2026, 1, 5, tzinfo=UTC)
    order = model.Order(
        channel="shop1",
        origin="shopify:example.myshopify.com",
        store_order_id="gid://shopify/Order/5512345678",
        reference_id="#1001",
        status="open",
        payment_status="paid",
        fulfillment_status="unfulfilled",
        created_at=stamp,
        updated_at=stamp,
        lines=[
            model.OrderLine(
                sku="SKU-1", quantity=2, name="Blue Shirt S", unit_price=Decimal("10.00")
            )
        ],
        recipient=model.Address(name="Jane", address1="1 Main", city="Austin", country="US"),
        shipping_method="Express",
    )
    return msgspec.structs.replace(order, **changes)


def test_order_reference_comes_from_the_store_and_the_number_travels() -> None:
    request = mapping.order_request(canonical_order())
    assert request.reference_id == "shopify:example.myshopify.com:gid://shopify/Order/5512345678"
    assert request.order_number == "#1001"
    assert request.type == "DTC"
    assert request.products[0] == wire.OrderProductRequest(
        reference_id="SKU-1", sku="SKU-1", name="Blue Shirt S", quantity=2, unit_price=10.0
    )
    assert mapping.split_reference_id(request.reference_id) == (
        "shopify:example.myshopify.com",
        "gid://shopify/Order/5512345678",
    )


def test_renaming_the_channel_keeps_the_reference() -> None:
    renamed = mapping.order_request(canonical_order(channel="mainstore"))
    assert renamed.reference_id == mapping.order_request(canonical_order()).reference_id


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"origin": "example.myshopify.com"}, "is not <platform>:<store id>"),
        ({"origin": "Shopify:example.myshopify.com"}, "is not <platform>:<store id>"),
        ({"store_order_id": ""}, "the store order id is empty"),
        ({"store_order_id": "9" * 300}, "exceeds ShipBob's 300"),
    ],
    ids=["no-platform", "platform-case", "no-order-id", "too-long"],
)
def test_an_order_without_a_valid_reference_is_a_record_error(
    changes: dict[str, str], problem: str
) -> None:
    with pytest.raises(RecordError, match=problem) as caught:
        mapping.order_request(canonical_order(**changes))
    assert caught.value.reason == "reference_id"


PLATFORMS = st.from_regex(r"[a-z][a-z0-9_-]{0,11}", fullmatch=True)
STORE_IDS = st.text(min_size=1, max_size=80) | st.sampled_from(
    ["example.myshopify.com", "127.0.0.1:8801", "%3A", "a:b%c", "shop%25"]
)
ORDER_IDS = st.text(min_size=1, max_size=120) | st.builds(
    "gid://shopify/Order/{}".format, st.integers(min_value=1, max_value=10**15)
)


@given(platform=PLATFORMS, store_id=STORE_IDS, store_order_id=ORDER_IDS)
def test_a_reference_splits_back_into_its_origin_and_order(
    platform: str, store_id: str, store_order_id: str
) -> None:
    origin = model.origin(platform, store_id)
    try:
        reference = mapping.reference_id(origin, store_order_id)
    except ValueError:
        # Refused only past ShipBob's limit: each escaped ':' or '%' takes three characters.
        escaped = len(store_id) + 2 * (store_id.count(":") + store_id.count("%"))
        assert len(platform) + 1 + escaped + 1 + len(store_order_id) > mapping.REFERENCE_ID_MAX
        return
    assert len(reference) <= mapping.REFERENCE_ID_MAX
    assert mapping.split_reference_id(reference) == (origin, store_order_id)


@given(reference=st.text(max_size=60) | st.text(alphabet=":%3A25ab/", max_size=30))
def test_a_reference_that_splits_is_the_only_spelling_of_its_parts(reference: str) -> None:
    parts = mapping.split_reference_id(reference)
    if parts is not None:
        assert mapping.reference_id(*parts) == reference


@given(
    domain=st.from_regex(r"[a-z0-9][a-z0-9-]{0,40}\.myshopify\.com", fullmatch=True),
    number=st.integers(min_value=1, max_value=10**15),
)
def test_a_shopify_reference_reads_as_its_parts(domain: str, number: int) -> None:
    gid = f"gid://shopify/Order/{number}"
    reference = mapping.reference_id(f"shopify:{domain}", gid)
    assert reference == f"shopify:{domain}:{gid}"
    assert len(reference) < mapping.REFERENCE_ID_MAX


@pytest.mark.parametrize("reference", ["web-1001", "1001", "", "shopify:", "shopify:shop:"])
def test_references_of_other_shapes_do_not_split(reference: str) -> None:
    assert mapping.split_reference_id(reference) is None


def test_order_without_address_is_a_record_error() -> None:
    with pytest.raises(RecordError) as caught:
        mapping.order_request(canonical_order(recipient=None))
    assert caught.value.reason == "incomplete_address"


@given(grams=st.decimals(min_value=1, max_value=100_000, places=2))
def test_weights_go_to_ounces(grams: Decimal) -> None:
    item = model.Item(
        channel="c",
        store_item_id="1",
        sku="S",
        name="N",
        weight=model.Weight(value=grams, unit="g"),
    )
    ounces = mapping.product_request(item).variants[0].weight
    assert ounces == pytest.approx(float(grams) / 28.349523125, abs=1e-3)


def test_variant_maps_back_to_an_item_in_ounces_and_inches() -> None:
    product = wire.Product(
        id=1,
        created_on=datetime(2026, 1, 1, tzinfo=UTC),
        name="Mug",
        variants=[
            wire.Variant(
                id=5,
                sku=None,
                name="Mug - Blue",
                weight=wire.WeightView(weight=8.0),
                dimension=wire.DimensionView(length=4, width=3, height=2),
            )
        ],
    )
    [item] = mapping.items("sb", product)
    assert item.sku == "sb:5"
    assert item.weight == model.Weight(value=Decimal("8.0"), unit="oz")
    assert item.dimensions is not None and item.dimensions.unit == "in"


SECRET = "whsec_" + base64.b64encode(b"k" * 24).decode()


def test_signature_round_trip_and_rotation() -> None:
    headers = webhooks.sign(SECRET, "msg_1", 1_700_000_000, b"{}")
    headers["x-webhook-topic"] = "order.shipment.delivered"
    event = webhooks.verify(SECRET, headers, b"{}", now=1_700_000_100)
    assert (event.webhook_id, event.streams) == ("msg_1", ("shipments",))
    # Several signatures (secret rotation): any one matching is enough.
    headers["webhook-signature"] = "v1,AAAA " + headers["webhook-signature"]
    assert (
        webhooks.verify(SECRET, headers, b"{}", now=1_700_000_000).topic
        == "order.shipment.delivered"
    )


@pytest.mark.parametrize(
    "change",
    [
        {"webhook-id": "msg_2"},
        {"webhook-timestamp": "1700000001"},
        {"webhook-timestamp": "soon"},
        {"webhook-signature": "v2,whatever"},
        {"webhook-signature": ""},
    ],
)
def test_any_changed_header_is_rejected(change: dict[str, str]) -> None:
    headers = webhooks.sign(SECRET, "msg_1", 1_700_000_000, b"{}") | change
    with pytest.raises(InvalidSignature):
        webhooks.verify(SECRET, headers, b"{}", now=1_700_000_000)


def test_topics_name_their_streams_and_those_that_move_stock_name_inventory() -> None:
    # ShipBob has no inventory topic: the events that move stock ask for a stock read too.
    assert webhooks.streams_of("order.shipped") == ("shipments", "inventory")
    assert webhooks.streams_of("order.shipment.cancelled") == ("shipments", "inventory")
    assert webhooks.streams_of("order.shipment.exception") == ("shipments", "inventory")
    assert webhooks.streams_of("return.completed") == ("inventory",)
    # Delivered or on hold: the units are where they were.
    assert webhooks.streams_of("order.shipment.delivered") == ("shipments",)
    assert webhooks.streams_of("order.shipment.on_hold") == ("shipments",)
    assert webhooks.streams_of("return.created") == ()
    assert webhooks.streams_of("billing.charge.created") == ()


def is_shipbob_secret(secret: str) -> bool:
    """ShipBob's published rule, spelt out independently of the code under test."""
    body = secret.removeprefix("whsec_")
    alphabet = string.ascii_letters + string.digits + "+/"
    return secret.startswith("whsec_") and len(body) == 32 and all(c in alphabet for c in body)


SECRETS = (
    st.from_regex(webhooks.SECRET_PATTERN, fullmatch=True)
    | st.builds(
        lambda body: "whsec_" + body,
        st.text(alphabet=string.ascii_letters + string.digits + "+/=-_ \n", max_size=40),
    )
    | st.text(max_size=40)
)


@given(secret=SECRETS)
def test_one_rule_decides_a_webhook_secret_for_config_and_signatures(secret: str) -> None:
    headers = {"webhook-id": "msg_1", "webhook-timestamp": "1700000000", "webhook-signature": "v1,"}
    problem = webhooks.secret_problem(secret)
    if is_shipbob_secret(secret):
        assert problem is None
        assert len(webhooks.secret_key(secret)) == 24
        signed = webhooks.sign(secret, "msg_1", 1_700_000_000, b"{}")
        assert webhooks.verify(secret, signed, b"{}", now=1_700_000_000).webhook_id == "msg_1"
    else:
        assert problem is not None
        with pytest.raises(InvalidSignature, match="webhook secret"):
            webhooks.verify(secret, headers, b"{}", now=1_700_000_000)
