"""The ShipStation sandbox's catalog: what the seeded stores sell, and ShipStation's product
list of it (``GET /products``, one SKU per product: V1 has no variants).

Items come in groups sharing a product name: most in three sizes, one group in four without
options; about one item in twelve has no SKU (its store never gave it one), so it is sold
(order lines carry it) but is no ShipStation product, which V1 keys by SKU. From the shared
catalog (:meth:`Catalog.shared`), every variant is an item with a SKU and a product.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING

import msgspec

from connectors.model import variant_name
from connectors.shipstation import pacific, wire
from connectors.shipstation.sandbox_checks import (
    QueryError,
    Reply,
    aspnet,
    message,
    page_of,
    paging,
    query_date,
)

if TYPE_CHECKING:
    from connectors.sandbox_catalog import SharedCatalog

SIZES = ("S", "M", "L")
PRODUCT_SORT = ("SKU", "ModifyDate", "CreateDate", "Name")
_WORDS = ("Classic", "Organic", "Canvas", "Merino", "Ceramic", "Bamboo", "Linen", "Steel")
_THINGS = ("Tote", "Mug", "Shirt", "Sock", "Bottle", "Notebook", "Candle", "Cap")


@dataclass
class CatalogItem:
    """One sellable item: what an order line is made of."""

    sku: str | None
    name: str
    price: Decimal
    options: list[wire.ItemOption] = field(default_factory=list)


@dataclass
class ProductStamps:
    create: datetime
    modify: datetime


class Catalog:
    """The items sold and ShipStation's products of those with a SKU; made by
    :meth:`generated` (the sandbox's own) or :meth:`shared`."""

    def __init__(self) -> None:
        self.items: list[CatalogItem] = []
        self.products: dict[int, wire.Product] = {}
        self.stamps: dict[int, ProductStamps] = {}
        self._by_sku: dict[str, CatalogItem] = {}

    @classmethod
    def generated(cls, rng: random.Random, size: int, epoch: datetime) -> Catalog:
        """``size`` items drawn from ``rng`` (see the module's docstring), a minute apart, the
        last one created a minute before ``epoch``."""
        made = cls()
        for n in range(size):
            group, index = divmod(n, len(SIZES))
            if index == 0:
                base = f"{rng.choice(_WORDS)} {rng.choice(_THINGS)}"
            sized = group % 4 != 3
            if not sized and index:
                base = f"{rng.choice(_WORDS)} {rng.choice(_THINGS)}"
            options = [wire.ItemOption(name="Size", value=SIZES[index])] if sized else []
            sku = None if n % 12 == 11 else f"SS-{n + 1:04d}"
            price = Decimal(rng.randint(500, 9000)) / 100
            item = made._sell(CatalogItem(sku=sku, name=base, price=price, options=options))
            if sku is not None:
                made._list(
                    400_000 + n,
                    sku,
                    item,
                    epoch - timedelta(minutes=size - n),
                    weight_oz=Decimal(rng.randint(2, 60)),
                    upc=str(rng.randrange(10**11, 10**12)) if rng.random() < 0.7 else None,
                    thumbnail=f"https://cdn.example.com/{sku}.jpg" if rng.random() < 0.8 else None,
                )
        return made

    @classmethod
    def shared(cls, catalog: SharedCatalog, epoch: datetime) -> Catalog:
        """``catalog`` as ShipStation holds it: one item and one product per variant (V1 has
        no variants; the product is named as the variant, "Tee - Blue / M"), a minute apart
        and the last one created a minute before ``epoch``, weights in ounces to the
        hundredth, barcodes as UPCs, the product's image as every variant's thumbnail. V1
        products keep no stock."""
        made = cls()
        variants = list(catalog.variants())
        for n, (product, variant) in enumerate(variants):
            options = [wire.ItemOption(name=o.name, value=o.value) for o in variant.options]
            item = CatalogItem(
                sku=variant.sku, name=product.name, price=variant.price, options=options
            )
            made._list(
                400_000 + n,
                variant.sku,
                made._sell(item),
                epoch - timedelta(minutes=len(variants) - n),
                weight_oz=variant.weight.to("oz").value.quantize(Decimal("0.01")),
                upc=variant.barcode,
                thumbnail=product.image_url,
            )
        return made

    def _sell(self, item: CatalogItem) -> CatalogItem:
        self.items.append(item)
        if item.sku:
            self._by_sku[item.sku] = item
        return item

    def _list(
        self,
        product_id: int,
        sku: str,
        item: CatalogItem,
        at: datetime,
        *,
        weight_oz: Decimal,
        upc: str | None,
        thumbnail: str | None,
    ) -> None:
        """Make ``item`` ShipStation's product ``product_id`` (keyed by ``sku``), created ``at``."""
        self.stamps[product_id] = ProductStamps(create=at, modify=at)
        self.products[product_id] = wire.Product(
            product_id=product_id,
            sku=sku,
            name=variant_name(item.name, [o.value for o in item.options]),
            create_date=pacific.wall(at),
            modify_date=pacific.wall(at),
            price=item.price,
            weight_oz=weight_oz,
            upc=upc,
            thumbnail_url=thumbnail,
        )

    def by_sku(self, sku: str | None) -> CatalogItem | None:
        return self._by_sku.get(sku) if sku else None

    def list_products(self, query: dict[str, str]) -> Reply:
        """``GET /products``: ``sku`` (exact), ``name`` (contains), ``startDate``/``endDate``
        on creation, ``showInactive``, ``sortBy``/``sortDir``; the sandbox has no categories,
        types or tags, so filtering by one matches nothing."""
        try:
            page, size = paging(query)
            start, end = query_date(query, "startDate"), query_date(query, "endDate")
            sort_by = query.get("sortBy")
            if sort_by is not None and sort_by not in PRODUCT_SORT:
                raise QueryError(f"The value '{sort_by}' is not valid for sortBy.")
        except QueryError as exc:
            return 400, message(str(exc))
        found = list(self.products.values())
        if query.get("showInactive", "false").lower() != "true":
            found = [p for p in found if p.active]
        if query.get("sku"):
            found = [p for p in found if p.sku == query["sku"]]
        if query.get("name"):
            found = [p for p in found if query["name"].lower() in p.name.lower()]
        if any(query.get(f) for f in ("productCategoryId", "productTypeId", "tagId")):
            found = []
        created = {pid: s.create.replace(microsecond=0) for pid, s in self.stamps.items()}
        found = [
            p
            for p in found
            if (start is None or created[p.product_id] >= start)
            and (end is None or created[p.product_id] <= end)
        ]
        keys = {
            "SKU": lambda p: p.sku,
            "Name": lambda p: p.name,
            "ModifyDate": lambda p: self.stamps[p.product_id].modify,
            "CreateDate": lambda p: self.stamps[p.product_id].create,
        }
        descending = query.get("sortDir", "ASC").upper() == "DESC"
        found.sort(key=keys.get(sort_by or "", lambda p: p.product_id), reverse=descending)
        items, total, pages = page_of(found, page, size)
        return 200, {"products": items, "total": total, "page": page, "pages": pages}

    def edit(self, product_id: int, changes: dict[str, object], now: datetime) -> Reply:
        """A product changed in ShipStation's UI: ``name``, ``weight_oz``, ``upc``, ``active``."""
        product = self.products.get(product_id)
        if product is None:
            return 404, aspnet("Product not found")
        stamps = self.stamps[product_id]
        stamps.modify = max(now, stamps.modify)
        name = changes.get("name", product.name)
        weight = changes.get("weight_oz", product.weight_oz)
        upc = changes.get("upc", product.upc)
        active = changes.get("active", product.active)
        if not (
            isinstance(name, str)
            and isinstance(weight, int | float | Decimal | None)
            and isinstance(upc, str | None)
            and isinstance(active, bool)
        ):
            return 400, message("name and upc are strings, weight_oz a number, active a boolean")
        self.products[product_id] = msgspec.structs.replace(
            product,
            name=name,
            weight_oz=Decimal(str(weight)) if weight is not None else None,
            upc=upc,
            active=active,
            modify_date=pacific.wall(stamps.modify),
        )
        return 200, self.products[product_id]
