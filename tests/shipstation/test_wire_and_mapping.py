"""Strict decoding, Pacific wall time (DST included), and the mapping to canonical orders."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest

from connectors.errors import RecordError
from connectors.registry import BUILTIN
from connectors.shipstation import mapping, pacific, wire
from connectors.shipstation.client import ShipStationClient
from connectors.shipstation.connector import CONNECTOR, ShipStationSettings
from connectors.shipstation.sandbox import SANDBOX_KEY, SANDBOX_SECRET, SandboxApp
from daemon.config import ConfigError, load_config
from daemon.credentials import Secret
from tests.helpers import toml_config
from tests.shipstation.conftest import BASE_URL, STORE_ID, WEBHOOK_SECRET, RecordingGate

ORDER: dict[str, Any] = {
    "orderId": 94113592,
    "orderNumber": "#1042",
    "orderKey": "5566778899",
    "orderDate": "2026-03-08T01:30:00.0000000",
    "createDate": "2026-03-08T01:31:00.1234567",
    "modifyDate": "2026-03-08T03:30:00.0000000",
    "paymentDate": "2026-03-08T01:30:00.0000000",
    "orderStatus": "awaiting_shipment",
    "customerEmail": "ana@example.com",
    "billTo": {"name": "Ana Lima"},
    "shipTo": {
        "name": "Ana Lima",
        "company": None,
        "street1": "10 Elm St",
        "street2": "Apt 4",
        "street3": None,
        "city": "Portland",
        "state": "OR",
        "postalCode": "97201",
        "country": "us",
        "phone": None,
        "residential": True,
    },
    "items": [
        {
            "orderItemId": 1,
            "lineItemKey": "gid-1",
            "sku": "SS-0001",
            "name": "Mug",
            "quantity": 2,
            "unitPrice": 12.5,
        },
        {
            "orderItemId": 2,
            "lineItemKey": "gid-2",
            "sku": "",
            "name": "Card",
            "quantity": 1,
            "unitPrice": 0,
        },
        {"orderItemId": 3, "lineItemKey": None, "sku": None, "name": "Sticker", "quantity": 1},
        {
            "orderItemId": 4,
            "sku": None,
            "name": "Discount",
            "quantity": 1,
            "unitPrice": -2,
            "adjustment": True,
        },
    ],
    "customerNotes": "Leave at the door",
    "gift": True,
    "giftMessage": "Happy birthday",
    "requestedShippingService": "Priority Mail",
    "advancedOptions": {"storeId": STORE_ID, "source": "shopify", "mergedOrSplit": False},
    "someFieldShipStationAddsLater": {"x": 1},
}


def decode(order: dict[str, Any]) -> wire.Order:
    return msgspec.json.decode(json.dumps(order).encode(), type=wire.Order)


def test_an_order_maps_to_the_canonical_model() -> None:
    order = mapping.order_from_wire("ss", decode(ORDER))
    assert (
        order.origin
        == f"shipstation:{STORE_ID}"
        == CONNECTOR.origin(ShipStationSettings(store_id=STORE_ID))
    )
    assert (order.store_order_id, order.reference_id) == ("94113592", "#1042")
    assert (order.status, order.payment_status, order.fulfillment_status) == (
        "open",
        "paid",
        "unfulfilled",
    )
    assert [(line.sku, line.quantity, line.store_line_id) for line in order.lines] == [
        ("SS-0001", 2, "1"),
        ("ss:gid-2", 1, "2"),
        ("ss:item-3", 1, "3"),
    ]
    assert order.lines[0].unit_price == Decimal("12.5")
    assert order.recipient is not None
    assert (order.recipient.address2, order.recipient.country, order.recipient.email) == (
        "Apt 4",
        "US",
        "ana@example.com",
    )
    assert (order.shipping_method, order.notes, order.gift_message) == (
        "Priority Mail",
        "Leave at the door",
        "Happy birthday",
    )
    # 03:30 on 8 March 2026 is just after clocks spring forward: PDT, UTC-7.
    assert order.updated_at == datetime(2026, 3, 8, 10, 30, tzinfo=UTC)
    # 01:30 that morning is still PST, UTC-8.
    assert order.created_at == datetime(2026, 3, 8, 9, 30, tzinfo=UTC)
    reference = mapping.store_reference(decode(ORDER))
    assert (reference.store_id, reference.order_number, reference.order_key, reference.source) == (
        STORE_ID,
        "#1042",
        "5566778899",
        "shopify",
    )


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("awaiting_payment", ("open", "pending", "unfulfilled")),
        ("on_hold", ("open", "paid", "on_hold")),
        ("pending_fulfillment", ("open", "paid", "on_hold")),
        ("rejected_fulfillment", ("open", "paid", "on_hold")),
        ("shipped", ("closed", "paid", "fulfilled")),
        ("cancelled", ("cancelled", "paid", "unfulfilled")),
    ],
)
def test_statuses_map_so_the_import_rules_take_only_what_is_ready(
    status: str, expected: tuple[str, str, str]
) -> None:
    order = mapping.order_from_wire("ss", decode(ORDER | {"orderStatus": status}))
    assert (order.status, order.payment_status, order.fulfillment_status) == expected


def test_an_order_naming_no_store_or_lacking_an_address_part() -> None:
    with pytest.raises(RecordError, match="names no store"):
        mapping.order_from_wire("ss", decode(ORDER | {"advancedOptions": None}))
    no_city = ORDER | {"shipTo": ORDER["shipTo"] | {"city": None}}
    assert mapping.order_from_wire("ss", decode(no_city)).recipient is None


def test_wrong_types_fail_with_the_field_path_and_new_fields_are_ignored() -> None:
    with pytest.raises(msgspec.ValidationError, match=r"\$\.items\[0\]\.quantity"):
        decode(ORDER | {"items": [ORDER["items"][0] | {"quantity": "2"}]})
    with pytest.raises(msgspec.ValidationError, match="Invalid enum value 'archived'"):
        decode(ORDER | {"orderStatus": "archived"})
    assert decode(ORDER).order_id == 94113592  # someFieldShipStationAddsLater is ignored


@pytest.mark.parametrize(
    ("carrier", "code"),
    [
        ("USPS", "usps"),
        ("FedEx", "fedex"),
        ("DHL Express", "dhl_express"),
        ("Canada Post", "canada_post"),
        ("Acme", "other"),
        (None, "other"),
    ],
)
def test_carriers_map_to_shipstation_codes(carrier: str | None, code: str) -> None:
    assert mapping.carrier_code(carrier) == code


def test_pacific_stamps_and_filters_across_daylight_saving() -> None:
    assert pacific.aware(datetime(2026, 7, 1, 12, 0)) == datetime(2026, 7, 1, 19, 0, tzinfo=UTC)
    assert pacific.aware(datetime(2026, 1, 1, 12, 0)) == datetime(2026, 1, 1, 20, 0, tzinfo=UTC)
    assert (
        pacific.filter_value(datetime(2026, 7, 1, 19, 0, 59, 999, tzinfo=UTC))
        == "2026-07-01 12:00:59"
    )
    # 1 November 2026: 01:00-02:00 happens twice. Both instants in it are asked for from
    # 00:xx or the first 01:xx, which ShipStation can only read as at or before them.
    first = datetime(2026, 11, 1, 8, 30, tzinfo=UTC)  # 01:30 PDT
    second = datetime(2026, 11, 1, 9, 30, tzinfo=UTC)  # 01:30 PST
    assert pacific.filter_value(first) == "2026-11-01 00:30:00"
    assert pacific.filter_value(second) == "2026-11-01 01:30:00"
    for instant in (first, second):
        for fold in (0, 1):
            read = datetime.strptime(pacific.filter_value(instant), pacific.FILTER_FORMAT)
            assert read.replace(tzinfo=pacific.PACIFIC, fold=fold) <= instant


def test_settings_refuse_clear_text_off_loopback_and_are_registered() -> None:
    with pytest.raises(ValueError, match="only for a sandbox on loopback"):
        ShipStationSettings(store_id=1, base_url="http://ssapi.shipstation.com")
    assert ShipStationSettings(store_id=1, base_url="http://127.0.0.1:8650").store_id == 1
    with pytest.raises(msgspec.ValidationError, match="unknown field `storeid`"):
        msgspec.convert({"store_id": 1, "storeid": 2}, ShipStationSettings)
    assert BUILTIN["shipstation"] is CONNECTOR


async def test_a_malformed_order_fails_alone_when_its_page_is_read(app: SandboxApp) -> None:
    bad = app.state.place_order(notify=False)
    app.state.orders[bad.order_id] = msgspec.structs.replace(bad, items=[])

    async def handler(request: httpx.Request) -> httpx.Response:
        # The sandbox's answer with that one order's items (the only empty ones) of the
        # wrong type.
        response = await httpx.ASGITransport(app=app).handle_async_request(request)
        body = await response.aread()
        return httpx.Response(
            response.status_code,
            headers=response.headers,
            content=body.replace(b'"items":[]', b'"items":"none"'),
        )

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        patched = ShipStationClient(
            http, BASE_URL, Secret(SANDBOX_KEY), Secret(SANDBOX_SECRET), RecordingGate()
        )
        raws = [
            raw async for page in patched.order_pages("awaiting_shipment", None) for raw in page
        ]
    failing = [raw for raw in raws if raw.stamps.order_id == bad.order_id]
    assert len(failing) == 1
    with pytest.raises(RecordError, match=r"Expected `array`, got `str` - at `\$.items`"):
        failing[0].order  # noqa: B018 (decoding is the point)
    others = [raw.order for raw in raws if raw.stamps.order_id != bad.order_id]
    assert len(others) == len(raws) - 1


def test_the_config_loader_reports_shipstation_settings_and_credentials(tmp_path: Path) -> None:
    channel = {
        "name": "ss",
        "platform": "shipstation",
        "credentials": {
            "api_key": "env:SS_KEY",
            "api_secret": "env:SS_SECRET",
            "webhook_secret": "env:SS_HOOK",
        },
        "settings": {"base_url": "http://ssapi.shipstation.com"},
    }
    path = tmp_path / "shelfsync.toml"
    path.write_text(toml_config({"state": f"sqlite:///{tmp_path}/s.db"}, [channel]))
    environ = {"SS_KEY": "key", "SS_SECRET": "secret", "SS_HOOK": "short"}
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ=environ)
    problems = "\n".join(caught.value.problems)
    assert "store_id" in problems
    assert "webhook_secret" in problems and "shorter than 16 characters" in problems
    assert "short" not in problems.replace("shorter", "")
    channel["settings"] = {"store_id": STORE_ID}
    path.write_text(toml_config({"state": f"sqlite:///{tmp_path}/s.db"}, [channel]))
    config = load_config(path, environ=environ | {"SS_HOOK": WEBHOOK_SECRET})
    assert config.channels[0].origin == f"shipstation:{STORE_ID}"


def test_a_product_is_one_item_without_dimensions() -> None:
    product = msgspec.json.decode(
        json.dumps(
            {
                "productId": 7,
                "sku": "",
                "name": "Canvas Tote - M",
                "createDate": "2026-01-05T09:00:00.0000000",
                "modifyDate": "2026-07-05T09:00:00.0000000",
                "weightOz": 12,
                "length": 10,
                "width": 4,
                "height": 2,
                "upc": "012345678905",
                "thumbnailUrl": None,
                "active": True,
            }
        ).encode(),
        type=wire.Product,
    )
    [item] = mapping.items_from_product("ss", product)
    assert (item.sku, item.name, item.barcode, item.image_url) == (
        "ss:product-7",
        "Canvas Tote - M",
        "012345678905",
        None,
    )
    assert item.weight is not None and (item.weight.value, item.weight.unit) == (12, "oz")
    assert item.dimensions is None
    assert item.updated_at == datetime(2026, 7, 5, 16, 0, tzinfo=UTC)
