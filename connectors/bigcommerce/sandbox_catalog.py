"""The sandbox's v3 catalog and inventory: products, variants, inventory items, adjustments.

Lists are wrapped in ``{"data": [...], "meta": {"pagination": {..., "links": {...}}}}`` with
``links.next`` a query string; ``limit`` defaults to 50 and above 250 is a 413 (with
``include=options`` or ``modifiers``, pages hold at most 10). Products filter on ``id``,
``id:in``, ``id:greater``, ``sku`` and ``sku:in`` (base SKU only), ``date_modified:min`` and
``:max`` (inclusive, to the second; a date without a time gets the current time of day, as
BigCommerce does), sort on ``id``, ``name``, ``sku`` or ``date_modified``, and take
``include`` and ``include_fields``.
Absolute adjustments take at most 2,000 items, each with exactly one of ``sku``,
``variant_id``, ``product_id``, keyed by the item's tracking mode (422 problem+json
otherwise, the whole request refused); they set the level at the location and apply
together, or not at all.
"""

from __future__ import annotations

import urllib.parse
from datetime import UTC, datetime
from typing import Any

from connectors.bigcommerce.sandbox_state import LOCATIONS, Product, Reply, StoreState, Variant

ERROR_TYPE = "https://developer.bigcommerce.com/api-docs/getting-started/api-status-codes"
INCLUDES = frozenset(
    (
        "bulk_pricing_rules",
        "channels",
        "custom_fields",
        "images",
        "modifiers",
        "options",
        "parent_relations",
        "primary_image",
        "reviews",
        "variants",
        "videos",
    )
)
MAX_QUANTITY = 2_147_483_647
MAX_ADJUSTMENTS = 2000


def v3_error(status: int, title: str, errors: dict[str, str] | None = None) -> Reply:
    body: dict[str, Any] = {"status": status, "title": title, "type": ERROR_TYPE}
    body["errors"] = errors or {}
    return status, body


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds")


def envelope(query: dict[str, str], items: list[Any], render: Any, *, cap: int = 250) -> Reply:
    """A v3 list answer: one page of ``items`` (already filtered and sorted), each rendered."""
    try:
        page, limit = int(query.get("page", "1")), int(query.get("limit", "50"))
    except ValueError:
        return v3_error(422, "The page and limit parameters must be integers.")
    if limit > 250:
        return v3_error(413, "The limit parameter exceeds the maximum of 250.")
    if page < 1 or limit < 1:
        return v3_error(422, "The page and limit parameters must be positive.")
    limit = min(limit, cap)
    chunk = items[(page - 1) * limit : page * limit]
    total_pages = max(1, -(-len(items) // limit))

    def link(number: int) -> str:
        return "?" + urllib.parse.urlencode(query | {"page": str(number), "limit": str(limit)})

    links = {"current": link(page)}
    if page > 1:
        links["previous"] = link(page - 1)
    if page < total_pages:
        links["next"] = link(page + 1)
    pagination = {
        "total": len(items),
        "count": len(chunk),
        "per_page": limit,
        "current_page": page,
        "total_pages": total_pages,
        "links": links,
    }
    return 200, {"data": [render(item) for item in chunk], "meta": {"pagination": pagination}}


def _ints(value: str) -> set[int]:
    return {int(v) for v in value.split(",") if v.strip()}


def _date_bound(state: StoreState, value: str) -> datetime:
    if "T" not in value and " " not in value:
        # BigCommerce appends the current time of day to a bare date.
        now = state.now().astimezone(UTC)
        value = f"{value}T{now:%H:%M:%S}+00:00"
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def render_variant(state: StoreState, product: Product, variant: Variant) -> dict[str, Any]:
    return {
        "id": variant.id,
        "product_id": product.id,
        "sku": variant.sku,
        "sku_id": variant.sku_id,
        "price": variant.price,
        "calculated_price": variant.price,
        "sale_price": None,
        "retail_price": None,
        "weight": variant.weight,
        "width": variant.width,
        "height": variant.height,
        "depth": variant.depth,
        "is_free_shipping": False,
        "purchasing_disabled": False,
        "purchasing_disabled_message": "",
        "upc": variant.upc,
        "inventory_level": state.level(product, variant),
        "inventory_warning_level": 0,
        "bin_picking_number": "",
        "option_values": variant.option_values,
    }


def render_product(
    state: StoreState, product: Product, include: set[str], fields: set[str]
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": product.id,
        "name": product.name,
        "type": product.type,
        "sku": product.sku,
        "weight": product.weight,
        "width": product.width,
        "depth": product.depth,
        "height": product.height,
        "price": product.price,
        "inventory_level": state.level(product),
        "inventory_warning_level": 0,
        "inventory_tracking": product.inventory_tracking,
        "is_visible": product.is_visible,
        "upc": product.upc,
        "gtin": "",
        "availability": "available",
        "date_created": _iso(product.date_created),
        "date_modified": _iso(product.date_modified),
        "base_variant_id": product.base_variant_id,
        "custom_url": {"url": f"/product-{product.id}/", "is_customized": False},
    }
    if fields:
        body = {k: v for k, v in body.items() if k in fields or k == "id"}
    if "variants" in include:
        body["variants"] = [render_variant(state, product, v) for v in product.variants]
    if "images" in include:
        body["images"] = [
            {
                "id": i.id,
                "product_id": product.id,
                "is_thumbnail": i.is_thumbnail,
                "sort_order": i.sort_order,
                "description": "",
                "image_file": i.url.rsplit("/", 1)[-1],
                "url_zoom": i.url,
                "url_standard": i.url,
                "url_thumbnail": i.url,
                "url_tiny": i.url,
                "date_modified": _iso(i.date_modified),
            }
            for i in product.images
        ]
    return body


def list_products(state: StoreState, query: dict[str, str]) -> Reply:
    include = {v for v in query.get("include", "").split(",") if v}
    if include - INCLUDES:
        return v3_error(422, f"Invalid include: {', '.join(sorted(include - INCLUDES))}")
    fields = {v for v in query.get("include_fields", "").split(",") if v}
    try:
        products = list(state.products.values())
        if "id" in query:
            products = [p for p in products if p.id == int(query["id"])]
        if "id:in" in query:
            wanted = _ints(query["id:in"])
            products = [p for p in products if p.id in wanted]
        if "id:greater" in query:
            products = [p for p in products if p.id > int(query["id:greater"])]
        if "sku" in query:
            products = [p for p in products if p.sku.casefold() == query["sku"].casefold()]
        if "sku:in" in query:
            skus = {s.casefold() for s in query["sku:in"].split(",")}
            products = [p for p in products if p.sku.casefold() in skus]
        if "date_modified:min" in query:
            low = _date_bound(state, query["date_modified:min"])
            products = [p for p in products if p.date_modified.replace(microsecond=0) >= low]
        if "date_modified:max" in query:
            high = _date_bound(state, query["date_modified:max"])
            products = [p for p in products if p.date_modified.replace(microsecond=0) <= high]
    except ValueError as exc:
        return v3_error(422, f"A filter is invalid: {exc}")
    sort = query.get("sort", "id")
    if sort not in ("id", "name", "sku", "date_modified"):
        return v3_error(422, f"Invalid sort: {sort}")
    products.sort(key=lambda p: (getattr(p, sort), p.id), reverse=query.get("direction") == "desc")
    cap = 10 if include & {"options", "modifiers"} else 250
    return envelope(query, products, lambda p: render_product(state, p, include, fields), cap=cap)


def list_variants(state: StoreState, query: dict[str, str]) -> Reply:
    try:
        pairs = state.variants()
        if "id" in query:
            pairs = [(p, v) for p, v in pairs if v.id == int(query["id"])]
        if "sku" in query:
            pairs = [(p, v) for p, v in pairs if v.sku.casefold() == query["sku"].casefold()]
        if "product_id:in" in query:
            wanted = _ints(query["product_id:in"])
            pairs = [(p, v) for p, v in pairs if p.id in wanted]
    except ValueError as exc:
        return v3_error(422, f"A filter is invalid: {exc}")
    return envelope(query, pairs, lambda pv: render_variant(state, *pv))


def list_inventory_items(state: StoreState, query: dict[str, str]) -> Reply:
    try:
        if "sku:in" in query:
            # By the SKU index: a large store is looked up a hundred SKUs at a time.
            found = (state.find_sku(sku) for sku in query["sku:in"].split(","))
            pairs = sorted(
                {pv[1].id: pv for pv in found if pv is not None}.values(), key=lambda pv: pv[1].id
            )
        else:
            pairs = state.variants()
        if "variant_id:in" in query:
            wanted = _ints(query["variant_id:in"])
            pairs = [(p, v) for p, v in pairs if v.id in wanted]
        if "product_id:in" in query:
            wanted = _ints(query["product_id:in"])
            pairs = [(p, v) for p, v in pairs if p.id in wanted]
        locations = _ints(query["location_id:in"]) if "location_id:in" in query else set(LOCATIONS)
    except ValueError as exc:
        return v3_error(422, f"A filter is invalid: {exc}")

    def render(pair: tuple[Product, Variant]) -> dict[str, Any]:
        product, variant = pair
        key = product.variants[0] if product.inventory_tracking == "product" else variant
        identity = {"sku": variant.sku, "variant_id": variant.id, "product_id": product.id}
        if variant.sku_id is not None:
            # The Inventory API's schema has no null here (the catalog's has): a variant
            # without a v2 SKU record goes without.
            identity["sku_id"] = variant.sku_id
        return {
            "identity": identity,
            "locations": [
                {
                    "location_id": location,
                    "location_code": f"LOC-{location}",
                    "location_name": LOCATIONS[location],
                    "available_to_sell": state.stock.get((location, key.id), 0),
                    "total_inventory_onhand": state.stock.get((location, key.id), 0),
                    "location_enabled": True,
                    "settings": {
                        "safety_stock": 0,
                        "is_in_stock": True,
                        "warning_level": 0,
                        "bin_picking_number": "",
                    },
                }
                for location in sorted(locations & set(LOCATIONS))
            ],
        }

    return envelope(query, pairs, render)


def _problem(title: str) -> Reply:
    return 422, {"status": 422, "title": f"[{title}]", "type": ERROR_TYPE, "errors": {}}


def absolute_adjustment(state: StoreState, body: Any) -> Reply:
    """``PUT /v3/inventory/adjustments/absolute``: all items checked, then all applied."""
    items = body.get("items") if isinstance(body, dict) else None
    if not isinstance(items, list) or not items:
        return _problem("The field 'items' is required")
    if len(items) > MAX_ADJUSTMENTS:
        return _problem(f"A request takes at most {MAX_ADJUSTMENTS} items")
    changes: list[tuple[int, Product, Variant, int]] = []
    for item in items:
        if not isinstance(item, dict):
            return _problem("Each item must be an object")
        keys = [k for k in ("sku", "variant_id", "product_id") if k in item]
        location, quantity = item.get("location_id"), item.get("quantity")
        if len(keys) != 1:
            return _problem("Each item needs exactly one of sku, variant_id and product_id")
        if location not in LOCATIONS:
            return _problem(f"Location {location} does not exist")
        if not isinstance(quantity, int) or not 0 <= quantity <= MAX_QUANTITY:
            return _problem(f"Quantity must be between 0 and {MAX_QUANTITY}")
        key = keys[0]
        value = item[key]
        if key == "product_id":
            product = state.products.get(value) if isinstance(value, int) else None
            found = (product, product.variants[0]) if product is not None else None
        elif key == "variant_id":
            found = state.find_variant(value) if isinstance(value, int) else None
        else:
            found = state.find_sku(value) if isinstance(value, str) and value else None
        if found is None:
            return _problem(f"Item with {key} {value} does not exist")
        product, variant = found
        tracking = product.inventory_tracking
        if tracking == "none":
            return _problem(f"Item with {key} {value} is not tracked")
        if tracking == "product" and key != "product_id":
            return _problem(
                f"Item with {key} {value} is tracked by product, please update stock by product id"
            )
        if tracking == "variant" and key == "product_id":
            return _problem(
                f"Item with {key} {value} is tracked by variant, "
                "please update stock by variant id or sku"
            )
        changes.append((location, product, variant, quantity))
    if all(state.shown(location, p, v) == quantity for location, p, v, quantity in changes):
        state.counters["noop_writes"] += 1
    for location, product, variant, quantity in changes:
        state.set_stock(location, product, variant, quantity)
    return 200, {"transaction_id": f"{state.rng.getrandbits(128):032x}"}
