"""Strict decoding at the edge, and webhook signature verification."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

import httpx
import pytest

from connectors.errors import InvalidSignature, RecordError
from connectors.shopify.client import ShopifyClient
from connectors.shopify.connector import CONNECTOR, ShopifySettings
from daemon.credentials import Secret
from tests.shopify.conftest import SHOP, TOKEN, RecordingGate

SECRET = "whsec-test"


def answer_with(node: dict[str, object]) -> httpx.MockTransport:
    """A Shopify that answers every query with one product page holding ``node``."""

    def one_product(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200,
            json={
                "data": {
                    "products": {
                        "pageInfo": {"hasNextPage": False, "endCursor": None},
                        "nodes": [node],
                    }
                },
                "extensions": {
                    "cost": {
                        "requestedQueryCost": 954,
                        "actualQueryCost": 11,
                        "throttleStatus": {
                            "maximumAvailable": 2000.0,
                            "currentlyAvailable": 1989,
                            "restoreRate": 100.0,
                        },
                    }
                },
            },
        )

    return httpx.MockTransport(one_product)


async def test_changed_field_type_fails_with_its_path(gate: RecordingGate) -> None:
    node = {"id": "gid://shopify/Product/1", "updatedAt": 1767225600}
    async with httpx.AsyncClient(transport=answer_with(node)) as http:
        client = ShopifyClient(http, SHOP, "2026-01", Secret(TOKEN), gate)
        with pytest.raises(RecordError) as caught:
            await client.products_page(None, None)
    assert caught.value.reason == "schema"
    assert "Expected `datetime`, got `int`" in str(caught.value)
    assert "`$.data.products.nodes[0].updatedAt`" in str(caught.value)


async def test_changed_cost_type_fails_with_its_path(gate: RecordingGate) -> None:
    def cost_as_text(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200,
            json={
                "data": None,
                "extensions": {
                    "cost": {
                        "requestedQueryCost": "954",
                        "actualQueryCost": None,
                        "throttleStatus": {
                            "maximumAvailable": 2000.0,
                            "currentlyAvailable": 0,
                            "restoreRate": 100.0,
                        },
                    }
                },
            },
        )

    async with httpx.AsyncClient(transport=httpx.MockTransport(cost_as_text)) as http:
        client = ShopifyClient(http, SHOP, "2026-01", Secret(TOKEN), gate)
        with pytest.raises(RecordError) as caught:
            await client.products_page(None, None)
    assert "`$.extensions.cost.requestedQueryCost`" in str(caught.value)


def signed(body: bytes, secret: str = SECRET) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def verify(headers: dict[str, str], body: bytes):  # type: ignore[no-untyped-def]
    settings = ShopifySettings(shop=SHOP, location_id="gid://shopify/Location/1")
    secrets = {"token": Secret(TOKEN), "webhook_secret": Secret(SECRET)}
    return CONNECTOR.verify_webhook(settings, secrets, headers, body)


BODY = json.dumps({"id": 1001, "admin_graphql_api_id": "gid://shopify/Order/1001"}).encode()


def test_good_signature_names_the_event() -> None:
    event = verify(
        {
            "x-shopify-hmac-sha256": signed(BODY),
            "x-shopify-webhook-id": "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043",
            "x-shopify-topic": "orders/create",
        },
        BODY,
    )
    assert event.webhook_id == "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043"
    assert event.streams == ("orders",)
    assert event.topic == "orders/create"
    assert event.body == BODY


def test_products_topic_maps_to_products_and_others_to_none() -> None:
    headers = {"x-shopify-hmac-sha256": signed(BODY), "x-shopify-webhook-id": "w1"}
    assert verify({**headers, "x-shopify-topic": "products/update"}, BODY).streams == ("products",)
    assert verify({**headers, "x-shopify-topic": "inventory_levels/update"}, BODY).streams == ()


def test_tampered_body_is_rejected() -> None:
    headers = {
        "x-shopify-hmac-sha256": signed(BODY),
        "x-shopify-webhook-id": "w1",
        "x-shopify-topic": "orders/create",
    }
    with pytest.raises(InvalidSignature):
        verify(headers, BODY.replace(b"1001", b"1002"))


def test_other_secret_is_rejected() -> None:
    headers = {
        "x-shopify-hmac-sha256": signed(BODY, "another-app"),
        "x-shopify-webhook-id": "w1",
        "x-shopify-topic": "orders/create",
    }
    with pytest.raises(InvalidSignature):
        verify(headers, BODY)


def test_unsigned_is_rejected() -> None:
    with pytest.raises(InvalidSignature):
        verify({"x-shopify-webhook-id": "w1", "x-shopify-topic": "orders/create"}, BODY)
