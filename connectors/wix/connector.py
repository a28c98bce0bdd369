"""The Wix connector: streams, writes and webhook verification for the channel actor.

A Wix site runs Catalog V1 or V3, never both; this connector speaks V1 (Stores Catalog V1 and
its Inventory V2), the only value ``settings.catalog`` takes, and a site that answers as a V3
site stops the channel (``ChannelFatal``). Orders and fulfillments are the eCommerce APIs, the
same for both catalogs. It authenticates with an API key, or with an app's OAuth client
credentials when ``settings.app_id`` is set (:mod:`.auth`).

Streams (record keys are Wix ids, bodies the raw JSON, decoded with :mod:`.wire`):

- ``products``: every product whose ``lastUpdated`` is at or after ``since``, oldest first,
  variants included (``POST /stores/v1/products/query``, ``includeVariants``). Offset paging
  fails past 10,000 items (Wix's Stores pagination page), so pages are keyset: sorted by
  ``lastUpdated`` then ``numericId``, each next page asks for ``lastUpdated $gt`` the last one
  seen, after first reading the rest of the products stamped with exactly that time
  (``lastUpdated`` equal, ``numericId $gt``) so a run of equal stamps is never cut. Every page
  can promote the cursor.
- ``orders``: orders updated at or after ``since``, oldest update first. Search never returns
  ``INITIALIZED`` orders (checkouts not placed). The stream is the merge of two searches, in
  ``updatedDate`` order: the import filter (``status`` ``APPROVED``, ``paymentStatus`` in
  ``settings.order_payment_statuses``, ``fulfillmentStatus`` in
  ``settings.order_fulfillment_statuses``), narrowed on Wix's side because that is what the
  issue asks of the connector, and every ``CANCELED`` order. The second search is why the
  filter hides nothing the actor must act on: an order cancelled before it shipped leaves the
  first result set (its status is no longer ``APPROVED``) and would otherwise never be seen
  again; it arrives through the second, so the actor cancels its fulfillment order. An order
  refunded without being cancelled is not returned; a refund that should stop a shipment is a
  cancellation on Wix. Each merged page only holds records no later page can precede. A
  partially fulfilled order's record carries its fulfillments too (one more call for each:
  Wix's order does not say what a line has left), so that only what is left is imported.

Fetch by key (``orders``): a key is the order's id (a GUID) or its number (``10001``;
``#10001`` alike), all found with one orders search (``id $in`` or ``number $in``), each
record made as the stream makes it, whatever the order's statuses (a webhook's fetch,
``as_read``: only those the stream's two searches return). Search never returns an
``INITIALIZED`` order: a checkout not placed is no order to import.

Writes (``RemoteWrite.payload`` is JSON of a canonical Struct):

- ``inventory.set``: a :class:`~connectors.model.InventoryPush`. SKUs are looked up with
  Query Store Variants (``sku $in``, 100 per call; a fallback key
  ``<channel>:<product id>[/<variant id>]`` through its product's variants), which gives each
  variant's product, tracking and quantity; then each product's targets
  are written in one ``PATCH /stores/v2/inventoryItems/product/{id}`` (absolute quantities,
  several variants per call). Catalog V1 tracks quantities per product: a product whose
  inventory is not tracked only has in/out of stock, which the merchant set by hand; its SKUs
  are skipped and named in the summary, as are SKUs the site does not list. A variant
  already at its target is not written. The connector remembers the product and variant of
  each tracked SKU it looked up, until a read of the products stream returns that product
  again (the merchant may have stopped tracking it, and the write would track it again): a
  push whose SKUs are all remembered, and that need not read the site first
  (``read_first``, a reconcile), is the ``PATCH`` calls alone. If Wix refuses one (the product
  or variant is gone), the connector forgets those SKUs and writes after a look-up.
- ``fulfillment.create``: a :class:`~connectors.model.TrackingPush`. The order is read
  (``GET /ecom/v1/orders/{id}``) and its fulfillments listed; an existing fulfillment with the
  same tracking number and exactly the shipment's SKUs and quantities is this write, applied
  by an earlier attempt, and is returned instead of creating another. Otherwise the
  shipment's lines are matched by canonical SKU to the order's line items, up to what each
  has left unfulfilled, and one fulfillment is created with the tracking number, the carrier
  as ``shippingProvider`` (Wix's predefined names where one matches, so Wix builds the link)
  and the tracking URL as ``trackingLink``. A shipment without tracking number cannot be
  matched on a retry and is refused (``RecordError``, ``no_tracking``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncGenerator, AsyncIterator, Mapping, Sequence
from contextlib import AsyncExitStack, aclosing
from datetime import UTC, datetime
from functools import partial
from typing import Annotated, Any, Literal

import msgspec

from connectors import model
from connectors.base import (
    ConnectorContext,
    ConnectorSpec,
    Page,
    Record,
    RemoteWrite,
    StreamSpec,
    WebhookEvent,
    WriteResult,
    check_each_credential,
    decode_payload,
    decode_strictly,
    numeric_keys,
    opaque_token_problem,
)
from connectors.errors import RecordError
from connectors.model import Canonical
from connectors.wix import mapping, webhooks, wire
from connectors.wix.auth import ApiKey, Auth, ClientCredentials
from connectors.wix.client import (
    ORDERS_PAGE_SIZE,
    PRODUCTS_PAGE_SIZE,
    RATE_LIMIT_PER_MINUTE,
    WixClient,
)
from connectors.written import WrittenPlaces
from daemon.credentials import Secret

GUID_PATTERN = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
MAX_FULFILLMENT_LINES = 300
"""Line items one fulfillment may hold (Wix's documented maximum)."""
PREDEFINED_PROVIDERS = {
    "fedex": "fedex",
    "ups": "ups",
    "usps": "usps",
    "dhl": "dhl",
    "canadapost": "canadaPost",
    "canada post": "canadaPost",
}
"""Carrier names (lower-cased) → Wix's predefined ``shippingProvider`` for which Wix builds
the tracking link itself; the list's exact extent is unconfirmed."""

PaymentStatusName = Literal[
    "NOT_PAID", "PAID", "PARTIALLY_PAID", "PARTIALLY_REFUNDED", "FULLY_REFUNDED", "PENDING"
]
FulfillmentStatusName = Literal["NOT_FULFILLED", "PARTIALLY_FULFILLED", "FULFILLED"]


class WixSettings(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    site_id: Annotated[str, msgspec.Meta(pattern=GUID_PATTERN, description="the site's GUID")]
    """The site's id (a GUID, in the dashboard's URL), sent as ``wix-site-id``."""
    catalog: Literal["v1"] = "v1"
    """The site's catalog version; only Catalog V1 is supported."""
    app_id: str | None = None
    """An app's id, to authenticate with OAuth client credentials: then the ``token``
    credential is the app's secret and ``instance_id`` is required."""
    instance_id: str | None = None
    """The app instance id of the site: when given, webhooks for other instances are refused."""
    weight_unit: Literal["kg", "lb"] = "kg"
    """The site's weight unit (Wix's store settings): V1 weights carry none."""
    order_payment_statuses: list[PaymentStatusName] = msgspec.field(
        default_factory=lambda: ["PAID"]
    )
    order_fulfillment_statuses: list[FulfillmentStatusName] = msgspec.field(
        default_factory=lambda: ["NOT_FULFILLED", "PARTIALLY_FULFILLED"]
    )
    base_url: str = "https://www.wixapis.com"
    """``http://127.0.0.1:…`` only to reach a sandbox on loopback (``shelfsync demo``)."""

    def __post_init__(self) -> None:
        # The API key goes with every request: never over a network in clear text.
        url = self.base_url
        if url.startswith("http://"):
            host = url.removeprefix("http://").split("/", 1)[0].rsplit(":", 1)[0].strip("[]")
            if host not in ("localhost", "::1") and not host.startswith("127."):
                raise ValueError(f"base_url over http is only for a sandbox on loopback: {url}")
        elif not url.startswith("https://"):
            raise ValueError(f"base_url must be an https URL: {url}")
        if self.app_id is not None and self.instance_id is None:
            raise ValueError("app_id needs instance_id: the app instance the token is for")
        if not self.order_payment_statuses or not self.order_fulfillment_statuses:
            raise ValueError("order_payment_statuses and order_fulfillment_statuses need a value")


def _iso(moment: datetime) -> str:
    """Wix's timestamp form, in UTC to the millisecond (its precision)."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class WixConnector:
    def __init__(self, context: ConnectorContext) -> None:
        self.context = context
        self.settings: WixSettings = context.settings
        settings = self.settings
        auth: Auth
        if settings.app_id is None:
            auth = ApiKey(context.secrets["token"], settings.site_id)
        else:
            assert settings.instance_id is not None  # checked with the settings
            auth = ClientCredentials(
                settings.base_url, settings.app_id, context.secrets["token"], settings.instance_id
            )
        self.client = WixClient(context.http, settings.base_url, auth, context.gate)
        self._written = WrittenPlaces[tuple[str, str]]()
        """Per canonical SKU of a tracked variant, its product id and variant id, as last
        looked up; forgotten when a read returns the product again."""

    async def read(self, stream: str, since: datetime | None) -> AsyncGenerator[Page, None]:
        """Pages of changed records, oldest first (see the module docstring per stream)."""
        # Every generator read from is closed with the read, however it ends: one stopped
        # mid-way (a cancelled read) would otherwise be left suspended in its request loop.
        if stream == "products":
            async with aclosing(self._product_pages(since)) as product_pages:
                async for records in product_pages:
                    self._forget_products({record.key for record in records})
                    if records:
                        yield Page(records=records)
        elif stream == "orders":
            async with AsyncExitStack() as stack:
                sources = [
                    await stack.enter_async_context(aclosing(self._order_pages(filter_, since)))
                    for filter_ in (self._import_filter(), {"status": "CANCELED"})
                ]
                pages = await stack.enter_async_context(aclosing(_merged(sources)))
                async for page in pages:
                    yield page
        else:
            raise ValueError(f"wix has no stream {stream!r}")

    async def fetch(self, stream: str, keys: Sequence[str], *, as_read: bool = False) -> Page:
        """The orders ``keys`` name by id or number (see the module docstring)."""
        if stream != "orders":
            raise ValueError(f"wix fetches no {stream!r} by key")
        numbers = numeric_keys(keys)
        spelt = {str(n) for n in numbers} | {f"#{n}" for n in numbers}
        ids = sorted(set(keys) - spelt)
        wanted: list[dict[str, Any]] = [{"id": {"$in": ids}}] if ids else []
        wanted += [{"number": {"$in": numbers}}] if numbers else []
        if not wanted:
            return Page(records=[])
        filter_ = wanted[0] if len(wanted) == 1 else {"$or": wanted}
        if as_read:
            read = {"$or": [self._import_filter(), {"status": "CANCELED"}]}
            filter_ = {"$and": [filter_, read]}
        async with aclosing(self._order_pages(filter_, None)) as pages:
            return Page(records=[record async for page in pages for record in page])

    async def _product_pages(self, since: datetime | None) -> AsyncGenerator[list[Record], None]:
        """Keyset pages over (``lastUpdated``, ``numericId``); see the module docstring."""
        by_time = [{"lastUpdated": "asc"}, {"numericId": "asc"}]
        after: dict[str, str] | None = {"$gte": _iso(since)} if since else None
        while True:
            page = await self.client.query_products(
                {"lastUpdated": after} if after else None, by_time, PRODUCTS_PAGE_SIZE
            )
            yield [Record(s.id, s.last_updated, raw) for s, raw in page]
            if len(page) < PRODUCTS_PAGE_SIZE:
                return
            last = page[-1][0]
            stamp, numeric_id = _iso(last.last_updated), int(last.numeric_id)
            while True:
                ties = await self.client.query_products(
                    {"lastUpdated": {"$eq": stamp}, "numericId": {"$gt": numeric_id}},
                    [{"numericId": "asc"}],
                    PRODUCTS_PAGE_SIZE,
                )
                yield [Record(s.id, s.last_updated, raw) for s, raw in ties]
                if len(ties) < PRODUCTS_PAGE_SIZE:
                    break
                numeric_id = int(ties[-1][0].numeric_id)
            after = {"$gt": stamp}

    def _import_filter(self) -> dict[str, Any]:
        return {
            "status": "APPROVED",
            "paymentStatus": {"$in": list(self.settings.order_payment_statuses)},
            "fulfillmentStatus": {"$in": list(self.settings.order_fulfillment_statuses)},
        }

    async def _order_pages(
        self, filter_: dict[str, Any], since: datetime | None
    ) -> AsyncGenerator[list[Record], None]:
        """Every page of one orders search, ``updatedDate`` ascending."""
        if since is not None:
            filter_ = filter_ | {"updatedDate": {"$gte": _iso(since)}}
        cursor: str | None = None
        while True:
            page, cursor = await self.client.search_orders(filter_, cursor, ORDERS_PAGE_SIZE)
            yield [
                Record(s.id, s.updated_date, await self._with_fulfillments(raw)) for s, raw in page
            ]
            if cursor is None:
                return

    async def _with_fulfillments(self, raw: bytes) -> bytes:
        """A partially fulfilled order's record with its fulfillments added (see
        :attr:`~.wire.Order.fulfillments`), so that only what is left is imported; any other
        order's record as Wix sent it."""
        body = msgspec.json.decode(raw)
        if not isinstance(body, dict) or body.get("fulfillmentStatus") != "PARTIALLY_FULFILLED":
            return raw
        fulfillments = await self.client.list_fulfillments(str(body["id"]))
        return msgspec.json.encode(body | {"fulfillments": fulfillments})

    async def write(self, remote_write: RemoteWrite) -> WriteResult:
        if remote_write.kind == "inventory.set":
            return await self._set_inventory(remote_write)
        if remote_write.kind == "fulfillment.create":
            return await self._create_fulfillment(remote_write)
        raise RecordError(
            f"wix cannot write {remote_write.kind!r}", entity=remote_write.key, reason="unsupported"
        )

    # --- inventory ----------------------------------------------------------------------------

    async def _variants_for(self, skus: list[str]) -> dict[str, wire.StoreVariant]:
        """The variant of each canonical SKU the site lists: by SKU, and a fallback key
        through its product's variants."""
        channel = self.context.channel
        fallback = {
            sku: target for sku in skus if (target := mapping.fallback_target(channel, sku))
        }
        plain = [sku for sku in skus if sku not in fallback]
        found: dict[str, wire.StoreVariant] = {}
        for variant in await self.client.store_variants("sku", plain) if plain else []:
            if variant.sku in plain:
                found.setdefault(variant.sku, variant)
        products = sorted({product_id for product_id, _ in fallback.values()})
        for variant in await self.client.store_variants("productId", products) if products else []:
            sku = mapping.store_variant_sku(channel, variant)
            if sku in fallback:
                found.setdefault(sku, variant)
        return found

    async def _set_inventory(self, remote_write: RemoteWrite) -> WriteResult:
        push = decode_payload(remote_write, model.InventoryPush, entity=remote_write.key)
        targets = {target.sku: target.quantity for target in push.targets}
        # Refused if the product or variant is gone since: then looked up again.
        remembered = await self._written.write(push, partial(self._set_where_written, targets))
        if remembered is not None:
            return remembered
        variants = await self._variants_for(sorted(targets))
        self._written.remember(
            {
                sku: (variant.product_id, variant.variant_id)
                for sku, variant in variants.items()
                if variant.stock.track_quantity
            }
        )
        updates: dict[str, list[wire.InventoryVariantUpdate]] = {}
        untracked: list[str] = []
        unchanged = drift = 0
        for sku, variant in sorted(variants.items()):
            if not variant.stock.track_quantity:
                untracked.append(sku)
            elif variant.stock.quantity == targets[sku]:
                unchanged += 1
            else:
                if variant.stock.quantity is not None:
                    drift += abs(targets[sku] - variant.stock.quantity)
                updates.setdefault(variant.product_id, []).append(
                    wire.InventoryVariantUpdate(
                        variant_id=variant.variant_id, quantity=targets[sku]
                    )
                )
        await self._update(updates)
        written = sum(len(v) for v in updates.values())
        summary = f"set {written} quantities on {len(updates)} products ({unchanged} unchanged)"
        missing = sorted(targets.keys() - variants.keys())
        if untracked:
            summary += f"; {len(untracked)} SKUs untracked: {', '.join(untracked[:5])}"
        if missing:
            summary += f"; {len(missing)} SKUs not on this store: {', '.join(missing[:5])}"
        if push.reconcile:
            summary += f"; {drift} units of drift corrected"
        return WriteResult(
            remote_id=None, summary=summary, drift_units=drift if push.reconcile else 0
        )

    def _forget_products(self, product_ids: set[str]) -> None:
        """Forget where the SKUs of these products were written: a read returned them again."""
        self._written.forget_where(lambda place: place[0] in product_ids)

    async def _set_where_written(
        self, targets: dict[str, int], places: dict[str, tuple[str, str]]
    ) -> WriteResult:
        """Set ``targets`` on their variants (``places``: SKU → product id, variant id), one
        ``PATCH`` per product."""
        updates: dict[str, list[wire.InventoryVariantUpdate]] = {}
        for sku, quantity in sorted(targets.items()):
            product_id, variant_id = places[sku]
            updates.setdefault(product_id, []).append(
                wire.InventoryVariantUpdate(variant_id=variant_id, quantity=quantity)
            )
        await self._update(updates)
        summary = f"set {len(targets)} quantities on {len(updates)} products (where last written)"
        return WriteResult(remote_id=None, summary=summary)

    async def _update(self, updates: dict[str, list[wire.InventoryVariantUpdate]]) -> None:
        """Each product's variant quantities (product id → updates), one ``PATCH`` a product."""
        for product_id, changes in updates.items():
            await self.client.update_inventory(product_id, changes)

    # --- fulfillment --------------------------------------------------------------------------

    async def _create_fulfillment(self, remote_write: RemoteWrite) -> WriteResult:
        push = decode_payload(remote_write, model.TrackingPush, entity=remote_write.key)
        order_id, shipment = push.store_order_id, push.shipment
        if not shipment.tracking_number:
            raise RecordError(
                f"order {order_id}: a fulfillment without tracking number cannot be created "
                "safely (a retry could not tell whether it was already created)",
                entity=order_id,
                reason="no_tracking",
            )
        wanted: Counter[str] = Counter()
        for line in shipment.lines:
            wanted[line.sku] += line.quantity
        if not +wanted:
            raise RecordError(
                f"order {order_id}: shipment {shipment.shipment_id} has no lines",
                entity=order_id,
                reason="schema",
            )
        order = await self.client.get_order(order_id)
        channel = self.context.channel
        sku_of = {line.id: mapping.line_sku(channel, order.id, line) for line in order.line_items}
        existing = await self.client.list_fulfillments(order_id)
        for fulfillment in existing:
            tracking = fulfillment.tracking_info
            if tracking is None or tracking.tracking_number != shipment.tracking_number:
                continue
            shipped: Counter[str] = Counter()
            for item in fulfillment.line_items:
                shipped[sku_of.get(item.id, item.id)] += item.quantity
            if +shipped == +wanted:
                return WriteResult(remote_id=fulfillment.id, summary="already fulfilled")
        lines = _match_lines(order, sku_of, wanted, existing)
        carrier = shipment.carrier
        provider = PREDEFINED_PROVIDERS.get(carrier.strip().lower(), carrier) if carrier else None
        created = await self.client.create_fulfillment(
            order_id,
            wire.Fulfillment(
                line_items=lines,
                tracking_info=wire.TrackingInfo(
                    tracking_number=shipment.tracking_number,
                    shipping_provider=provider,
                    tracking_link=shipment.tracking_url,
                ),
            ),
        )
        return WriteResult(
            remote_id=created.fulfillment_id, summary=f"fulfillment of order {order.number}"
        )

    async def aclose(self) -> None:
        """Nothing to close: the HTTP client belongs to the daemon."""


def _match_lines(
    order: wire.Order,
    sku_of: Mapping[str, str],
    wanted: Counter[str],
    existing: list[wire.Fulfillment],
) -> list[wire.FulfillmentLine]:
    """The shipped quantities spread over the order's line items by canonical SKU, each line
    up to what it has left unfulfilled; ``RecordError`` for what finds no room."""
    fulfilled: Counter[str] = Counter()
    for fulfillment in existing:
        for item in fulfillment.line_items:
            fulfilled[item.id] += item.quantity
    left = Counter(wanted)
    lines: list[wire.FulfillmentLine] = []
    for line in order.line_items:
        sku = sku_of[line.id]
        take = min(left[sku], line.quantity - fulfilled[line.id])
        if take > 0:
            lines.append(wire.FulfillmentLine(id=line.id, quantity=take))
            left[sku] -= take
    if +left:
        raise RecordError(
            f"order {order.id}: nothing left to fulfil for {sorted(+left)}",
            entity=order.id,
            reason="remote_validation",
        )
    if len(lines) > MAX_FULFILLMENT_LINES:
        raise RecordError(
            f"order {order.id}: {len(lines)} lines exceed Wix's {MAX_FULFILLMENT_LINES} per "
            "fulfillment",
            entity=order.id,
            reason="too_many_lines",
        )
    return lines


async def _merged(
    sources: Sequence[AsyncIterator[list[Record]]],
) -> AsyncGenerator[Page, None]:
    """The records of several streams, each ascending by ``updated_at``, as pages ascending
    by ``updated_at`` across all of them.

    A record is released once no source can still yield an earlier one: every source either
    is exhausted or has yielded a record at least as late. So each page's records precede or
    equal (ties are re-read by the actor's inclusive, overlapping cursor) everything after it.
    """
    buffers: list[list[Record]] = [[] for _ in sources]
    reached: list[datetime | None] = [None] * len(sources)
    live = set(range(len(sources)))
    while True:
        for index in sorted(live):
            if not buffers[index]:
                page = await anext(sources[index], None)
                if page is None:
                    live.discard(index)
                elif page:
                    buffers[index] += page
                    reached[index] = page[-1].updated_at
        if live and any(reached[i] is None and not buffers[i] for i in live):
            continue  # a source answered an empty page but has more: ask it again
        bound = min([t for i in live if (t := reached[i]) is not None], default=None)
        ready: list[Record] = []
        for index, buffer in enumerate(buffers):
            keep = [r for r in buffer if bound is not None and r.updated_at > bound]
            ready += [r for r in buffer if bound is None or r.updated_at <= bound]
            buffers[index] = keep
        if ready:
            yield Page(records=sorted(ready, key=lambda r: r.updated_at))
        if not live and not any(buffers):
            return


def verify_webhook(
    settings: WixSettings, secrets: Mapping[str, Secret], headers: Mapping[str, str], body: bytes
) -> WebhookEvent:
    """Verify with the channel's ``public_key``; refuse another instance's events when
    ``settings.instance_id`` is given."""
    return webhooks.verify(
        secrets["public_key"].reveal(), headers, body, instance_id=settings.instance_id
    )


def interpret(channel: str, settings: WixSettings, stream: str, body: bytes) -> list[Canonical]:
    """A ``products`` record is the product's variants as items; an ``orders`` record is one
    order (see :class:`~connectors.base.RecordInterpreter`)."""
    if stream == "products":
        product = decode_strictly(body, wire.Product, what="Wix product", entity="product")
        return list(mapping.items_from_product(channel, product, weight_unit=settings.weight_unit))
    if stream == "orders":
        order = decode_strictly(body, wire.Order, what="Wix order", entity="order")
        return [mapping.order_from_wire(channel, mapping.origin_of_site(settings.site_id), order)]
    return []


CONNECTOR = ConnectorSpec(
    platform="wix",
    streams=(
        StreamSpec(name="products", default_schedule_seconds=6 * 3600.0),
        StreamSpec(name="orders", default_schedule_seconds=30 * 60.0),
    ),
    credentials=("token", "public_key"),
    settings_type=WixSettings,
    # 200 per minute per site, counted over a sliding minute. The whole 200: each call stays
    # in the channel's window a second longer than in the site's (actors.ratelimit.TRAVEL_SLACK),
    # so one that reaches Wix up to a second after it was let through still cannot make the
    # site count 201. The app's budget is the site's own: no other client spends it.
    requests_per_second=RATE_LIMIT_PER_MINUTE / 60,
    burst=float(RATE_LIMIT_PER_MINUTE),
    sliding_window=True,
    create=WixConnector,
    verify_webhook=verify_webhook,
    interpret=interpret,
    writes=frozenset({"inventory.set", "fulfillment.create"}),
    fetches=frozenset({"orders"}),
    check_credentials=check_each_credential(
        {"token": opaque_token_problem, "public_key": webhooks.public_key_problem}
    ),
    origin=lambda settings: mapping.origin_of_site(settings.site_id),
)
