"""Conformance with ShipBob's published OpenAPI description (2026-01).

Every request body our client sends and every response body the sandbox serves while one
scenario walks all the endpoints the connector uses is validated against the operation's
schema in ``../shared/reference/specs/shipbob/openapi-2026-01.json``; a second scenario does
the same for orders with a shipment at every lifecycle step, each cancel result (``Success``,
``Failure``, ``PartialSuccess``) and the webhook bodies (checked against the order model).

The file is loaded the way its README says (no spec validation, ``$ref`` siblings dropped),
plus two repairs without which no real payload validates, because the file is generated from
.NET models that use inheritance:

- ``allOf`` members are merged into the schema that lists them: each level says
  ``additionalProperties: false`` about only its own properties, so as written a derived model
  (``CreateProductRequestModelV5`` = base ``name``/``type_id`` + ``variants``) rejects every
  property of its other levels;
- ``oneOf`` is read as ``anyOf``: alternatives such as ``VariantViewModelV5`` and its subclass
  ``VariantInternalViewModelV5`` (same fields plus an optional one) can never be exclusive;
- ``additionalProperties: false`` beside a ``oneOf`` with no ``properties`` of its own (the
  order's ``products`` items, ``recipient.address``) is dropped: it would forbid every field.

One operation's body is read as its description says rather than as its schema: ``PATCH
/product/{productId}/variants`` "must be an array of variant objects", while its schema is the
one variant model (``UpdateProductVariantModelV5``); each element of the array is validated
against that model.
"""

from __future__ import annotations

import copy
import json
import re
from datetime import UTC, datetime
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest
from openapi_schema_validator import OAS30Validator

from connectors import model
from connectors.errors import RecordError
from connectors.shipbob import mapping
from connectors.shipbob.client import ShipBobClient
from connectors.shipbob.sandbox import SANDBOX_TOKEN, SandboxApp
from connectors.shipbob.wire import CreateWebhookRequest
from tests.shipbob.conftest import BASE_URL, RecordingGate, make_client, order_of

SPEC = (
    Path(__file__).resolve().parents[2].parent
    / "shared/reference/specs/shipbob/openapi-2026-01.json"
)


def _drop_ref_siblings(node: Any) -> Any:
    if isinstance(node, dict):
        if "$ref" in node:
            return {"$ref": node["$ref"]}
        return {key: _drop_ref_siblings(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_drop_ref_siblings(value) for value in node]
    return node


@cache
def spec() -> dict[str, Any]:
    if not SPEC.exists():
        pytest.skip(
            f"ShipBob OpenAPI file not found at {SPEC} (present in CI; absent in a fresh clone)"
        )
    document = _drop_ref_siblings(json.loads(SPEC.read_text(encoding="utf-8")))
    schemas = document["components"]["schemas"]

    def resolve(node: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in node:
            node = schemas[node["$ref"].rsplit("/", 1)[1]]
        return node

    def flatten(node: dict[str, Any]) -> dict[str, Any]:
        for member in node.pop("allOf", []):
            base = flatten(resolve(member))
            node.setdefault("properties", {}).update(
                {k: v for k, v in base.get("properties", {}).items() if k not in node["properties"]}
            )
            required = set(node.get("required", [])) | set(base.get("required", []))
            if required:
                node["required"] = sorted(required)
            node.setdefault("type", base.get("type", "object"))
        return node

    def repair(node: Any) -> None:
        if isinstance(node, dict):
            if "oneOf" in node:
                node["anyOf"] = node.pop("oneOf")
            if "anyOf" in node and "properties" not in node:
                node.pop("additionalProperties", None)
            for value in list(node.values()):
                repair(value)
        elif isinstance(node, list):
            for value in node:
                repair(value)

    for schema in schemas.values():
        flatten(schema)
    repair(document)
    return document


def _operation(method: str, path: str) -> dict[str, Any]:
    # Literal segments win over parameters: /inventory-level/locations, not /{inventoryId}.
    for template, operations in sorted(spec()["paths"].items(), key=lambda t: t[0].count("{")):
        pattern = re.escape(template)
        pattern = re.sub(r"\\\{[^}]+\\\}", "[^/:]+", pattern)
        if re.fullmatch(pattern, path) and method.lower() in operations:
            return operations[method.lower()]
    raise AssertionError(f"{method} {path} is not in ShipBob's spec")


def validate(schema: dict[str, Any], instance: Any, what: str) -> None:
    root = {"components": spec()["components"], "allOf": [copy.deepcopy(schema)]}
    errors = sorted(OAS30Validator(root).iter_errors(instance), key=lambda e: list(e.absolute_path))
    assert not errors, (
        what + ":\n" + "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors[:5])
    )


class Exchange:
    def __init__(self, request: httpx.Request, response: httpx.Response) -> None:
        self.method = request.method
        self.path = request.url.path
        self.request_body = request.content
        self.status = response.status_code
        self.response_body = response.content

    def check(self) -> None:
        operation = _operation(self.method, self.path)
        if self.request_body and self.status != 400:  # a 400 answers a deliberately bad body
            body_schema = operation["requestBody"]["content"]["application/json"]["schema"]
            body = json.loads(self.request_body)
            for element in body if isinstance(body, list) else [body]:
                validate(body_schema, element, f"{self} request")
        described = operation["responses"].get(str(self.status))
        assert described is not None, (
            f"{self.method} {self.path}: status {self.status} not described"
        )
        content = described.get("content", {})
        if not self.response_body:
            return
        assert content, (
            f"{self.method} {self.path} {self.status}: spec has no body, sandbox sent one"
        )
        schema = next(iter(content.values()))["schema"]
        validate(schema, json.loads(self.response_body), f"{self} response")

    def __str__(self) -> str:
        return f"{self.method} {self.path} {self.status}"


@pytest.fixture
async def recorded(app: SandboxApp, gate: RecordingGate) -> Any:
    exchanges: list[Exchange] = []

    async def on_response(response: httpx.Response) -> None:
        await response.aread()
        if not response.request.url.path.startswith("/_sandbox/"):
            exchanges.append(Exchange(response.request, response))

    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), event_hooks={"response": [on_response]}
    ) as http:
        yield make_client(http, gate), http, exchanges


async def test_every_exchange_matches_the_spec(recorded: Any) -> None:
    client, http, exchanges = recorded
    client: ShipBobClient
    created = (
        await client.create_order(mapping.order_request(order_of("1", "SKU-0001", "SKU-0002")))
    ).order
    await client.create_order(
        mapping.order_request(order_of("1", "SKU-0001", "SKU-0002"))
    )  # 422 + lookup
    bad = mapping.order_request(order_of("2", "SKU-0003"))
    bad.shipping_method = ""
    with pytest.raises(RecordError):
        await client.create_order(bad)  # 400
    other = (await client.create_order(mapping.order_request(order_of("3", "NEW-SKU")))).order
    await client.cancel_order(other.id)
    await http.post(
        f"{BASE_URL}/_sandbox/ship",
        json={
            "order_id": created.id,
            "shipments": [
                {
                    "products": [{"sku": "SKU-0001", "quantity": 1}],
                    "carrier": "USPS",
                    "tracking_number": "A1",
                },
                {
                    "products": [{"sku": "SKU-0002", "quantity": 1}],
                    "carrier": "UPS",
                    "tracking_number": "A2",
                },
            ],
        },
    )
    with pytest.raises(RecordError):
        await client.cancel_order(created.id)  # 422: shipped
    orders = [o async for page in client.orders_needing_tracking(limit=1) for o in page]
    await client.mark_tracking_uploaded([s.id for o in orders for s in o.order.shipments])
    await client.list_products(page_size=10)
    item = model.Item(
        channel="web",
        store_item_id="9",
        sku="WEB-9",
        name="Cap - Red",
        barcode="0123456789012",
        weight=model.Weight(value=Decimal(100), unit="g"),
        dimensions=model.Dimensions(
            length=Decimal(10), width=Decimal(10), height=Decimal(5), unit="cm"
        ),
    )
    await client.create_product(mapping.product_request(item))
    renamed = msgspec.structs.replace(item, name="Cap - Crimson", barcode="0123456789029")
    found = await client.get_variant_by_sku(item.sku)
    assert found is not None
    await client.update_variants(found[0].id, [mapping.variant_update(renamed, found[1].id)])
    bundle = {"sku": "CAP-PAIR", "components": {"WEB-9": 2}}
    assert (await http.post(f"{BASE_URL}/_sandbox/bundles", json=bundle)).status_code == 200
    since = datetime(2026, 1, 1, tzinfo=UTC)
    changed = [p async for page in client.product_pages(updated_since=since) for p in page]
    assert any(v.bundle_definition for p in changed for v in p.variants)
    await client.inventory_levels_by_location(page_size=20)
    await client.inventory_totals(page_size=20)
    await client.list_channels()
    hook = await client.subscribe_webhook(
        CreateWebhookRequest(
            url="https://example.com/hook", topics=["order.shipped"], description="tracking"
        )
    )
    await client.list_webhooks()
    await client.delete_webhook(hook.id)

    statuses = {(e.method, e.path.split("/")[2].split(":")[0], e.status) for e in exchanges}
    assert {
        ("POST", "order", 201),
        ("POST", "order", 422),
        ("POST", "order", 400),
        ("GET", "order", 200),
        ("PATCH", "product", 200),
    } <= statuses
    for exchange in exchanges:
        exchange.check()


async def test_every_shipment_state_and_cancel_answer_matches_the_spec(
    recorded: Any, app: SandboxApp
) -> None:
    """Orders with a shipment at each lifecycle step, as the API lists them, and each cancel
    result, validated like every other answer; so are webhook bodies, which the spec does not
    describe but which carry the order model."""
    client, http, exchanges = recorded
    client: ShipBobClient
    events: list[tuple[str, bytes]] = []
    notify = app.state.notify

    def record(topic: str, order: Any) -> None:
        events.append((topic, msgspec.json.encode(order)))
        notify(topic, order)

    app.state.notify = record
    path = {
        "Processing": (),
        "Picked": ("Picked",),
        "Packed": ("Picked", "Packed"),
        "LabeledCreated": ("Picked", "Packed", "LabeledCreated"),
        "Completed": ("Picked", "Packed", "LabeledCreated", "Completed"),
        "Delivered": ("Picked", "Packed", "LabeledCreated", "Completed", "Delivered"),
        "OnHold": ("OnHold",),
        "Exception": ("Exception",),
        "Cancelled": (),  # by the cancel below
    }
    ids = {}
    for n, (name, steps) in enumerate(path.items()):
        order = (
            await client.create_order(mapping.order_request(order_of(f"s{n}", "SKU-0004")))
        ).order
        ids[name] = order.id
        for to in steps:
            moved = await http.post(
                f"{BASE_URL}/_sandbox/shipments/{order.shipments[0].id}", json={"to": to}
            )
            assert moved.status_code == 200, moved.text
    await client.cancel_order(ids["Cancelled"])  # Success
    with pytest.raises(RecordError, match="Failure"):
        await client.cancel_order(ids["Completed"])
    split = (
        await client.create_order(mapping.order_request(order_of("split", "SKU-0005", "SKU-0006")))
    ).order
    one = {"products": [{"sku": "SKU-0005", "quantity": 1}], "tracking_number": "S1"}
    await http.post(f"{BASE_URL}/_sandbox/ship", json={"order_id": split.id, "shipments": [one]})
    with pytest.raises(RecordError, match="PartialSuccess"):
        await client.cancel_order(split.id)
    listed = await http.get(
        f"{BASE_URL}/2026-01/order",
        params={"IDs": ",".join(str(i) for i in [*ids.values(), split.id]), "Limit": "250"},
        headers={"Authorization": f"Bearer {SANDBOX_TOKEN}"},
    )

    orders = listed.json()
    assert all("shipments" in order for order in orders)
    seen = {
        (s["status"], d["name"])
        for o in orders
        for s in o["shipments"]
        for d in s.get("status_details", [{"name": None}])
    }
    assert seen >= {
        ("Processing", None),
        ("Processing", "Picked"),
        ("Processing", "Packed"),
        ("LabeledCreated", "Labeled"),
        ("Completed", "Processing"),
        ("Completed", "Delivered"),
        ("OnHold", "InvalidAddress"),
        ("Exception", "OutOfStock"),
        ("Cancelled", None),
    }
    cancels = [json.loads(e.response_body) for e in exchanges if e.path.endswith(":cancel")]
    assert [c["status"] for c in cancels] == ["Success", "Failure", "PartialSuccess"]
    assert {r["is_success"] for c in cancels for r in c["canceled_shipment_results"]} == {
        True,
        False,
    }
    for exchange in exchanges:
        exchange.check()
    order_schema = {"$ref": "#/components/schemas/Orders.OrderViewModel"}
    assert {topic for topic, _ in events} == {
        "order.shipped",
        "order.shipment.delivered",
        "order.shipment.on_hold",
        "order.shipment.exception",
        "order.shipment.cancelled",
    }
    for topic, body in events:
        validate(order_schema, json.loads(body), f"{topic} webhook body")
