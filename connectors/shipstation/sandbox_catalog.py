"""The ShipStation sandbox's catalog: what the seeded stores sell, and ShipStation's product
list of it (``GET /products``, one SKU per product: V1 has no variants).

Items come in groups sharing a product name: most in three sizes, one group in four without
options; about one item in twelve has no SKU (its store never gave it one), so it is sold
(order lines carry it) but is no ShipStation product, which V1 keys by SKU.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

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
    def __init__(self, rng: random.Random, size: int, epoch: datetime) -> None:
        self.items: list[CatalogItem] = []
        self.products: dict[int, wire.Product] = {}
        self.stamps: dict[int, ProductStamps] = {}
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
            self.items.append(CatalogItem(sku=sku, name=base, price=price, options=options))
            if sku is not None:
                created = epoch - timedelta(minutes=size - n)
                self._add(
                    rng,
                    400_000 + n,
                    sku,
                    variant_name(base, [o.value for o in options]),
                    price,
                    created,
                )
        self._by_sku = {item.sku: item for item in self.items if item.sku}

    def _add(
        self, rng: random.Random, product_id: int, sku: str, name: str, price: Decimal, at: datetime
    ) -> None:
        self.stamps[product_id] = ProductStamps(create=at, modify=at)
        self.products[product_id] = wire.Product(
            product_id=product_id,
            sku=sku,
            name=name,
            create_date=pacific.wall(at),
            modify_date=pacific.wall(at),
            price=price,
            weight_oz=Decimal(rng.randint(2, 60)),
            upc=str(rng.randrange(10**11, 10**12)) if rng.random() < 0.7 else None,
            thumbnail_url=f"https://cdn.example.com/{sku}.jpg" if rng.random() < 0.8 else None,
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
