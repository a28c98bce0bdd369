"""One catalog for every sandbox: the shop that several storefronts sell from a single stock
pool at the fulfillment provider.

:func:`build_catalog` turns ``(seed, variants)`` into the same products every time: names,
image URLs, and variants with SKU, option values, weight, barcode, price and stock. Each
platform's sandbox seeds its own records from it (its own ids and field names, in its seed
module), so that the same SKUs, names, options, weights and barcodes appear in every
storefront and, with the stock, at the fulfillment provider. Nothing here knows a platform.

The shape: products of one variant without options, of three colours, or of two colours in
three sizes (the last product is cut short to make exactly ``variants``); about one variant in
ten is low on stock (:data:`LOW_STOCK` units at most), so that a short demo sells some out.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from decimal import Decimal

import msgspec

from connectors.model import Weight, variant_name

LOW_STOCK = 3
"""The most units a low-stock variant holds (it holds at least one)."""
SKU_PREFIX = "SC"
"""Every shared SKU starts ``SC-``: no platform's own generator makes such SKUs."""
COLOR = "Color"
SIZE = "Size"

_ADJECTIVES = ("Classic", "Organic", "Canvas", "Merino", "Coastal", "Alpine", "Urban", "Linen")
_THINGS = (
    # (name, grams of the smallest variant)
    ("Tee", 160),
    ("Hoodie", 520),
    ("Mug", 340),
    ("Tote", 210),
    ("Cap", 90),
    ("Scarf", 120),
    ("Bottle", 280),
    ("Notebook", 250),
    ("Candle", 400),
)
_COLORS = ("Red", "Blue", "Black", "White", "Green")
_SIZES = ("S", "M", "L")
_SIZED_GRAMS = 15
"""Grams each size step adds (an M weighs this much more than an S)."""


class OptionValue(msgspec.Struct, frozen=True):
    """One option of a variant: ``Color`` is ``Blue``."""

    name: str
    value: str


class CatalogVariant(msgspec.Struct, frozen=True):
    """One sellable variant, identified everywhere by its SKU."""

    sku: str
    """Unique in the catalog; upper-case letters, digits and ``-``."""
    options: tuple[OptionValue, ...]
    """Empty for a product without options (its one variant)."""
    weight_grams: int
    """Positive."""
    barcode: str
    """A UPC-A: twelve digits with a valid check digit, unique in the catalog."""
    price: Decimal
    """The shelf price in the shop's currency, two decimal places."""
    stock: int
    """The units the fulfillment provider holds, all fulfillable: a storefront's initial
    stock where its platform keeps stock."""

    @property
    def option_values(self) -> list[str]:
        return [option.value for option in self.options]

    @property
    def weight(self) -> Weight:
        """:attr:`weight_grams` as a weight, to convert to a platform's unit."""
        return Weight(value=Decimal(self.weight_grams), unit="g")


class CatalogProduct(msgspec.Struct, frozen=True):
    """A product: a name shared by one or more variants."""

    name: str
    """Unique in the catalog."""
    image_url: str | None
    variants: tuple[CatalogVariant, ...]
    """At least one; all of a product's variants have the same option names, in one order."""

    def options(self) -> list[tuple[str, list[str]]]:
        """The product's options, ``[("Color", ["Red", "Blue"]), ...]``: each option name with
        its values in the order the variants first use them; empty for a product without."""
        values: dict[str, list[str]] = {}
        for variant in self.variants:
            for option in variant.options:
                seen = values.setdefault(option.name, [])
                if option.value not in seen:
                    seen.append(option.value)
        return list(values.items())

    def variant_name(self, variant: CatalogVariant) -> str:
        """The catalog name of ``variant``, as every connector reads it: "Tee - Blue / M"."""
        return variant_name(self.name, variant.option_values)


class CatalogBundle(msgspec.Struct, frozen=True):
    """A SKU the storefronts sell as a set of other SKUs, which the warehouse picks instead:
    a product of one variant in every storefront (its stock there is what its components
    allow), none at the fulfillment provider."""

    sku: str
    components: tuple[tuple[str, int], ...]
    """``(component SKU, units per bundle)``: two or more SKUs of the catalog's variants."""


class SharedCatalog(msgspec.Struct, frozen=True):
    products: tuple[CatalogProduct, ...]
    """What the storefronts list, bundles included (as products of one variant each)."""
    bundles: tuple[CatalogBundle, ...] = ()

    def variants(self) -> Iterator[tuple[CatalogProduct, CatalogVariant]]:
        """Every variant with its product, in catalog order."""
        for product in self.products:
            for variant in product.variants:
                yield product, variant

    def pooled_products(self) -> list[CatalogProduct]:
        """The products the fulfillment provider holds: every one but the bundles."""
        bundled = {bundle.sku for bundle in self.bundles}
        return [p for p in self.products if not any(v.sku in bundled for v in p.variants)]

    def stock(self) -> dict[str, int]:
        """The units held of each SKU: the one stock pool the storefronts sell from (the
        bundles are made of it, and hold none of their own)."""
        return {v.sku: v.stock for p in self.pooled_products() for v in p.variants}


def build_catalog(seed: int, variants: int, bundles: int = 0) -> SharedCatalog:
    """A catalog of exactly ``variants`` variants (none for 0) and then ``bundles`` bundles of
    two of them, the same for the same arguments on every run and platform (the variants do
    not depend on ``bundles``); ValueError for a negative count, or for bundles without two
    well-stocked variants to make them of. At least one variant of a non-empty catalog is low
    on stock.
    """
    if variants < 0:
        raise ValueError(f"a catalog cannot have {variants} variants")
    rng = random.Random(seed)
    # Every product's variants as option tuples first, so that the low-stock draw knows the count.
    shapes: list[list[tuple[OptionValue, ...]]] = []
    made = 0
    while made < variants:
        shape = rng.choice(("single", "colors", "colors_sizes"))
        if shape == "single":
            combos: list[tuple[OptionValue, ...]] = [()]
        elif shape == "colors":
            combos = [(OptionValue(COLOR, c),) for c in rng.sample(_COLORS, 3)]
        else:
            combos = [
                (OptionValue(COLOR, c), OptionValue(SIZE, s))
                for c in rng.sample(_COLORS, 2)
                for s in _SIZES
            ]
        shapes.append(combos[: variants - made])
        made += len(shapes[-1])
    low = set(rng.sample(range(variants), max(1, variants // 10))) if variants else set()
    products = []
    names: set[str] = set()
    index = 0
    for number, combos in enumerate(shapes, start=1):
        thing, grams = rng.choice(_THINGS)
        name = f"{rng.choice(_ADJECTIVES)} {thing}"
        if name in names:  # a name again: numbered, so that names stay unique
            name = f"{name} {number}"
        names.add(name)
        price = Decimal(rng.randrange(800, 9000, 50)).scaleb(-2)  # cents: 11.00, not 11
        image = f"https://images.example.com/shelfsync/{number:04d}.jpg"
        made_variants = []
        for options in combos:
            size = next((_SIZES.index(o.value) for o in options if o.name == SIZE), 0)
            made_variants.append(
                CatalogVariant(
                    sku="-".join([SKU_PREFIX, f"{number:04d}", *(_code(o) for o in options)]),
                    options=options,
                    weight_grams=grams + size * _SIZED_GRAMS,
                    barcode=_upc(seed, index),
                    price=price,
                    stock=rng.randint(1, LOW_STOCK) if index in low else rng.randint(12, 80),
                )
            )
            index += 1
        products.append(
            CatalogProduct(
                name=name,
                image_url=image if rng.random() < 0.85 else None,
                variants=tuple(made_variants),
            )
        )
    return _with_bundles(SharedCatalog(products=tuple(products)), rng, seed, bundles)


BUNDLE_SKU_PREFIX = f"{SKU_PREFIX}-SET"


def _with_bundles(
    catalog: SharedCatalog, rng: random.Random, seed: int, count: int
) -> SharedCatalog:
    """``catalog`` with ``count`` bundles added, each of two well-stocked variants (one or
    two units of each), listed with the stock its components allow."""
    if count <= 0:
        return catalog
    stocked = [(p, v) for p, v in catalog.variants() if v.stock > LOW_STOCK]
    if len(stocked) < 2:
        raise ValueError(f"{count} bundles need two well-stocked variants to be made of")
    products = list(catalog.products)
    made: list[CatalogBundle] = []
    index = sum(1 for _ in catalog.variants())
    for number in range(1, count + 1):
        parts = [(p, v, rng.choice((1, 2))) for p, v in rng.sample(stocked, 2)]
        sku = f"{BUNDLE_SKU_PREFIX}{number:02d}"
        made.append(CatalogBundle(sku, tuple((v.sku, n) for _, v, n in parts)))
        bundle = CatalogVariant(
            sku=sku,
            options=(),
            weight_grams=sum(v.weight_grams * n for _, v, n in parts),
            barcode=_upc(seed, index + number - 1),
            price=sum((v.price * n for _, v, n in parts), Decimal(0)),
            stock=min(v.stock // n for _, v, n in parts),
        )
        name = " & ".join(p.variant_name(v) for p, v, _ in parts) + f" Set {number}"
        products.append(CatalogProduct(name=name, image_url=None, variants=(bundle,)))
    return SharedCatalog(products=tuple(products), bundles=tuple(made))


def _code(option: OptionValue) -> str:
    return option.value[:3].upper()


def _upc(seed: int, index: int) -> str:
    """A UPC-A unique per ``index`` (below ten million), its last digit the check digit."""
    body = f"8{seed % 1000:03d}{index:07d}"
    odd = sum(int(d) for d in body[0::2])
    even = sum(int(d) for d in body[1::2])
    return body + str((10 - (odd * 3 + even) % 10) % 10)
