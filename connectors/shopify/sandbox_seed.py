"""Deterministic seed data for the Shopify sandbox: catalog, stock and orders from one seed."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from connectors.shopify.sandbox_state import LOCATION_ID, UNSTOCKED_ITEMS, Product, Variant

if TYPE_CHECKING:
    from connectors.sandbox_catalog import SharedCatalog
    from connectors.shopify.sandbox_state import ShopState

_ADJECTIVES = ("Classic", "Organic", "Heavy", "Light", "Vintage", "Urban", "Coastal", "Alpine")
_NOUNS = ("Tee", "Hoodie", "Mug", "Backpack", "Candle", "Notebook", "Cap", "Scarf", "Bottle")
_COLORS = ("Red", "Blue", "Black", "White", "Green")
_SIZES = ("S", "M", "L", "XL")
_UNITS = ("GRAMS", "KILOGRAMS", "OUNCES", "POUNDS")
_METHODS = ("Standard", "Express", "Overnight")


def seed_catalog(state: ShopState, count: int) -> None:
    """Generate ``count`` variants (1, 3 or 8 per product) with stock at the location."""
    rng = state.rng
    made = 0
    while made < count:
        product_id = state.next_id("Product")
        shape = rng.choice(("single", "colors", "colors_sizes"))
        if shape == "single":
            option_sets: list[list[tuple[str, str]]] = [[]]
        elif shape == "colors":
            option_sets = [[("Color", c)] for c in rng.sample(_COLORS, 3)]
        else:
            option_sets = [
                [("Color", c), ("Size", s)] for c in rng.sample(_COLORS, 2) for s in _SIZES
            ]
        option_sets = option_sets[: count - made]
        age = timedelta(minutes=rng.randrange(1, 60 * 24 * 30))
        stamp = state.epoch - age
        title = f"{rng.choice(_ADJECTIVES)} {rng.choice(_NOUNS)} {product_id}"
        product = Product(
            id=product_id,
            title=title,
            status="DRAFT" if rng.random() < 0.05 else "ACTIVE",
            image_url=(
                f"https://cdn.shopify.com/s/files/sandbox/{product_id}.jpg"
                if rng.random() < 0.8
                else None
            ),
            created_at=stamp,
            updated_at=stamp,
        )
        state.products[product_id] = product
        for options in option_sets:
            variant_id = state.next_id("ProductVariant")
            suffix = "-".join(v[:3].upper() for _, v in options)
            sku = "" if rng.random() < 0.03 else f"SB-{variant_id}{'-' + suffix if suffix else ''}"
            weight = (
                (round(rng.uniform(0.1, 5), 2), rng.choice(_UNITS)) if rng.random() < 0.9 else None
            )
            barcode = str(rng.randrange(10**11, 10**12)) if rng.random() < 0.7 else None
            stock = rng.randrange(0, 60) if made >= UNSTOCKED_ITEMS else None
            _add_variant(state, product, variant_id, sku, barcode, list(options), weight, stock)
            made += 1


def seed_shared_catalog(state: ShopState, catalog: SharedCatalog) -> None:
    """Seed ``catalog``'s products with the shop's own ids, all active, one minute apart (the
    first oldest), weights in grams, every variant stocked at the location with its stock on
    hand and available (the seeded orders then take theirs off available, as Shopify does)."""
    for n, shared in enumerate(catalog.products):
        stamp = state.epoch - timedelta(minutes=len(catalog.products) - n)
        product = Product(
            id=state.next_id("Product"),
            title=shared.name,
            status="ACTIVE",
            image_url=shared.image_url,
            created_at=stamp,
            updated_at=stamp,
        )
        state.products[product.id] = product
        for variant in shared.variants:
            options = [(o.name, o.value) for o in variant.options]
            weight = (float(variant.weight_grams), "GRAMS")
            variant_id = state.next_id("ProductVariant")
            _add_variant(
                state,
                product,
                variant_id,
                variant.sku,
                variant.barcode,
                options,
                weight,
                variant.stock,
            )


def _add_variant(
    state: ShopState,
    product: Product,
    variant_id: int,
    sku: str,
    barcode: str | None,
    options: list[tuple[str, str]],
    weight: tuple[float, str] | None,
    stock: int | None,
) -> None:
    """Add variant ``variant_id`` of ``product``, stamped as the product, with an inventory
    item of its own holding ``stock`` units at the location (None: not stocked there)."""
    item_id = state.next_id("InventoryItem")
    state.variants[variant_id] = Variant(
        id=variant_id,
        product_id=product.id,
        inventory_item_id=item_id,
        sku=sku,
        barcode=barcode,
        options=options,
        weight=weight,
        created_at=product.created_at,
        updated_at=product.updated_at,
    )
    state.item_to_variant[item_id] = variant_id
    product.variant_ids.append(variant_id)
    if stock is not None:
        state.levels[(item_id, LOCATION_ID)] = {"available": stock, "on_hand": stock}


def seed_orders(state: ShopState) -> None:
    """Ten orders covering what the connector must import and what it must leave alone."""
    skus = [v for v in state.variants.values() if v.sku][:20]
    if not skus:
        return
    # (financial, fulfilled lines, test, cancelled): what the connector must import or skip.
    kinds = [
        ("PAID", 0, False, False),
        ("PAID", 0, False, False),
        ("PAID", 0, False, False),
        ("PENDING", 0, False, False),
        ("AUTHORIZED", 0, False, False),
        ("PAID", 0, True, False),
        ("PAID", 0, False, True),
        ("PAID", 1, False, False),
        ("PAID", 99, False, False),
        ("REFUNDED", 0, False, False),
    ]
    for index, (financial, fulfilled, test, cancelled) in enumerate(kinds):
        lines = [(state.rng.choice(skus), state.rng.randrange(1, 4)) for _ in range(2)]
        age = timedelta(hours=len(kinds) - index)
        order = state.create_order(
            lines=[(v.sku, q) for v, q in lines],
            financial=financial,
            shipping_title=state.rng.choice(_METHODS),
            test=test,
            note="Leave at the door" if index % 3 == 0 else None,
            attributes=[("gift_message", "Happy birthday!")] if index % 4 == 0 else [],
            at=state.epoch - age,
        )
        for fo_id in order.fulfillment_order_ids:
            fo = state.fulfillment_orders[fo_id]
            for line in fo.lines[: fulfilled or 0]:
                line.remaining = 0
        state.refresh_fulfillment_status(order)
        if cancelled:
            state.cancel_order(order, at=state.epoch - age)
