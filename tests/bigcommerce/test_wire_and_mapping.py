"""Strict decoding, the mapping to the canonical model, webhook verification and settings."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec
import pytest

from connectors import model
from connectors.bigcommerce import mapping, webhooks, wire
from connectors.bigcommerce.connector import CONNECTOR, BigCommerceSettings
from connectors.errors import InvalidSignature, RecordError
from daemon.config import ConfigError, load_config
from daemon.credentials import Secret
from tests.bigcommerce.conftest import CHANNEL, SECRET, settings

STAMP = "2025-06-25T05:22:10+00:00"


def product(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": 111,
        "name": "Shirt",
        "sku": "SHIRT",
        "weight": 2.0,
        "width": 10.0,
        "depth": 20.0,
        "height": 3.0,
        "upc": "",
        "inventory_tracking": "variant",
        "date_modified": STAMP,
        "a_field_added_next_year": {"x": 1},
        "images": [
            {"url_standard": "https://cdn/2.jpg", "is_thumbnail": False, "sort_order": 0},
            {"url_standard": "https://cdn/1.jpg", "is_thumbnail": True, "sort_order": 1},
        ],
        "variants": [
            {
                "id": 201,
                "product_id": 111,
                "sku": "SHIRT-S",
                "weight": None,
                "width": 12.0,
                "height": None,
                "depth": None,
                "upc": "0123",
                "option_values": [
                    {"label": "S", "option_display_name": "Size"},
                    {"label": "Blue", "option_display_name": "Colour"},
                ],
            },
            {
                "id": 202,
                "product_id": 111,
                "sku": "",
                "weight": 0,
                "option_values": [{"label": "M", "option_display_name": "Size"}],
            },
        ],
    }
    return body | overrides


def test_items_one_per_variant_with_inherited_sizes_and_fallback_key() -> None:
    decoded = msgspec.json.decode(json.dumps(product()), type=wire.Product)
    first, second = mapping.items_from_product(CHANNEL, decoded, weight_unit="kg", length_unit="cm")
    assert first.sku == "SHIRT-S" and first.store_item_id == "111/201"
    assert first.name == "Shirt - S / Blue" and first.options == ["S", "Blue"]
    assert first.weight == model.Weight(value=Decimal("2.0"), unit="kg")  # null: the product's
    assert first.dimensions == model.Dimensions(
        length=Decimal("20.0"), width=Decimal("12.0"), height=Decimal("3.0"), unit="cm"
    )
    assert first.barcode == "0123" and first.image_url == "https://cdn/1.jpg"  # the thumbnail
    assert first.updated_at == datetime(2025, 6, 25, 5, 22, 10, tzinfo=UTC)
    assert second.sku == "bc:111/202" and second.weight is None  # 0 is "not set"


def test_a_simple_product_is_its_own_item_keyed_by_product_id() -> None:
    simple = product(
        sku="",
        variants=[{"id": 301, "product_id": 111, "sku": "", "option_values": []}],
        images=[],
    )
    (item,) = mapping.items_from_product(
        CHANNEL, msgspec.convert(simple, wire.Product, strict=False)
    )
    assert (item.store_item_id, item.sku, item.name, item.image_url) == (
        "111",
        "bc:111",
        "Shirt",
        None,
    )


def test_wrong_type_names_the_field_and_naive_times_are_refused() -> None:
    bad = product()
    bad["variants"][0]["sku"] = 5
    with pytest.raises(msgspec.ValidationError, match=r"\$\.variants\[0\]\.sku"):
        msgspec.json.decode(json.dumps(bad), type=wire.Product)
    with pytest.raises(msgspec.ValidationError, match="date_modified"):
        msgspec.json.decode(
            json.dumps(product(date_modified="2025-06-25T05:22:10")), type=wire.Product
        )


def test_v2_dates_must_be_rfc2822_with_an_offset() -> None:
    good = msgspec.json.decode(
        b'{"id": 1, "status_id": 11, "date_modified": "Wed, 25 Jun 2025 05:22:10 +0200"}',
        type=wire.OrderStamp,
        dec_hook=wire.DEC_HOOK,
    )
    assert good.date_modified == datetime(2025, 6, 25, 3, 22, 10, tzinfo=UTC)
    for value in ('"Wed, 25 Jun 2025 05:22:10 -0000"', '"yesterday"', "1750829000"):
        with pytest.raises(msgspec.ValidationError, match=r"\$\.date_modified"):
            msgspec.json.decode(
                b'{"id": 1, "status_id": 11, "date_modified": %s}' % value.encode(),
                type=wire.OrderStamp,
                dec_hook=wire.DEC_HOOK,
            )


def order_bundle(**order: Any) -> dict[str, Any]:
    base = {
        "id": 250,
        "status_id": 11,
        "payment_status": "captured",
        "date_created": "Tue, 24 Jun 2025 10:00:00 +0000",
        "date_modified": "Wed, 25 Jun 2025 05:22:10 +0000",
        "customer_message": " Ring twice ",
        "products": {"url": "https://x", "resource": "/orders/250/products"},
    }
    line = {
        "id": 1001,
        "order_id": 250,
        "product_id": 111,
        "variant_id": 201,
        "order_address_id": 10,
        "name": "Shirt",
        "sku": "SHIRT-S",
        "quantity": 3,
        "quantity_refunded": 1,
        "wrapping_message": "Happy birthday",
        "product_options": [{"display_name": "Size", "display_value": "S"}],
        "type": "physical",
    }
    lines = [
        line,
        line | {"id": 1002, "sku": "", "variant_id": 202, "quantity_refunded": 0},
        line
        | {
            "id": 1003,
            "sku": "",
            "product_id": 112,
            "variant_id": 301,
            "product_options": [],
            "wrapping_message": "From Sam",
        },
        line | {"id": 1004, "sku": "EBOOK", "type": "digital", "wrapping_message": "Enjoy"},
        line | {"id": 1005, "quantity_refunded": 3, "wrapping_message": ""},
    ]
    address = {
        "id": 10,
        "order_id": 250,
        "first_name": "Jane",
        "last_name": "Doe",
        "street_1": "1 Main St",
        "city": "Austin",
        "state": "Texas",
        "zip": "78751",
        "country_iso2": "US",
        "email": "jane@example.com",
        "shipping_method": "Ground",
    }
    return {"order": base | order, "products": lines, "shipping_addresses": [address]}


def canonical(bundle: dict[str, Any]) -> model.Order:
    decoded = mapping.decode_order_record(json.dumps(bundle).encode())
    return mapping.order_from_wire(CHANNEL, "ABC123", *decoded)


def test_order_mapping() -> None:
    order = canonical(order_bundle())
    assert order.origin == "bigcommerce:abc123"
    assert (order.store_order_id, order.reference_id) == ("250", "250")
    assert (order.status, order.payment_status, order.fulfillment_status) == (
        "open",
        "paid",
        "unfulfilled",
    )
    assert [(line.sku, line.quantity, line.store_line_id) for line in order.lines] == [
        ("SHIRT-S", 2, "1001"),
        ("bc:111/202", 3, "1002"),
        ("bc:112", 2, "1003"),
    ]
    assert order.gift_message == "Happy birthday\n\nFrom Sam"  # distinct, shipped lines only
    assert order.notes == "Ring twice"
    assert order.shipping_method == "Ground"
    assert order.recipient is not None and order.recipient.name == "Jane Doe"
    assert order.recipient.country == "US" and order.recipient.email == "jane@example.com"
    assert order.updated_at == datetime(2025, 6, 25, 5, 22, 10, tzinfo=UTC)
    # The order travels on (to the fulfillment provider) as JSON: its times must encode.
    assert msgspec.json.decode(msgspec.json.encode(order), type=model.Order) == order


@pytest.mark.parametrize(
    ("status_id", "status", "fulfillment"),
    [
        (0, "draft", "unfulfilled"),
        (3, "open", "partially_fulfilled"),
        (4, "cancelled", "unfulfilled"),
        (5, "cancelled", "unfulfilled"),
        (2, "closed", "fulfilled"),
        (12, "open", "on_hold"),
    ],
)
def test_status_mapping(status_id: int, status: str, fulfillment: str) -> None:
    order = canonical(order_bundle(status_id=status_id))
    assert (order.status, order.fulfillment_status) == (status, fulfillment)


def test_order_refusals_name_the_part_and_field() -> None:
    several = order_bundle()
    several["shipping_addresses"].append(several["shipping_addresses"][0] | {"id": 11})
    with pytest.raises(RecordError) as caught:
        canonical(several)
    assert caught.value.reason == "several_addresses"
    bad_line = order_bundle()
    bad_line["products"][1]["quantity"] = "3"
    with pytest.raises(RecordError, match=r"order 250 products: .*\$\[1\]\.quantity"):
        canonical(bad_line)
    with pytest.raises(RecordError, match="unknown payment_status"):
        canonical(order_bundle(payment_status="bartered"))


def test_carrier_fields() -> None:
    assert mapping.carrier_fields("UPS") == ("ups", "")
    assert mapping.carrier_fields("Royal Mail") == ("royalmail", "")
    assert mapping.carrier_fields("DHL Express") == ("", "dhl")
    assert mapping.carrier_fields("Pigeon Post") == ("", "")
    assert mapping.carrier_fields(None) == ("", "")


def callback(scope: str = "store/order/updated") -> bytes:
    return json.dumps(
        {
            "scope": scope,
            "store_id": "1025646",
            "data": {"type": "order", "id": 250},
            "hash": "dd70c0976e06b67aaf671e73f49dcb79230ebf9d",
            "created_at": 1561479335,
            "producer": "stores/abc123",
        }
    ).encode()


def verify(headers: dict[str, str], body: bytes, **overrides: Any) -> Any:
    secrets = {"token": Secret("t"), "webhook_secret": Secret(SECRET)}
    return CONNECTOR.verify_webhook(settings(**overrides), secrets, headers, body)


def test_webhook_secret_header_dedupe_hash_and_stream() -> None:
    event = verify({"x-shelfsync-webhook-secret": SECRET}, callback())
    assert (event.webhook_id, event.topic, event.streams) == (
        "dd70c0976e06b67aaf671e73f49dcb79230ebf9d",
        "store/order/updated",
        ("orders",),
    )
    assert verify(
        {"x-shelfsync-webhook-secret": SECRET}, callback("store/sku/updated")
    ).streams == ("products",)
    assert (
        verify({"x-shelfsync-webhook-secret": SECRET}, callback("store/shipment/created")).streams
        == ()
    )
    custom = verify({"x-hook-key": SECRET}, callback(), webhook_header="X-Hook-Key")
    assert custom.streams == ("orders",)
    for headers in ({}, {"x-shelfsync-webhook-secret": SECRET[:-1] + "?"}):
        with pytest.raises(InvalidSignature):
            verify(headers, callback())
    wrong = json.loads(callback()) | {"hash": 5}
    with pytest.raises(RecordError, match=r"\$\.hash"):
        verify({"x-shelfsync-webhook-secret": SECRET}, json.dumps(wrong).encode())


def test_settings_credentials_and_origin() -> None:
    assert CONNECTOR.origin is not None and CONNECTOR.origin(settings()) == "bigcommerce:sbx7a2k9"
    assert settings().order_statuses == [11, 9, 3] and settings().location_id == 1
    with pytest.raises(msgspec.ValidationError, match="base_url"):
        msgspec.convert(
            {"store_hash": "abc", "base_url": "http://api.example"}, BigCommerceSettings
        )
    with pytest.raises(msgspec.ValidationError, match="unknown field `store`"):
        msgspec.convert({"store_hash": "abc", "store": "x"}, BigCommerceSettings)
    with pytest.raises(msgspec.ValidationError, match="order_statuses"):
        msgspec.convert({"store_hash": "abc", "order_statuses": []}, BigCommerceSettings)
    problems = CONNECTOR.check_credentials(
        {"token": Secret("a b"), "webhook_secret": Secret("short")}
    )
    assert set(problems) == {"token", "webhook_secret"}
    assert "short" not in " ".join(problems.values())
    assert webhooks.secret_problem(SECRET) is None


CHANNEL_TABLE = """
[[channels]]
name = "bcstore"
platform = "bigcommerce"
credentials = { token = "env:BC_TOKEN", webhook_secret = "env:BC_HOOK" }
[channels.settings]
"""


@pytest.mark.parametrize(
    ("settings_lines", "problem"),
    [
        ('store_hash = "ABC123"', "store_hash must be the store hash"),
        ('store_hash = "abc123"\nlocation_id = 0', "location_id must be 1 or more"),
        ('store_hash = "abc123"\norder_statuses = [11, 99]', "status ids 0 to 14, got [99]"),
        ('store_hash = "abc123"\nwebhook_header = "X Secret"', "webhook_header must be"),
        ('store_hash = "abc123"\nbase_url = "http://api.example"', "base_url must be an https"),
    ],
)
def test_the_config_loader_reports_bad_settings(
    tmp_path: Path, settings_lines: str, problem: str
) -> None:
    path = tmp_path / "config.toml"
    path.write_text(CHANNEL_TABLE + settings_lines + "\n", encoding="utf-8")
    environ = {"BC_TOKEN": "token-1", "BC_HOOK": SECRET}
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ)
    (reported,) = caught.value.problems
    assert reported.startswith("channels[0].settings: ") and problem in reported


def test_the_config_loader_takes_a_good_channel(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(CHANNEL_TABLE + 'store_hash = "abc123"\n', encoding="utf-8")
    config = load_config(path, {"BC_TOKEN": "token-1", "BC_HOOK": SECRET})
    (channel,) = config.channels
    assert channel.origin == "bigcommerce:abc123"
    assert channel.settings.order_statuses == [11, 9, 3]
