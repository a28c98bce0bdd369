"""Deterministic seed data for the Wix sandbox: a V1 catalog and orders from one seed."""

from __future__ import annotations

import itertools
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from connectors.wix.sandbox_state import Product, SiteState, Variant
from connectors.wix.wire import DEFAULT_VARIANT_ID

if TYPE_CHECKING:
    from connectors.sandbox_catalog import SharedCatalog

_ADJECTIVES = ("Classic", "Organic", "Heavy", "Light", "Vintage", "Urban", "Coastal", "Alpine")
_NOUNS = ("Tee", "Hoodie", "Mug", "Backpack", "Candle", "Notebook", "Cap", "Scarf", "Bottle")
_COLORS = ("Red", "Blue", "Black", "White", "Green")
_SIZES = ("S", "M", "L", "XL")
_METHODS = ("Standard Shipping", "Express", "Overnight")


def destination(state: SiteState, index: int) -> dict[str, Any]:
    """A complete US shipping destination in Wix's shape."""
    return {
        "address": {
            "country": "US",
            "subdivision": "US-NY",
            "city": "New York",
            "postalCode": "10001",
            "addressLine": f"{100 + index} Main Street",
            "addressLine2": "Apt 4",
        },
        "contactDetails": {"firstName": "Jane", "lastName": f"Doe{index}", "phone": "5550100"},
    }


def _variant_id(product_index: int, choice_index: int) -> str:
    # Wix derives option variants' ids from their choices: not unique across products.
    return f"00000000-0000-{choice_index:04x}-0000-{product_index % 7:012x}"


def seed_catalog(state: SiteState, count: int) -> None:
    """Generate ``count`` variants (1, 3 or 8 per product); some without SKU, some products
    untracked; stamps spread over the 30 days before ``epoch``, with runs of equal ones."""
    rng = state.rng
    made = 0
    for index in itertools.count():
        if made >= count:
            return
        shape = rng.choice(("single", "colors", "colors_sizes"))
        if shape == "single":
            options: list[tuple[str, list[str]]] = []
            combos: list[dict[str, str]] = [{}]
        elif shape == "colors":
            options = [("Color", rng.sample(_COLORS, 3))]
            combos = [{"Color": c} for c in options[0][1]]
        else:
            options = [("Color", rng.sample(_COLORS, 2)), ("Size", list(_SIZES))]
            combos = [{"Color": c, "Size": s} for c in options[0][1] for s in _SIZES]
        combos = combos[: count - made]
        # Coarse stamps (whole minutes, sometimes shared): keyset paging must not cut a run.
        stamp = state.epoch - timedelta(minutes=rng.randrange(1, 60 * 24 * 30) // 7 * 7)
        state.next_numeric_id += rng.randrange(1, 1000)
        product_id = state.uuid()
        base_sku = f"WX-{index + 1:05d}"
        variants = []
        for n, choices in enumerate(combos):
            suffix = "-".join(v[:3].upper() for v in choices.values())
            sku = "" if rng.random() < 0.04 else base_sku + (f"-{suffix}" if suffix else "")
            variants.append(
                Variant(
                    id=_variant_id(index, n + 1) if choices else DEFAULT_VARIANT_ID,
                    choices=choices,
                    sku=sku,
                    weight=round(rng.uniform(0.1, 5), 2) if rng.random() < 0.9 else None,
                    quantity=rng.randrange(0, 60),
                )
            )
        product = Product(
            id=product_id,
            numeric_id=state.next_numeric_id,
            name=f"{rng.choice(_ADJECTIVES)} {rng.choice(_NOUNS)} {index + 1}",
            sku=variants[0].sku if not options else base_sku,
            weight=variants[0].weight if not options else None,
            track_inventory=rng.random() < 0.9,
            image_url=(
                f"https://static.wixstatic.com/media/sandbox_{index + 1}.jpg"
                if rng.random() < 0.8
                else None
            ),
            options=options,
            variants=variants,
            created=stamp,
            last_updated=stamp,
        )
        state.products[product.id] = product
        made += len(variants)


def seed_shared_catalog(state: SiteState, catalog: SharedCatalog) -> None:
    """Seed ``catalog``'s products with the site's own ids, seven minutes apart (the first
    oldest), every product tracking inventory with the catalog's stock, weights in kilograms
    (the sandbox site's unit). A product without options carries its SKU and weight itself,
    as Wix keeps them for its default variant; V1 has no barcodes."""
    for index, shared in enumerate(catalog.products):
        stamp = state.epoch - timedelta(minutes=(len(catalog.products) - index) * 7)
        state.next_numeric_id += 1
        variants = [
            Variant(
                id=_variant_id(index, n + 1) if variant.options else DEFAULT_VARIANT_ID,
                choices={o.name: o.value for o in variant.options},
                sku=variant.sku,
                weight=float(variant.weight.to("kg").value),
                quantity=variant.stock,
            )
            for n, variant in enumerate(shared.variants)
        ]
        options = shared.options()
        product = Product(
            id=state.uuid(),
            numeric_id=state.next_numeric_id,
            name=shared.name,
            track_inventory=True,
            image_url=shared.image_url,
            sku="" if options else variants[0].sku,
            weight=None if options else variants[0].weight,
            options=options,
            variants=variants,
            created=stamp,
            last_updated=stamp,
        )
        state.products[product.id] = product


def seed_orders(state: SiteState) -> None:
    """Orders covering what the connector must import and what it must leave alone: paid and
    unpaid, a partially fulfilled one, a cancelled one and a checkout never placed."""
    sellable = [(p, v) for p in state.products.values() for v in p.variants if v.sku][:20]
    if not sellable:
        return
    # (paid, fulfilled lines, cancelled, initialized)
    kinds = [
        (True, 0, False, False),
        (True, 0, False, False),
        (True, 0, False, False),
        (False, 0, False, False),
        (True, 1, False, False),
        (True, 2, False, False),
        (True, 0, True, False),
        (True, 0, False, True),
    ]
    for index, (paid, fulfilled, cancelled, initialized) in enumerate(kinds):
        picks = state.rng.sample(sellable, 2)
        at = state.epoch - timedelta(hours=len(kinds) - index)
        order = state.create_order(
            [(p, v, state.rng.randrange(1, 4)) for p, v in picks],
            paid=paid,
            shipping_title=state.rng.choice(_METHODS),
            destination=destination(state, index),
            email=f"buyer{index}@example.com",
            note="Leave at the door" if index % 3 == 0 else None,
            gift_message="Happy birthday!" if index % 4 == 0 else None,
            initialized=initialized,
            at=at,
        )
        for line in order.lines[:fulfilled]:
            order.fulfillments.append(
                {
                    "id": state.uuid(),
                    "createdDate": at.isoformat().replace("+00:00", "Z"),
                    "lineItems": [{"id": line.id, "quantity": line.quantity}],
                    "trackingInfo": {"trackingNumber": f"SEED{index}", "shippingProvider": "ups"},
                }
            )
        if cancelled:
            order.status = "CANCELED"
