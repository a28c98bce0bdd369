"""The Shopify connector: streams, writes and webhook verification for the channel actor.

Streams:

- ``products``: every variant changed at or after ``since`` (``productVariants``). Shopify
  cannot sort variants by ``updatedAt`` (``ProductVariantSortKeys`` has no ``UPDATED_AT``), and
  the actor promotes its cursor after each page to the newest ``updated_at`` seen, so a page in
  id order could move the cursor past variants on later pages. The read therefore collects
  every page and yields one page, oldest first: correct, at the cost of re-reading everything
  when a run fails midway.
- ``orders``: every order changed at or after ``since`` (``sortKey: UPDATED_AT``), one page per
  Shopify page. ``settings.orders_query`` narrows it (Shopify search syntax); by default
  nothing is filtered here: cancellations must reach the actor, and the import rules decide.

Record keys are GIDs, bodies the raw GraphQL nodes (decode with :mod:`.wire`).

Writes (``RemoteWrite.payload`` is JSON):

- ``inventory.set``: ``{"name": "available", "quantities": [{"inventory_item_id",
  "location_id"?, "quantity", "change_from"}]}``; ``location_id`` defaults to the channel's;
  ``change_from`` is the last quantity seen (``null`` opts out of the check). Each
  ``quantity`` is an absolute target, not a delta: on a stale ``change_from`` the connector
  re-reads the items' current quantities, recomputes ``change_from`` from them and sends again
  (at most ``STALE_RETRIES`` times; then ``RecordError(reason="stale")``).
- ``fulfillment.create``: ``{"order_id", "lines": [{"sku", "quantity"}] | null, "tracking":
  {"company", "number", "url"}, "notify_customer": true}``. ``fulfillmentCreate`` takes no
  ``@idempotent`` key (2026-01) and a Fulfillment has no metadata, so a retried write finds its
  earlier attempt by content: an existing fulfillment with the same tracking number AND
  exactly the same SKUs and quantities is the result (a retry does not ship twice; another
  shipment under the same tracking number is not mistaken for this one). A write without
  tracking number cannot be matched safely and is refused (``RecordError(reason=
  "no_tracking")``). Otherwise the lines are matched by SKU to open fulfillment order lines.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import AsyncGenerator
from datetime import datetime
from typing import Annotated, Literal

import msgspec

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
    opaque_token_problem,
    verify_with_webhook_secret,
)
from connectors.errors import ChannelFatal, RecordError
from connectors.shopify import mapping, webhooks, wire
from connectors.shopify.client import (
    FulfillmentLine,
    InventorySet,
    ShopifyClient,
    Tracking,
)

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


class InventoryQuantity(msgspec.Struct, frozen=True):
    inventory_item_id: str
    quantity: int
    change_from: int | None
    location_id: str | None = None


class InventoryPayload(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    quantities: list[InventoryQuantity]
    name: str = "available"


class ShipLine(msgspec.Struct, frozen=True):
    sku: str
    quantity: int


class FulfillmentPayload(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    order_id: str
    tracking: Tracking
    lines: list[ShipLine] | None = None
    notify_customer: bool = True


class ShopifyConnector:
    def __init__(self, context: ConnectorContext) -> None:
        self.context = context
        self.settings: ShopifySettings = context.settings
        if not re.fullmatch(API_VERSION_PATTERN, self.settings.api_version):
            raise ChannelFatal(
                f"shopify api_version {self.settings.api_version!r} is not supported: "
                "shelfsync needs 2026-01 or later (YYYY-MM)"
            )
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
            records: list[Record] = []
            after: str | None = None
            while True:
                page = await self.client.variants_page(since, after)
                records.extend(Record(s.id, s.updated_at, raw) for s, raw in page.nodes)
                if not page.has_next_page:
                    break
                after = page.end_cursor
            records.sort(key=lambda r: (r.updated_at, r.key))
            if records:
                yield Page(records=records)
        elif stream == "orders":
            after = None
            while True:
                page = await self.client.orders_page(since, after, extra=self.settings.orders_query)
                if page.nodes:
                    yield Page(records=[Record(s.id, s.updated_at, raw) for s, raw in page.nodes])
                if not page.has_next_page:
                    break
                after = page.end_cursor
        else:
            raise ValueError(f"shopify has no stream {stream!r}")

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
        payload = decode_payload(remote_write, InventoryPayload, entity=remote_write.key)
        changes = [
            InventorySet(
                inventory_item_id=q.inventory_item_id,
                location_id=q.location_id or self.settings.location_id,
                quantity=q.quantity,
                change_from=q.change_from,
            )
            for q in payload.quantities
        ]
        for attempt in range(STALE_RETRIES + 1):
            try:
                applied = await self.client.set_inventory(
                    changes, key=remote_write.key, name=payload.name
                )
                break
            except RecordError as exc:
                if exc.reason != "stale" or attempt == STALE_RETRIES:
                    raise
                changes = await self._reread(changes, payload.name)
        return WriteResult(
            remote_id=None, summary=f"set {len(changes)} quantities ({len(applied)} changes)"
        )

    async def _reread(self, changes: list[InventorySet], name: str) -> list[InventorySet]:
        """``changes`` with each checked ``change_from`` replaced by the quantity now on Shopify.

        The targets are absolute, so a write recomputed this way still lands each item at its
        ``quantity``; an item Shopify no longer reports keeps its old ``change_from``.
        """
        current: dict[tuple[str, str], int] = {}
        for location in sorted({c.location_id for c in changes}):
            ids = [
                c.inventory_item_id
                for c in changes
                if c.location_id == location and c.change_from is not None
            ]
            if not ids:
                continue
            levels = await self.client.inventory_levels(ids, location)
            for item_id, quantities in levels.items():
                if name in quantities:
                    current[(item_id, location)] = quantities[name]
        return [
            c
            if c.change_from is None
            else msgspec.structs.replace(
                c,
                change_from=current.get((c.inventory_item_id, c.location_id), c.change_from),
            )
            for c in changes
        ]

    async def _create_fulfillment(self, remote_write: RemoteWrite) -> WriteResult:
        payload = decode_payload(remote_write, FulfillmentPayload, entity=remote_write.key)
        if not payload.tracking.number:
            # fulfillmentCreate takes no @idempotent key and a Fulfillment has no metadata: the
            # tracking number is the only mark a retry after a lost answer can find.
            raise RecordError(
                f"order {payload.order_id}: a fulfillment without tracking number cannot be "
                "created safely (a retry could not tell whether it was already created)",
                entity=payload.order_id,
                reason="no_tracking",
            )
        order = await self.client.fulfillment_orders(payload.order_id)
        # Only the channel's own location: a fulfillment spans one location (Shopify refuses
        # one across several), and stock shipped from elsewhere is not ours to report.
        open_orders = [
            fo
            for fo in order.fulfillment_orders.nodes
            if fo.status in ("OPEN", "IN_PROGRESS")
            and fo.assigned_location.location is not None
            and fo.assigned_location.location.id == self.settings.location_id
        ]
        done = _already_fulfilled(payload, order, open_orders)
        if done is not None:
            return WriteResult(remote_id=done, summary="already fulfilled")
        if not open_orders:
            raise RecordError(
                f"order {payload.order_id} has no open fulfillment order at "
                f"{self.settings.location_id}",
                entity=payload.order_id,
                reason="nothing_to_fulfil",
            )
        groups = _match_lines(payload, open_orders)
        created = await self.client.create_fulfillment(
            groups, payload.tracking, notify_customer=payload.notify_customer
        )
        return WriteResult(remote_id=created.id, summary=f"fulfillment {created.name}")

    async def aclose(self) -> None:
        return None


def _already_fulfilled(
    payload: FulfillmentPayload,
    order: wire.OrderFulfillmentOrders,
    open_orders: list[wire.FulfillmentOrder],
) -> str | None:
    """The id of an existing fulfillment that is this write's, applied by an earlier attempt.

    It carries the same tracking number and shipped exactly the payload's SKUs and quantities
    (for ``lines: null``, "everything left": a same-tracking fulfillment and nothing left open).
    Another shipment under the same tracking number with other lines is not a match.
    """
    number = payload.tracking.number
    same = [f for f in order.fulfillments if any(t.number == number for t in f.tracking_info)]
    if not same:
        return None
    if payload.lines is None:
        left = any(
            item.remaining_quantity > 0 for fo in open_orders for item in fo.line_items.nodes
        )
        return None if left else same[0].id
    wanted: Counter[str] = Counter()
    for line in payload.lines:
        wanted[line.sku] += line.quantity
    for fulfillment in same:
        shipped: Counter[str] = Counter()
        for item in fulfillment.fulfillment_line_items.nodes:
            shipped[item.line_item.sku or ""] += item.quantity or 0
        if fulfillment.fulfillment_line_items.page_info.has_next_page:
            if (
                all(shipped[sku] <= n for sku, n in wanted.items())
                and shipped.keys() <= wanted.keys()
            ):
                raise RecordError(
                    f"order {payload.order_id}: fulfillment {fulfillment.id} has the same "
                    "tracking number and more lines than one page; cannot tell if it is this one",
                    entity=payload.order_id,
                    reason="ambiguous_fulfillment",
                )
            continue
        if +shipped == +wanted:
            return fulfillment.id
    return None


def _match_lines(
    payload: FulfillmentPayload, open_orders: list[wire.FulfillmentOrder]
) -> list[tuple[str, list[FulfillmentLine] | None]]:
    """Split the shipped lines over fulfillment order lines by SKU, filling each in turn."""
    if payload.lines is None:
        return [(fo.id, None) for fo in open_orders]
    wanted: dict[str, int] = {}
    for line in payload.lines:
        wanted[line.sku] = wanted.get(line.sku, 0) + line.quantity
    groups: list[tuple[str, list[FulfillmentLine] | None]] = []
    for fo in open_orders:
        lines: list[FulfillmentLine] = []
        for item in fo.line_items.nodes:
            take = min(wanted.get(item.sku or "", 0), item.remaining_quantity)
            if take > 0:
                lines.append(FulfillmentLine(item.id, take))
                wanted[item.sku or ""] -= take
        if lines:
            groups.append((fo.id, lines))
    left = {sku: n for sku, n in wanted.items() if n > 0}
    if left:
        raise RecordError(
            f"order {payload.order_id}: nothing left to fulfil for {sorted(left)}",
            entity=payload.order_id,
            reason="remote_validation",
        )
    return groups


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
    # Shopify documents no format for either value, so only what holds for any token is checked.
    check_credentials=check_each_credential(
        {"token": opaque_token_problem, "webhook_secret": opaque_token_problem}
    ),
    origin=lambda settings: mapping.origin_of_shop(settings.shop),
)
