"""The sandbox's generated store: a catalog of ``catalog`` variants and a few orders.

Deterministic from the seed. About two products in five have options (two to four variants,
tracked by variant); the rest are simple products (their base variant only, mostly tracked
by product, some not tracked). About one variant in ten has no SKU; some variants override
the product's weight or size, the rest inherit it (null). Three products share each minute
of ``date_modified``, so reads meet records modified in the same second.
:func:`new_store` seeds the shared catalog's products instead when given one.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from connectors.bigcommerce import sandbox_orders, sandbox_shipments
from connectors.bigcommerce.sandbox_state import Image, Product, StoreState, Variant

if TYPE_CHECKING:
    from connectors.sandbox_catalog import SharedCatalog

EPOCH = datetime(2025, 1, 1, tzinfo=UTC)
_WORDS = ("Classic", "Organic", "Canvas", "Merino", "Ceramic", "Bamboo", "Linen", "Steel")
_THINGS = ("Tote", "Mug", "Shirt", "Sock", "Bottle", "Notebook", "Candle", "Cap")
_SIZES = ("S", "M", "L", "XL")
_COLOURS = ("Red", "Blue", "Green", "Black")
SEED_ORDERS = ((11, 2), (11, 1), (9, 1), (3, 2), (5, 1), (2, 1), (7, 1), (11, 3))
"""``(status id, lines)`` of the seeded orders."""


def new_store(
    seed: int,
    catalog: int,
    now: Callable[[], datetime] | None = None,
    shared: SharedCatalog | None = None,
) -> StoreState:
    """A store generated from ``seed`` with ``catalog`` variants, or with ``shared``'s when
    given, and the seeded orders."""
    state = StoreState(seed=seed, now=now)
    if shared is None:
        _seed_catalog(state, catalog)
    else:
        seed_shared_catalog(state, shared)
    _seed_orders(state)
    return state


def _seed_catalog(state: StoreState, catalog: int) -> None:
    rng = state.rng
    made = 0
    index = 0
    while made < catalog:
        product_id = state.next_id("product", 110)
        stamp = EPOCH + timedelta(minutes=index // 3)
        index += 1
        with_options = rng.random() < 0.4 and catalog - made >= 2
        count = min(rng.randint(2, 4), catalog - made) if with_options else 1
        name = f"{rng.choice(_WORDS)} {rng.choice(_THINGS)} {product_id}"
        variants = []
        for n in range(count):
            variant_id = state.next_id("variant", 200)
            has_sku = rng.random() >= 0.1
            options = []
            if with_options:
                options = [
                    {
                        "id": 300 + n,
                        "option_id": 30,
                        "label": f"{_SIZES[n]}",
                        "option_display_name": "Size",
                    },
                    {
                        "id": 400 + n,
                        "option_id": 40,
                        "label": rng.choice(_COLOURS),
                        "option_display_name": "Colour",
                    },
                ]
            sku = (
                (f"BC-{product_id}-{_SIZES[n]}" if with_options else f"BC-{product_id}")
                if has_sku
                else ""
            )
            overrides = rng.random() < 0.2
            variants.append(
                Variant(
                    id=variant_id,
                    product_id=product_id,
                    sku=sku,
                    sku_id=variant_id + 5000 if sku else None,
                    option_values=options,
                    weight=round(rng.uniform(0.1, 3.0), 2) if overrides else None,
                    width=round(rng.uniform(1, 20), 1) if overrides else None,
                    upc=f"0{rng.randrange(10**10, 10**11)}" if rng.random() < 0.5 else None,
                    price=round(rng.uniform(5, 80), 2),
                )
            )
        tracking = "variant" if with_options else ("product" if rng.random() < 0.9 else "none")
        images = [
            Image(
                id=state.next_id("image", 900),
                product_id=product_id,
                url=f"https://cdn11.bigcommerce.com/s-{product_id}/products/{product_id}/images/{n}.jpg",
                is_thumbnail=n == 0,
                sort_order=n,
                date_modified=stamp,
            )
            for n in range(rng.randint(0, 2))
        ]
        weight = round(rng.uniform(0.2, 5.0), 2)
        sides = (round(rng.uniform(2, 30), 1), round(rng.uniform(2, 30), 1))
        height = round(rng.uniform(1, 20), 1)
        sku = variants[0].sku if not with_options else f"BC-{product_id}"
        state.products[product_id] = _product(
            product_id, name, sku, tracking, stamp, variants, images, (weight, *sides, height)
        )
        for variant in variants[: 1 if tracking == "product" else None]:
            state.stock[(1, variant.id)] = rng.randint(0, 100)
        made += count


GRAMS_PER_POUND = 453.59237
"""The sandbox store's weight unit is the pound (the connector's default ``weight_unit``)."""


def seed_shared_catalog(state: StoreState, catalog: SharedCatalog) -> None:
    """Seed ``catalog``'s products with the store's own ids, a minute apart (the first
    oldest), all visible. A product without options is a simple product tracked by product
    (its base variant carries the SKU); one with options is tracked by variant, one option
    per option name. Weights are each variant's own, in pounds to the ten-thousandth (within
    a tenth of a gram); the barcode is the variant's UPC; stock is the catalog's, at the
    default location."""
    for n, shared in enumerate(catalog.products):
        product_id = state.next_id("product", 110)
        stamp = EPOCH + timedelta(minutes=n)
        values = dict(shared.options())
        names = list(values)
        variants = []
        for variant in shared.variants:
            variant_id = state.next_id("variant", 200)
            options = [
                {
                    # Ids unique per product: the option by its name, the value by its label.
                    "id": 300 + 100 * names.index(o.name) + values[o.name].index(o.value),
                    "option_id": 30 + 10 * names.index(o.name),
                    "label": o.value,
                    "option_display_name": o.name,
                }
                for o in variant.options
            ]
            variants.append(
                Variant(
                    id=variant_id,
                    product_id=product_id,
                    sku=variant.sku,
                    sku_id=variant_id + 5000,
                    option_values=options,
                    weight=round(variant.weight_grams / GRAMS_PER_POUND, 4),
                    upc=variant.barcode,
                    price=float(variant.price),
                )
            )
        tracking = "variant" if names else "product"
        images = (
            [
                Image(
                    id=state.next_id("image", 900),
                    product_id=product_id,
                    url=shared.image_url,
                    is_thumbnail=True,
                    sort_order=0,
                    date_modified=stamp,
                )
            ]
            if shared.image_url
            else []
        )
        sku = "" if names else variants[0].sku
        size = (variants[0].weight or 0.0, 10.0, 10.0, 5.0)
        state.products[product_id] = _product(
            product_id, shared.name, sku, tracking, stamp, variants, images, size
        )
        for variant, seeded in zip(shared.variants, variants, strict=True):
            state.stock[(1, seeded.id)] = variant.stock


def _product(
    product_id: int,
    name: str,
    sku: str,
    tracking: str,
    stamp: datetime,
    variants: list[Variant],
    images: list[Image],
    size: tuple[float, float, float, float],
) -> Product:
    """A visible physical product created and modified at ``stamp``, priced as its first
    variant; ``size`` is its weight, width, depth and height."""
    weight, width, depth, height = size
    return Product(
        id=product_id,
        name=name,
        sku=sku,
        weight=weight,
        width=width,
        depth=depth,
        height=height,
        price=variants[0].price,
        inventory_tracking=tracking,
        upc="",
        date_created=stamp,
        date_modified=stamp,
        variants=variants,
        images=images,
    )


def _seed_orders(state: StoreState) -> None:
    physical = [(p, v) for p, v in state.variants() if p.inventory_tracking != "none"]
    if not physical:
        return
    rng = state.rng
    for number, (status, count) in enumerate(SEED_ORDERS):
        lines = [
            sandbox_orders.Line(variant_id=v.id, quantity=rng.randint(1, 3))
            for _, v in rng.sample(physical, min(count, len(physical)))
        ]
        if number == 1:
            lines[0].wrapping_message = "Happy birthday!"
        order = sandbox_orders.place_order(
            state,
            sandbox_orders.PlaceOrder(
                lines=lines,
                customer_message="Leave at the back door" if number == 0 else "",
            ),
            quiet=True,
        )
        if status == 3:
            first = order.products[0]
            sandbox_shipments.ship(
                state, order, order.addresses[0].id, [(first.id, first.quantity)], quiet=True
            )
        elif status == 2:
            items = [(p.id, p.quantity) for p in order.products]
            sandbox_shipments.ship(state, order, order.addresses[0].id, items, quiet=True)
        order.status_id = status
        order.date_created = order.date_modified = EPOCH + timedelta(days=30, hours=number)
