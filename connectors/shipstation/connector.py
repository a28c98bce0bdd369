"""The ShipStation V1 connector: streams ``orders`` and ``products``, the
``fulfillment.create`` write (see :mod:`connectors.base` for the contract).

ShipStation sits between stores and the fulfillment provider: it imports each store's orders,
and when an order is marked shipped it tells the store (``notifySalesChannel``).

Streams:

- ``orders``: orders modified at or after ``since`` in ``awaiting_shipment`` (paid, not yet
  shipped: what the fulfillment provider should ship) and in ``cancelled`` (so that a
  cancellation reaches the actor, which cancels the fulfillment order), of the channel's
  store (``storeId=settings.store_id``). ShipStation filters by one status per request, so both are
  read (``sortBy=ModifyDate``, ascending, 500 per page) and merged in modification order; a
  page is yielded only up to the oldest last stamp of the reads still going, so the cursor
  can advance with every page without skipping an order of the other status. Other statuses
  (awaiting payment, on hold, shipped) are not read: the import rules would skip them, and an
  order that becomes paid or released moves to ``awaiting_shipment`` with a new
  ``modifyDate``. Record keys are ShipStation ``orderId`` s, bodies the raw orders (decode
  with :mod:`.wire`, map with :func:`.mapping.order_from_wire`); ``updated_at`` is
  ``modifyDate`` read as Pacific time.
- ``products``: ShipStation's product catalog (one SKU per product, no variants; map with
  :func:`.mapping.items_from_product`), those modified at or after ``since``. V1's product
  filters are on creation, so every read is a full scan (500 per request: 20 requests for
  10,000 products); all pages are read, then one page of the changed products is yielded,
  oldest change first (the scan's order is by creation, so per-page yields could move the
  cursor past older changes). Default every 12 hours: the stores behind ShipStation are
  usually channels of their own and the catalog's first source.

Fetch by key (``orders``), whatever the order's status: a key that is a number is tried as
an ``orderId`` (``GET /orders/{orderId}``); every key is also an ``orderNumber``, looked up
with ``GET /orders?orderNumber=&storeId=`` in both spellings (``1001`` and ``#1001``: the
filter matches numbers that start with it) and kept on an exact match. Only orders of the
channel's store count: another store's order with that id or number names nothing here; a
webhook's fetch (``as_read``) also keeps only those in a status the stream reads.

Writes (``RemoteWrite.payload`` is JSON of a canonical Struct):

- ``fulfillment.create``: a :class:`~connectors.model.TrackingPush` whose ``store_order_id`` is
  the ShipStation ``orderId``. ``POST /orders/markasshipped`` with the carrier mapped to a
  ``carrierCode``, the ship date (Pacific), the tracking number, ``notifyCustomer`` from the
  push and ``notifySalesChannel`` from the settings, so that ShipStation updates the store.
  Marking covers the whole order (V1 has no line selection and no tracking URL: the carrier
  gives it). Before marking, ``GET /fulfillments?orderId=`` is read: a fulfillment with the
  same tracking number (not voided) is this write's, applied by an earlier attempt whose
  answer was lost, and nothing is created. A shipment without tracking number is refused
  (``RecordError(reason="no_tracking")``), since a retry could not find it. Split shipments:
  the first shipment marks the order shipped (ShipStation passes its tracking to the store);
  a later one of the same order finds the order marked with another tracking number and is a
  ``RecordError(reason="split_shipment")`` naming both, held for an operator: V1 cannot add a
  second tracking number to a shipped order.
- ``inventory.set``: accepted and written nowhere: V1 keeps no stock quantities, so every
  SKU is one the store does not list, and the summary says so (the stores behind ShipStation
  are synced as channels of their own).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from contextlib import AsyncExitStack, aclosing
from datetime import datetime
from urllib.parse import urlsplit

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
    numeric_keys,
    opaque_token_problem,
    verify_with_webhook_secret,
)
from connectors.errors import RecordError
from connectors.model import Canonical
from connectors.shipstation import mapping, pacific, webhooks, wire
from connectors.shipstation.client import RawOrder, ShipStationClient

ORDER_STATUSES: tuple[wire.OrderStatus, ...] = ("awaiting_shipment", "cancelled")
"""The statuses the ``orders`` stream reads."""
RATE_LIMIT_PER_MINUTE = 40


class ShipStationSettings(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    store_id: int
    """ShipStation's id of the store whose orders this channel reads (``GET /stores``); it is
    also the channel's origin, ``shipstation:<store_id>``."""
    base_url: str = "https://ssapi.shipstation.com"
    notify_sales_channel: bool = True
    """Let ShipStation tell the store an order shipped (``notifySalesChannel``)."""

    def __post_init__(self) -> None:
        # The key pair goes with every request: never in clear text across a network.
        parts = urlsplit(self.base_url)
        host = parts.hostname or ""
        if parts.scheme not in ("https", "http") or not host:
            raise ValueError(f"base_url {self.base_url!r} is not an http(s) URL")
        if (
            parts.scheme == "http"
            and host not in ("localhost", "::1")
            and not host.startswith("127.")
        ):
            raise ValueError(f'base_url "http" is only for a sandbox on loopback, not {host}')


def _record(raw: RawOrder) -> Record:
    return Record(
        key=str(raw.stamps.order_id),
        updated_at=pacific.aware(raw.stamps.modify_date),
        body=raw.raw,
    )


async def merged_pages(
    reads: list[AsyncIterator[list[Record]]],
) -> AsyncGenerator[list[Record], None]:
    """Records of several reads, each sorted by ``updated_at``, as pages sorted by it.

    A page holds what is at or before the horizon: the oldest last record among the reads
    not yet finished. Nothing a read returns later can be older, so a cursor promoted to a
    page's last record skips nothing.
    """
    buffers: list[list[Record]] = [[] for _ in reads]
    live = [True] * len(reads)
    while True:
        for i, read in enumerate(reads):
            if live[i] and not buffers[i]:
                page = await anext(read, None)
                if page is None:
                    live[i] = False
                else:
                    buffers[i] = page
        if not any(buffers):
            return
        lasts = [buffer[-1].updated_at for i, buffer in enumerate(buffers) if live[i]]
        horizon = min(lasts) if lasts else None
        ready: list[Record] = []
        for i, buffer in enumerate(buffers):
            cut = len(buffer)
            if horizon is not None:
                cut = sum(1 for r in buffer if r.updated_at <= horizon)
            ready += buffer[:cut]
            buffers[i] = buffer[cut:]
        yield sorted(ready, key=lambda r: r.updated_at)


class ShipStationConnector:
    def __init__(self, context: ConnectorContext) -> None:
        self.context = context
        self.settings: ShipStationSettings = context.settings
        self.client = ShipStationClient(
            context.http,
            self.settings.base_url,
            context.secrets["api_key"],
            context.secrets["api_secret"],
            context.gate,
        )

    async def _status_pages(
        self, status: wire.OrderStatus, since: datetime | None
    ) -> AsyncGenerator[list[Record], None]:
        pages = self.client.order_pages(status, since, store_id=self.settings.store_id)
        async with aclosing(pages):
            async for raws in pages:
                yield [_record(raw) for raw in raws]

    async def read(self, stream: str, since: datetime | None) -> AsyncGenerator[Page, None]:
        """Pages of changed records, oldest change first (see the module docstring)."""
        if stream == "products":
            async with aclosing(self.client.product_pages()) as pages:
                records = [
                    Record(key=str(s.product_id), updated_at=pacific.aware(s.modify_date), body=raw)
                    async for page in pages
                    for s, raw in page
                    if since is None or pacific.aware(s.modify_date) >= since
                ]
            if records:
                yield Page(records=sorted(records, key=lambda r: r.updated_at))
            return
        if stream != "orders":
            raise ValueError(f"shipstation has no stream {stream!r}")
        async with AsyncExitStack() as stack:
            reads = [
                await stack.enter_async_context(aclosing(self._status_pages(status, since)))
                for status in ORDER_STATUSES
            ]
            merged = await stack.enter_async_context(aclosing(merged_pages(list(reads))))
            async for records in merged:
                yield Page(records=records)

    async def fetch(self, stream: str, keys: Sequence[str], *, as_read: bool = False) -> Page:
        """The channel's store's orders ``keys`` name by id or number (see the module
        docstring)."""
        if stream != "orders":
            raise ValueError(f"shipstation fetches no {stream!r} by key")
        ids = numeric_keys(keys)
        found = [raw for order_id in ids if (raw := await self.client.order(order_id))]
        numbers = {key.removeprefix("#") for key in keys}
        for number in sorted(numbers | {f"#{n}" for n in numbers}):
            pages = self.client.order_pages(
                None, None, store_id=self.settings.store_id, order_number=number
            )
            async with aclosing(pages):
                found += [raw async for page in pages for raw in page]
        named = {
            raw.stamps.order_id: _record(raw)
            for raw in found
            if self._named(raw, set(ids), numbers)
            and (not as_read or raw.stamps.order_status in ORDER_STATUSES)
        }
        return Page(records=list(named.values()))

    def _named(self, raw: RawOrder, ids: set[int], numbers: set[str]) -> bool:
        """Whether ``raw`` is an order of the channel's store with an id in ``ids`` or a
        number in ``numbers`` (spelt without ``#``)."""
        identity = decode_strictly(
            raw.raw, wire.OrderIdentity, what=f"order {raw.stamps.order_id}", entity="order"
        )
        options = identity.advanced_options
        if options is None or options.store_id != self.settings.store_id:
            return False
        return raw.stamps.order_id in ids or identity.order_number.removeprefix("#") in numbers

    async def write(self, remote_write: RemoteWrite) -> WriteResult:
        """Perform one write; unknown kinds and bad payloads → ``RecordError``."""
        if remote_write.kind == "fulfillment.create":
            return await self._mark_shipped(remote_write)
        if remote_write.kind == "inventory.set":
            push = decode_payload(remote_write, model.InventoryPush, entity=remote_write.key)
            skus = [t.sku for t in push.targets]
            summary = f"set 0 quantities; {len(skus)} SKUs not on this store (V1 keeps no stock)"
            if skus:
                summary += f": {', '.join(skus[:5])}"
            return WriteResult(remote_id=None, summary=summary)
        raise RecordError(
            f"shipstation cannot write {remote_write.kind!r}",
            entity=remote_write.key,
            reason="unsupported",
        )

    async def _mark_shipped(self, remote_write: RemoteWrite) -> WriteResult:
        push = decode_payload(remote_write, model.TrackingPush, entity=remote_write.key)
        shipment, order_key = push.shipment, push.store_order_id
        if not order_key.isdigit():
            raise RecordError(
                f"order {order_key!r} is not a ShipStation orderId",
                entity=order_key,
                reason="schema",
            )
        order_id = int(order_key)
        tracking = shipment.tracking_number
        if not tracking:
            raise RecordError(
                f"order {order_id}: marking shipped without tracking number cannot be done "
                "safely (a retry could not tell whether it was already done)",
                entity=order_key,
                reason="no_tracking",
            )
        existing = [f for f in await self.client.fulfillments(order_id) if not f.voided]
        same = next((f for f in existing if f.tracking_number == tracking), None)
        if same is not None:
            return WriteResult(remote_id=str(same.fulfillment_id), summary="already marked shipped")
        if existing:
            others = ", ".join(sorted({f.tracking_number or "(none)" for f in existing}))
            raise RecordError(
                f"order {order_id} is already marked shipped with tracking {others}; "
                f"shipment {shipment.shipment_id} ({tracking}) cannot be added in ShipStation V1",
                entity=order_key,
                reason="split_shipment",
            )
        shipped_at = shipment.shipped_at or self.context.now()
        marked = await self.client.mark_as_shipped(
            wire.MarkShippedRequest(
                order_id=order_id,
                carrier_code=mapping.carrier_code(shipment.carrier),
                ship_date=pacific.wall(shipped_at).date().isoformat(),
                tracking_number=tracking,
                notify_customer=push.notify_customer,
                notify_sales_channel=self.settings.notify_sales_channel,
            )
        )
        return WriteResult(
            remote_id=str(marked.order_id), summary=f"order {marked.order_number} marked shipped"
        )

    async def aclose(self) -> None:
        """Nothing to close: the HTTP client belongs to the daemon."""


def interpret(
    channel: str, settings: ShipStationSettings, stream: str, body: bytes
) -> list[Canonical]:
    """A ``products`` record is one item; an ``orders`` record is one order (see
    :class:`~connectors.base.RecordInterpreter`)."""
    if stream == "products":
        product = decode_strictly(body, wire.Product, what="ShipStation product", entity="product")
        return list(mapping.items_from_product(channel, product))
    if stream == "orders":
        order = decode_strictly(body, wire.Order, what="ShipStation order", entity="order")
        return [mapping.order_from_wire(channel, order)]
    return []


CONNECTOR = ConnectorSpec(
    platform="shipstation",
    streams=(
        StreamSpec(name="products", default_schedule_seconds=12 * 3600.0),
        StreamSpec(name="orders", default_schedule_seconds=30 * 60.0),
    ),
    credentials=("api_key", "api_secret", "webhook_secret"),
    settings_type=ShipStationSettings,
    requests_per_second=RATE_LIMIT_PER_MINUTE / 60,
    # A fixed window of 40 per minute: the whole window may go at once, and the headers'
    # Remaining and Reset then hold the rest of the minute back.
    burst=float(RATE_LIMIT_PER_MINUTE),
    create=ShipStationConnector,
    verify_webhook=verify_with_webhook_secret(webhooks.verify),
    interpret=interpret,
    # V1 keeps no stock: the hub sends it none (an inventory.set would change nothing).
    writes=frozenset({"fulfillment.create"}),
    fetches=frozenset({"orders"}),
    check_credentials=check_each_credential(
        {
            "api_key": opaque_token_problem,
            "api_secret": opaque_token_problem,
            "webhook_secret": webhooks.secret_problem,
        }
    ),
    origin=lambda settings: mapping.origin_of_store(settings.store_id),
)
