"""The Shopify connector: streams, writes and webhook verification for the channel actor.

Streams:

- ``products``: every product changed at or after ``since``, oldest change first
  (``products(sortKey: UPDATED_AT)``), one page per Shopify page, one record per product whose
  body holds all its variants (:class:`~.wire.Product`, mapped by
  :func:`~.mapping.items_from_product`). Variants cannot be read in update order
  (``ProductVariantSortKeys`` has no ``UPDATED_AT``), but a variant edit bumps its product's
  ``updatedAt``, so the product is the replication unit and each page can promote the cursor.
- ``orders``: every order changed at or after ``since`` (``sortKey: UPDATED_AT``), one page per
  Shopify page. ``settings.orders_query`` narrows it (Shopify search syntax); by default
  nothing is filtered here: cancellations must reach the actor, and the import rules decide.

A page Shopify refuses as over its single-query cost limit (``MAX_COST_EXCEEDED``: a price
rule the client's estimate missed, or a shop with a lower limit) is asked again at half the
size, down to one record; the rest of that read keeps the smaller size.

Record keys are GIDs, bodies the raw GraphQL nodes (decode with :mod:`.wire`).

Fetch by key (``orders``): a key that is an Order GID (``gid://shopify/Order/…``) is read
with ``nodes(ids:)``; any other key is an order name (``#1001``; ``1001`` alike), searched
with ``orders(query: "name:…")`` in both spellings and kept only on an exact match (names are
unique within a shop). ``settings.orders_query`` does not narrow an operator's fetch: the
operator named the order, and the import rules decide about it as about any other. A
webhook's fetch (``as_read``) is narrowed by it as the stream is: with a query set, its GIDs
are searched as ``(id:… OR id:…) AND (query)``.

Writes (``RemoteWrite.payload`` is JSON of a canonical Struct; SKUs are canonical, so a
variant without SKU is named by its fallback key ``<channel>:<variant GID>``):

- ``inventory.set``: a :class:`~connectors.model.InventoryPush`. The connector looks the SKUs
  up (``productVariants`` by SKU or id, 50 per call) to find each inventory item and its
  ``available`` quantity at the channel's location, then sets the targets with that quantity
  as ``changeFromQuantity`` (a compare-and-set), 250 per call. Each target is absolute, not a
  delta: on a stale answer the connector re-reads the current quantities and sends again (at
  most ``STALE_RETRIES`` times; then ``RecordError(reason="stale")``). SKUs the store does not
  list, or does not stock at the channel's location, are skipped and named in the summary; so are
  those already at their target (no write that changes nothing). For a reconcile push the
  units between what the store showed and the targets are the write's ``drift_units``.
  The connector remembers each item it set and the quantity it set it to: a push whose SKUs
  are all remembered, and that need not read the store first (``read_first``, a reconcile),
  is sent without the look-up, comparing with those quantities. The compare-and-set keeps it
  safe: if the store moved since, the answer is stale and the write re-reads as above (and
  leaves alone what is already at its target); if Shopify refuses it otherwise, the
  connector forgets those SKUs and writes again after a look-up.
- ``fulfillment.create``: a :class:`~connectors.model.TrackingPush` (one shipment of one store
  order). ``fulfillmentCreate`` takes no ``@idempotent`` key (2026-01) and a Fulfillment has
  no metadata, so a retried write finds its earlier attempt by content: an existing
  fulfillment with the same tracking number AND exactly the same SKUs and quantities is the
  result (a retry does not ship twice; another shipment under the same tracking number is not
  mistaken for this one). A shipment without tracking number cannot be matched safely and is
  refused (``RecordError(reason="no_tracking")``). Otherwise its lines are matched by
  canonical SKU to the open fulfillment order lines at the channel's location, and the
  shipment's carrier, tracking number and URL become the fulfillment's tracking info.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping, Sequence
from contextlib import aclosing
from datetime import datetime
from functools import partial
from typing import Annotated, Literal

import msgspec

from connectors import model
from connectors.base import (
    ConnectorContext,
    ConnectorSpec,
    Page,
    Record,
    RemoteWrite,
    StreamSpec,
    WriteResult,
    check_each_credential,
    decode_payload,
    decode_strictly,
    opaque_token_problem,
    verify_with_webhook_secret,
)
from connectors.errors import ChannelFatal, RecordError
from connectors.model import Canonical
from connectors.shopify import mapping, queries, webhooks, wire
from connectors.shopify.client import (
    FulfillmentLine,
    InventorySet,
    NodesPage,
    QueryTooCostly,
    ShopifyClient,
    Stock,
    Tracking,
    any_of,
)
from connectors.shopify.wire import ORDER_GID_PREFIX
from connectors.written import WrittenPlaces

API_VERSION_PATTERN = r"^(202[6-9]|20[3-9][0-9])-(0[1-9]|1[0-2])$"
"""Admin API versions from 2026-01 on (``changeFromQuantity`` and ``@idempotent`` exist)."""


STALE_RETRIES = 3
"""How many times an ``inventory.set`` re-reads and re-sends after a stale compare-and-set."""


class ShopifySettings(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    shop: str
    """The shop's domain, ``example.myshopify.com``."""
    location_id: str
    """GID of the location whose inventory shelfsync sets: ``gid://shopify/Location/…``."""
    api_version: Annotated[
        str,
        msgspec.Meta(
            pattern=API_VERSION_PATTERN,
            description="Shopify Admin API version, YYYY-MM, 2026-01 or later",
        ),
    ] = "2026-01"
    """2026-01 or later: the documents use ``changeFromQuantity`` and ``@idempotent``."""
    orders_query: str | None = None
    """Extra Shopify search terms for the orders stream, e.g. ``"test:false"``."""
    scheme: Literal["https", "http"] = "https"
    """``http`` only to reach a sandbox on loopback (``shelfsync demo``)."""

    def __post_init__(self) -> None:
        # An access token must never cross a network in clear text.
        host = self.shop.rsplit(":", 1)[0].strip("[]") if ":" in self.shop else self.shop
        if (
            self.scheme == "http"
            and host not in ("localhost", "::1")
            and not host.startswith("127.")
        ):
            raise ValueError(f'scheme "http" is only for a sandbox on loopback, not {self.shop}')


class ShopifyConnector:
    def __init__(self, context: ConnectorContext) -> None:
        self.context = context
        self.settings: ShopifySettings = context.settings
        if not re.fullmatch(API_VERSION_PATTERN, self.settings.api_version):
            raise ChannelFatal(
                f"shopify api_version {self.settings.api_version!r} is not supported: "
                "shelfsync needs 2026-01 or later (YYYY-MM)"
            )
        self._written = WrittenPlaces[Stock]()
        """Per canonical SKU, the inventory item last set at the channel's location and the
        quantity set: what a push that need not read the store compares with."""
        self.client = ShopifyClient(
            context.http,
            self.settings.shop,
            self.settings.api_version,
            context.secrets["token"],
            context.gate,
            scheme=self.settings.scheme,
        )

    async def read(self, stream: str, since: datetime | None) -> AsyncGenerator[Page, None]:
        """Pages of changed records, oldest first (see the module docstring per stream)."""
        if stream == "products":

            async def fetch(after: str | None, first: int) -> NodesPage:
                return await self.client.products_page(since, after, first=first)

            size = queries.PRODUCTS_PAGE_SIZE
        elif stream == "orders":

            async def fetch(after: str | None, first: int) -> NodesPage:
                return await self.client.orders_page(
                    since, after, extra=self.settings.orders_query, first=first
                )

            size = queries.ORDERS_PAGE_SIZE
        else:
            raise ValueError(f"shopify has no stream {stream!r}")
        # Closed with the read, however it ends: a read stopped mid-way holds a suspended page.
        async with aclosing(_shrinking_pages(fetch, size)) as pages:
            async for page in pages:
                if page.nodes:
                    yield Page(records=[Record(s.id, s.updated_at, raw) for s, raw in page.nodes])

    async def fetch(self, stream: str, keys: Sequence[str], *, as_read: bool = False) -> Page:
        """The orders ``keys`` name, by GID or by name (see the module docstring)."""
        if stream != "orders":
            raise ValueError(f"shopify fetches no {stream!r} by key")
        ids = sorted({key for key in keys if key.startswith(ORDER_GID_PREFIX)})
        names = {key.lstrip("#") for key in keys if not key.startswith(ORDER_GID_PREFIX)}
        narrowing = self.settings.orders_query if as_read else None

        def narrowed(query: str) -> str:
            return query if narrowing is None else f"({query}) AND ({narrowing})"

        nodes: list[tuple[wire.NodeStamp, bytes]] = []
        if ids and narrowing is None:
            nodes += await self.client.orders_by_id(ids)
        elif ids:
            numbers = [gid.removeprefix(ORDER_GID_PREFIX) for gid in ids]
            nodes += await self._searched(narrowed(any_of("id", numbers)))
        if names:
            query = narrowed(any_of("name", sorted(names | {f"#{name}" for name in names})))
            found = await self._searched(query)
            nodes += [(stamp, raw) for stamp, raw in found if _name(raw) in names]
        by_id = {stamp.id: Record(stamp.id, stamp.updated_at, raw) for stamp, raw in nodes}
        return Page(records=list(by_id.values()))

    async def _searched(self, query: str) -> list[tuple[wire.NodeStamp, bytes]]:
        """Every order the orders search ``query`` finds."""

        async def fetch(after: str | None, first: int) -> NodesPage:
            return await self.client.orders_page(None, after, extra=query, first=first)

        async with aclosing(_shrinking_pages(fetch, queries.ORDERS_PAGE_SIZE)) as pages:
            return [node async for page in pages for node in page.nodes]

    async def write(self, remote_write: RemoteWrite) -> WriteResult:
        if remote_write.kind == "inventory.set":
            return await self._set_inventory(remote_write)
        if remote_write.kind == "fulfillment.create":
            return await self._create_fulfillment(remote_write)
        raise RecordError(
            f"shopify cannot write {remote_write.kind!r}",
            entity=remote_write.key,
            reason="unsupported",
        )

    async def _set_inventory(self, remote_write: RemoteWrite) -> WriteResult:
        push = decode_payload(remote_write, model.InventoryPush, entity=remote_write.key)
        targets = {target.sku: target.quantity for target in push.targets}
        # Refused for another reason than a stale quantity (the item is gone, the location
        # no longer stocks it): looked up again. One already at its target as far as is
        # known is looked up too: the look-up tells whether to write at all.
        remembered = await self._written.write(
            push,
            partial(self._set_where_written, remote_write.key, targets),
            usable=lambda target, known: known.available != target.quantity,
        )
        if remembered is not None:
            return remembered
        stock, unstocked = await self._stock_by_sku(list(targets))
        self._written.remember(stock)
        changes = [
            change
            for change in self._compare_and_set(stock, targets)
            # Already showing its target: writing it would change nothing and spend budget.
            if change.change_from != change.quantity
        ]
        drift = sum(
            abs(change.quantity - change.change_from)
            for change in changes
            if change.change_from is not None
        )
        skus = {known.inventory_item_id: sku for sku, known in stock.items()}
        changes, applied = await self._send(remote_write.key, changes, skus)
        summary = f"set {len(changes)} quantities ({len(applied)} changes)"
        missing = sorted(targets.keys() - stock.keys() - unstocked)
        if missing:
            summary += f"; {len(missing)} SKUs not on this store: {', '.join(missing[:5])}"
        if unstocked:
            names = ", ".join(sorted(unstocked)[:5])
            summary += f"; {len(unstocked)} SKUs not stocked at the location: {names}"
        if push.reconcile:
            summary += f"; {drift} units of drift corrected"
        return WriteResult(
            remote_id=None, summary=summary, drift_units=drift if push.reconcile else 0
        )

    async def _set_where_written(
        self, key: str, targets: dict[str, int], known: dict[str, Stock]
    ) -> WriteResult:
        """Set ``targets``, comparing with the quantities last set (``known``, by SKU)."""
        skus = {stock.inventory_item_id: sku for sku, stock in known.items()}
        changes, applied = await self._send(key, self._compare_and_set(known, targets), skus)
        return WriteResult(
            remote_id=None,
            summary=f"set {len(changes)} quantities ({len(applied)} changes; where last written)",
        )

    def _compare_and_set(
        self, known: Mapping[str, Stock], targets: Mapping[str, int]
    ) -> list[InventorySet]:
        """A change of each target whose SKU is ``known`` at the channel's location, made
        only if Shopify still shows the quantity known: a sale since that read (or that
        write) makes it stale instead of silently overwritten."""
        location = self.settings.location_id
        return [
            InventorySet(
                inventory_item_id=known[sku].inventory_item_id,
                location_id=location,
                quantity=quantity,
                change_from=known[sku].available,
            )
            for sku, quantity in targets.items()
            if sku in known
        ]

    async def _send(
        self, key: str, changes: list[InventorySet], skus: dict[str, str]
    ) -> tuple[list[InventorySet], list[wire.InventoryChange]]:
        """Send ``changes``, re-reading and sending again on a stale answer; the changes last
        sent (those a re-read found already at their target left out) and what Shopify
        applied. Every item sent is remembered at its new quantity, under its SKU in
        ``skus`` (inventory item id → canonical SKU)."""
        applied: list[wire.InventoryChange] = []
        for attempt in range(STALE_RETRIES + 1):
            if not changes:
                break
            try:
                applied = await self.client.set_inventory(changes, key=key)
                break
            except RecordError as exc:
                if exc.reason != "stale" or attempt == STALE_RETRIES:
                    raise
                changes = [c for c in await self._reread(changes) if c.change_from != c.quantity]
        self._written.remember(
            {skus[c.inventory_item_id]: Stock(c.inventory_item_id, c.quantity) for c in changes}
        )
        return changes, applied

    async def _stock_by_sku(self, skus: list[str]) -> tuple[dict[str, Stock], set[str]]:
        """The inventory item and ``available`` quantity at the channel's location of each
        canonical SKU Shopify has there, and the SKUs it has but does not stock at that
        location (the merchant has not enabled the location for them: not ours to change, and
        setting them would fail the whole call); a fallback key is looked up by its variant id."""
        channel = self.context.channel
        by_sku: set[str] = set()
        by_variant: dict[str, str] = {}
        for sku in skus:
            variant_id = mapping.fallback_variant_id(channel, sku)
            if variant_id is None:
                by_sku.add(sku)
            else:
                by_variant[variant_id] = sku
        found: dict[str, Stock] = {}
        unstocked: set[str] = set()
        for variant in await self.client.variants_by_sku(
            sorted(by_sku), sorted(by_variant), self.settings.location_id
        ):
            key = variant.sku if variant.sku in by_sku else by_variant.get(variant.id)
            if key is None:
                continue  # Shopify's search also matches SKUs that only start alike
            level = variant.inventory_item.inventory_level
            if level is None:
                unstocked.add(key)
                continue
            available = next((q.quantity for q in level.quantities if q.name == "available"), None)
            found[key] = Stock(variant.inventory_item.id, available)
        return found, unstocked

    async def _reread(self, changes: list[InventorySet]) -> list[InventorySet]:
        """``changes`` with each checked ``change_from`` replaced by the quantity now on Shopify.

        Every change is at the channel's location. The targets are absolute, so a write
        recomputed this way still lands each item at its ``quantity``; an item Shopify no longer
        reports keeps its old ``change_from``.
        """
        checked = [c.inventory_item_id for c in changes if c.change_from is not None]
        if not checked:
            return changes
        levels = await self.client.inventory_levels(checked, self.settings.location_id)
        return [
            c
            if c.change_from is None
            else msgspec.structs.replace(
                c,
                change_from=levels.get(c.inventory_item_id, {}).get("available", c.change_from),
            )
            for c in changes
        ]

    async def _create_fulfillment(self, remote_write: RemoteWrite) -> WriteResult:
        push = decode_payload(remote_write, model.TrackingPush, entity=remote_write.key)
        order_id, shipment = push.store_order_id, push.shipment
        if not shipment.tracking_number:
            # fulfillmentCreate takes no @idempotent key and a Fulfillment has no metadata: the
            # tracking number is the only mark a retry after a lost answer can find.
            raise RecordError(
                f"order {order_id}: a fulfillment without tracking number cannot be "
                "created safely (a retry could not tell whether it was already created)",
                entity=order_id,
                reason="no_tracking",
            )
        if not shipment.lines:
            raise RecordError(
                f"order {order_id}: shipment {shipment.shipment_id} has no lines",
                entity=order_id,
                reason="schema",
            )
        fulfillment_orders = await self.client.fulfillment_orders(order_id)
        # Only the channel's own location: a fulfillment spans one location (Shopify refuses
        # one across several), and stock shipped from elsewhere is not ours to report.
        open_orders = [
            fo
            for fo in fulfillment_orders
            if fo.status in ("OPEN", "IN_PROGRESS")
            and fo.assigned_location.location is not None
            and fo.assigned_location.location.id == self.settings.location_id
        ]
        channel = self.context.channel
        wanted: Counter[str] = Counter()
        for line in shipment.lines:
            wanted[line.sku] += line.quantity
        fulfillments = await self.client.fulfillments(order_id)
        done = _already_fulfilled(channel, order_id, shipment.tracking_number, wanted, fulfillments)
        if done is not None:
            return WriteResult(remote_id=done, summary="already fulfilled")
        if not open_orders:
            raise RecordError(
                f"order {order_id} has no open fulfillment order at {self.settings.location_id}",
                entity=order_id,
                reason="nothing_to_fulfil",
            )
        groups = _match_lines(channel, order_id, wanted, open_orders)
        tracking = Tracking(
            company=shipment.carrier, number=shipment.tracking_number, url=shipment.tracking_url
        )
        created = await self.client.create_fulfillment(
            groups, tracking, notify_customer=push.notify_customer
        )
        return WriteResult(remote_id=created.id, summary=f"fulfillment {created.name}")

    async def aclose(self) -> None:
        return None


PageFetch = Callable[[str | None, int], Awaitable[NodesPage]]
"""``fetch(after, first)``: one page of a stream's read."""


async def _shrinking_pages(fetch: PageFetch, first: int) -> AsyncGenerator[NodesPage, None]:
    """Every page of a read, in order; a page Shopify refuses as too costly is asked again at
    half the size (down to one), and the rest of the read keeps the smaller size."""
    after: str | None = None
    while True:
        try:
            page = await fetch(after, first)
        except QueryTooCostly:
            if first == 1:
                raise
            first //= 2
            continue
        yield page
        if not page.has_next_page:
            return
        after = page.end_cursor


def _name(raw: bytes) -> str:
    """The order name of an order node, without its ``#``."""
    named = decode_strictly(raw, wire.OrderName, what="Shopify order", entity="order")
    return named.name.lstrip("#")


def _already_fulfilled(
    channel: str,
    order_id: str,
    tracking_number: str,
    wanted: Counter[str],
    fulfillments: list[wire.FulfillmentRef],
) -> str | None:
    """The id of an existing fulfillment that is this write's, applied by an earlier attempt.

    It carries the same tracking number and shipped exactly the ``wanted`` SKUs and
    quantities. Another shipment under the same tracking number with other lines is not a match.
    """
    same = [f for f in fulfillments if any(t.number == tracking_number for t in f.tracking_info)]
    for fulfillment in same:
        shipped: Counter[str] = Counter()
        for item in fulfillment.fulfillment_line_items.nodes:
            ordered = item.line_item
            sku = mapping.line_sku(channel, ordered.sku, ordered.variant, ordered.id)
            shipped[sku] += item.quantity or 0
        if fulfillment.fulfillment_line_items.page_info.has_next_page:
            if (
                all(shipped[sku] <= n for sku, n in wanted.items())
                and shipped.keys() <= wanted.keys()
            ):
                raise RecordError(
                    f"order {order_id}: fulfillment {fulfillment.id} has the same "
                    "tracking number and more lines than one page; cannot tell if it is this one",
                    entity=order_id,
                    reason="ambiguous_fulfillment",
                )
            continue
        if +shipped == +wanted:
            return fulfillment.id
    return None


def _match_lines(
    channel: str, order_id: str, wanted: Counter[str], open_orders: list[wire.FulfillmentOrder]
) -> list[tuple[str, list[FulfillmentLine] | None]]:
    """Split the shipped lines over fulfillment order lines by canonical SKU (a line without
    SKU of its own by its variant's fallback key), filling each in turn."""
    left = Counter(wanted)
    groups: list[tuple[str, list[FulfillmentLine] | None]] = []
    for fo in open_orders:
        lines: list[FulfillmentLine] = []
        for item in fo.line_items.nodes:
            sku = mapping.line_sku(channel, item.sku, item.variant, item.id)
            take = min(left[sku], item.remaining_quantity)
            if take > 0:
                lines.append(FulfillmentLine(item.id, take))
                left[sku] -= take
        if lines:
            groups.append((fo.id, lines))
    if +left:
        raise RecordError(
            f"order {order_id}: nothing left to fulfil for {sorted(+left)}",
            entity=order_id,
            reason="remote_validation",
        )
    return groups


def interpret(channel: str, settings: ShopifySettings, stream: str, body: bytes) -> list[Canonical]:
    """A ``products`` record is the product's variants as items; an ``orders`` record is one
    order (see :class:`~connectors.base.RecordInterpreter`)."""
    if stream == "products":
        product = decode_strictly(body, wire.Product, what="Shopify product", entity="product")
        return list(mapping.items_from_product(channel, product))
    if stream == "orders":
        node = decode_strictly(body, wire.OrderNode, what="Shopify order", entity="order")
        return [mapping.order_from_wire(channel, mapping.origin_of_shop(settings.shop), node)]
    return []


CONNECTOR = ConnectorSpec(
    platform="shopify",
    streams=(
        StreamSpec(name="products", default_schedule_seconds=6 * 3600.0),
        StreamSpec(name="orders", default_schedule_seconds=30 * 60.0),
    ),
    credentials=("token", "webhook_secret"),
    settings_type=ShopifySettings,
    # Cost points, not requests: the Standard plan restores 100 points/s into a bucket that
    # Standard shops report as 2000 points (platform-apis.md, "Rate limits").
    requests_per_second=100.0,
    burst=2000.0,
    create=ShopifyConnector,
    verify_webhook=verify_with_webhook_secret(webhooks.verify),
    interpret=interpret,
    writes=frozenset({"inventory.set", "fulfillment.create"}),
    fetches=frozenset({"orders"}),
    # Shopify documents no format for either value, so only what holds for any token is checked.
    check_credentials=check_each_credential(
        {"token": opaque_token_problem, "webhook_secret": opaque_token_problem}
    ),
    origin=lambda settings: mapping.origin_of_shop(settings.shop),
)
