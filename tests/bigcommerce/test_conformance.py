"""Conformance with BigCommerce's published OpenAPI descriptions and sample callbacks.

Every exchange the connector and client have with the sandbox while one scenario walks every
call they make (both streams, both writes, a tracking-mode refusal, hook registration) is
recorded; each request's query parameters (every one must be documented, and its value must
fit the parameter's schema) and JSON body, and each response's status and body, are validated
against the operation in ``../shared/reference/specs/bigcommerce/*.yml``. Every callback the
sandbox sends must have the shape of BigCommerce's sample for its scope (same keys, same JSON
types, all the way down).

The files are used as published, with one repair: a field is read as ``nullable`` where the
files say it may be null but not the OpenAPI 3 way: the catalog files still mark some the
OpenAPI 2 way (``x-nullable: true``, e.g. a variant's ``weight``, null when the product's
applies), and others only in their description ("This value is `null` for complex
products": a product's ``base_variant_id``). And v2's ``sort`` is checked as its description
says (a field of the enum, then ``:asc`` or ``:desc``), which its enum alone does not allow;
a v2 list's 204 with an empty body (BigCommerce's empty list) passes where the file lists
only 200.
"""

from __future__ import annotations

import copy
import json
import re
from functools import cache
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest
import trio
import trio.testing
from openapi_schema_validator import OAS30Validator

from connectors.bigcommerce import wire
from connectors.bigcommerce.client import BigCommerceClient, TrackingMismatch
from connectors.bigcommerce.sandbox import SANDBOX_TOKEN, STORE_HASH, SandboxApp, create_app
from connectors.sandbox_server import SandboxOptions
from daemon.credentials import Secret
from tests.bigcommerce.conftest import (
    BASE_URL,
    Receiver,
    RecordingGate,
    canonical_lines,
    inventory_write,
    make_connector,
    open_order,
    subscribe,
    tracking_write,
)
from tests.helpers import delivering_to

SPECS = Path(__file__).resolve().parents[2].parent / "shared/reference/specs/bigcommerce"
FILES = {
    "products_catalog.v3.yml": "v3",
    "product-variants_catalog.v3.yml": "v3",
    "inventory.v3.yml": "v3",
    "webhooks.v3.yml": "v3",
    "orders.v2.oas2.yml": "v2",
}


def _repair(node: Any) -> Any:
    if isinstance(node, dict):
        repaired = {key: _repair(value) for key, value in node.items()}
        described_null = re.search(r"value is `?null`?", str(repaired.get("description", "")))
        if repaired.pop("x-nullable", False) or described_null:
            repaired["nullable"] = True
        return repaired
    if isinstance(node, list):
        return [_repair(value) for value in node]
    return node


@cache
def documents() -> dict[str, dict[str, Any]]:
    if not SPECS.exists():
        pytest.skip(
            f"BigCommerce OpenAPI files not found at {SPECS} "
            "(present in CI; absent in a fresh clone)"
        )
    yaml = pytest.importorskip("yaml")
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml: ten times faster
    return {
        name: _repair(yaml.load((SPECS / name).read_text(encoding="utf-8"), Loader=loader))
        for name in FILES
    }


def _resolve(document: dict[str, Any], node: Any) -> Any:
    while isinstance(node, dict) and "$ref" in node:
        target: Any = document
        for part in node["$ref"].lstrip("#/").split("/"):
            target = target[part]
        node = target
    return node


def operation(
    method: str, path: str
) -> tuple[dict[str, Any], dict[str, Any], list[dict[str, Any]]]:
    """``(document, operation, parameters)`` for a request path under the store."""
    version, _, rest = path.removeprefix(f"/stores/{STORE_HASH}/").partition("/")
    for name, prefix in FILES.items():
        if prefix != version:
            continue
        document = documents()[name]
        templates = sorted(document["paths"].items(), key=lambda t: t[0].count("{"))
        for template, item in templates:
            pattern = re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template.lstrip("/")))
            if re.fullmatch(pattern, rest) and method.lower() in item:
                op = item[method.lower()]
                params = [
                    _resolve(document, p)
                    for p in item.get("parameters", []) + op.get("parameters", [])
                ]
                return document, op, params
    raise AssertionError(f"{method} {path} is in none of BigCommerce's files")


def validate(document: dict[str, Any], schema: dict[str, Any], instance: Any, what: str) -> None:
    root = {"components": document.get("components", {}), "allOf": [copy.deepcopy(schema)]}
    errors = sorted(OAS30Validator(root).iter_errors(instance), key=lambda e: list(e.absolute_path))
    assert not errors, (
        what + ":\n" + "\n".join(f"{list(e.absolute_path)}: {e.message[:300]}" for e in errors[:5])
    )


def _query_value(schema: dict[str, Any], raw: str) -> Any:
    kind = schema.get("type")
    if kind == "array":
        return [_query_value(schema.get("items", {}), part) for part in raw.split(",")]
    if kind == "integer":
        return int(raw) if re.fullmatch(r"-?\d+", raw) else raw
    if kind == "number":
        return float(raw) if re.fullmatch(r"-?\d+(\.\d+)?", raw) else raw
    if kind == "boolean":
        return {"true": True, "false": False}.get(raw, raw)
    return raw


def check_exchange(request: httpx.Request, response: httpx.Response) -> None:
    what = f"{request.method} {request.url.path}"
    document, op, params = operation(request.method, request.url.path)
    documented = {p["name"]: p for p in params if p.get("in") == "query"}
    for name, value in request.url.params.multi_items():
        assert name in documented, f"{what}: query parameter {name!r} is not documented"
        schema = _resolve(document, documented[name].get("schema", {}))
        if "`:asc` or `:desc`" in documented[name].get("description", ""):
            # v2's sort: the enum lists fields, the description says to append the direction.
            value = re.sub(r":(asc|desc)$", "", value)
        validate(document, schema, _query_value(schema, value), f"{what} ?{name}={value}")
    if request.content:
        body = _resolve(document, op["requestBody"])["content"]["application/json"]["schema"]
        validate(document, body, json.loads(request.content), f"{what} request body")
    responses = op["responses"]
    status = str(response.status_code)
    if status == "204" and request.method == "GET" and "/v2/" in request.url.path:
        # v2's empty list: documented by BigCommerce's guides, absent from getOrders.
        assert response.content == b""
        return
    assert status in responses or "default" in responses, f"{what}: {status} is not documented"
    answer = _resolve(document, responses.get(status) or responses["default"])
    if response.status_code == 204:
        assert response.content == b""
        return
    content = answer.get("content", {})
    media = response.headers.get("content-type", "").split(";")[0]
    if content and response.content:
        assert media in content, f"{what}: {media} is not among {list(content)}"
        schema = content[media].get("schema")
        if schema is not None:
            validate(document, schema, response.json(), f"{what} {status} body")


class RecordingTransport(httpx.AsyncBaseTransport):
    def __init__(self, app: SandboxApp) -> None:
        self.inner = httpx.ASGITransport(app=app)
        self.exchanges: list[tuple[httpx.Request, httpx.Response]] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        await response.aread()
        self.exchanges.append((request, response))
        return response


async def test_every_exchange_of_the_connector_conforms() -> None:
    documents()
    app = create_app(SandboxOptions(seed=5, catalog=60))
    transport = RecordingTransport(app)
    async with httpx.AsyncClient(transport=transport) as http:
        connector = make_connector(http, RecordingGate())
        products = [
            r for p in [p async for p in connector.read("products", None)] for r in p.records
        ]
        [p async for p in connector.read("orders", None)]
        # An order by id, and one the store does not have (404).
        await connector.fetch(
            "orders", [str(min(app.state.orders)), str(max(app.state.orders) + 1)]
        )
        by_variant = next(
            (p, v) for p, v in app.state.variants() if p.inventory_tracking == "variant" and v.sku
        )
        simple = next(p for p in app.state.products.values() if p.inventory_tracking == "product")
        no_sku = next((p, v) for p, v in app.state.variants() if v.option_values and not v.sku)
        await connector.write(
            inventory_write(
                {
                    by_variant[1].sku: 4,
                    simple.sku or f"bc:{simple.id}": 5,
                    f"bc:{no_sku[0].id}/{no_sku[1].id}": 6,
                }
            )
        )
        # A reconcile also reads the levels of fallback keys, by variant id.
        await connector.write(
            inventory_write({f"bc:{no_sku[0].id}/{no_sku[1].id}": 7}, key="inv-2", reconcile=True)
        )
        order = open_order(app)
        await connector.write(
            tracking_write(order, canonical_lines(order), url="https://t.example/1")
        )
        await connector.write(
            tracking_write(order, canonical_lines(order), url="https://t.example/1")
        )
        client = BigCommerceClient(
            http, BASE_URL, STORE_HASH, Secret(SANDBOX_TOKEN), RecordingGate()
        )
        # A second walked by id (what a read does when a second holds more than a page).
        assert await client.products_page(products[0].updated_at, 0)
        assert await client.orders_page(11, open_order(app).date_modified, 0)
        with pytest.raises(TrackingMismatch):
            await client.set_absolute(
                [wire.AdjustmentItem(location_id=1, quantity=1, product_id=by_variant[0].id)],
                reason="t",
            )
        hook = await client.create_hook(
            wire.HookRequest(
                scope="store/order/*",
                destination="https://shelfsync.example/hooks",
                headers={"X-Shelfsync-Webhook-Secret": "a" * 20},
            )
        )
        await client.list_hooks()
        await client.update_hook(
            hook.id,
            wire.HookRequest(scope="store/order/*", destination=hook.destination, is_active=False),
        )
        await client.delete_hook(hook.id)
    assert products
    paths = {(r.method, re.sub(r"/\d+", "/{id}", r.url.path)) for r, _ in transport.exchanges}
    assert len(paths) >= 10
    for request, response in transport.exchanges:
        check_exchange(request, response)


def _shape(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_shape(value[0])] if value else []
    return type(value).__name__


async def test_every_callback_has_the_shape_of_bigcommerce_sample(
    mock_clock: trio.testing.MockClock,
) -> None:
    if not (SPECS / "webhook-samples").exists():
        pytest.skip(f"BigCommerce webhook samples not found at {SPECS / 'webhook-samples'}")
    app = create_app(SandboxOptions(seed=5, catalog=30))
    receiver = Receiver()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app)) as http:
        await subscribe(
            http, scopes=("store/order/*", "store/product/*", "store/sku/*", "store/shipment/*")
        )
        async with delivering_to(app, receiver) as nursery:
            connector = make_connector(http, RecordingGate())
            order = open_order(app)
            await connector.write(tracking_write(order, canonical_lines(order)))
            simple = next(
                p for p in app.state.products.values() if p.inventory_tracking == "product"
            )
            variant = next(
                v for p, v in app.state.variants() if p.inventory_tracking == "variant" and v.sku
            )
            await http.post(
                f"{BASE_URL}/_sandbox/stock", json={"product_id": simple.id, "quantity": 2}
            )
            await http.post(f"{BASE_URL}/_sandbox/stock", json={"sku": variant.sku, "quantity": 2})
            await http.post(f"{BASE_URL}/_sandbox/products/{simple.id}", json={"name": "Renamed"})
            await http.post(f"{BASE_URL}/_sandbox/orders", json={"lines": [{"sku": variant.sku}]})
            await trio.sleep(1)
            nursery.cancel_scope.cancel()
    scopes = set()
    for event in receiver.accepted:
        sample_file = SPECS / "webhook-samples" / (event.topic.replace("/", "_") + ".json")
        assert sample_file.exists(), f"no sample for {event.topic}"
        sample = json.loads(sample_file.read_text(encoding="utf-8"))
        sent = msgspec.json.decode(event.body)
        assert _shape(sent) == _shape(sample), event.topic
        scopes.add(event.topic)
    assert scopes == {
        "store/order/created",
        "store/order/updated",
        "store/order/statusUpdated",
        "store/shipment/created",
        "store/product/updated",
        "store/product/inventory/updated",
        "store/sku/inventory/updated",
    }
