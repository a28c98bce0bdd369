"""The ShipBob connector: streams ``shipments``, ``inventory`` and ``products``, writes orders,
products and tracking acknowledgements (see :mod:`connectors.base` for the contract).

Reads:

- ``shipments``: orders with a shipped shipment (status ``Completed``: it has left the
  warehouse) whose tracking is not yet uploaded, optionally updated since the cursor; one
  record per order, body = the order's raw JSON, ``updated_at`` = its latest shipment update.
  An order whose tracked shipments are only labeled is left out: it changes again when they
  ship, so a later read returns it (see :mod:`.mapping`). All of ShipBob's pages are read,
  then one page is yielded, oldest update first (ShipBob pages by order id, so per-page order
  would let the cursor skip records). Only the id, timestamps and shipment statuses are
  decoded (strictly, offsets required); an order otherwise malformed is delivered raw and
  fails alone when decoded.
- ``inventory``: a full snapshot on every read (ShipBob inventory has no update stamp, so
  ``since`` is ignored and ``updated_at`` is the read time); one record per inventory item,
  body = :class:`InventorySnapshot` JSON (per-location quantities plus network totals, the
  only source of exception quantities).
- ``products``: products updated since the cursor (``LastUpdatedTimestamp``), one record per
  product, body = its JSON, ``updated_at`` = the latest update of the product or its variants
  (the read time if ShipBob gives none). ShipBob pages by product id, so, as for shipments,
  every page is read before the records are yielded, oldest update first, in pages of
  :data:`PRODUCTS_PER_PAGE`. A record is one item per variant; a bundle variant's item
  carries its components (ShipBob's ``bundle_definition``).

Writes (payload JSON):

- ``order.create``: a canonical :class:`~connectors.model.Order`; a duplicate reference is
  looked up and reported as already existing, never created twice.
- ``order.cancel``: a canonical :class:`~connectors.model.OrderCancel` (the store order whose
  fulfillment order to cancel, found by its reference id); a cancel ShipBob answers with
  anything but ``Success`` for the order and every shipment is a ``RecordError``.
- ``product.create``: a canonical :class:`~connectors.model.Item`; an existing SKU is looked
  up and reported as already existing.
- ``product.update``: a canonical :class:`~connectors.model.Item`; the variant of its SKU is
  found (``GET /product?SKU=``) and given the item's name, weight, dimensions and barcode
  (``PATCH /product/{id}/variants``); a SKU ShipBob does not have is a ``RecordError``
  (reason ``not_found``).
- ``tracking.uploaded``: a canonical :class:`~connectors.model.ShipmentsAcknowledged`.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from datetime import datetime

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
from connectors.errors import RecordError
from connectors.model import Canonical
from connectors.shipbob import mapping, webhooks, wire
from connectors.shipbob.client import ShipBobClient

PRODUCTS_PER_PAGE = 250
"""Products per page of the ``products`` stream: each page is committed with its cursor."""


class ShipBobSettings(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    channel_id: int
    """The ShipBob channel orders are created in (``GET /2026-01/channel``, with write scopes)."""
    base_url: str = "https://api.shipbob.com"


class InventorySnapshot(msgspec.Struct, frozen=True):
    """The body of an ``inventory`` record."""

    locations: wire.InventoryLocations
    totals: wire.InventoryTotals | None = None


def _shipment_id(value: str) -> int:
    if not value.isdigit():
        raise RecordError(
            f"{value!r} is not a ShipBob shipment id", entity="shipment", reason="schema"
        )
    return int(value)


class ShipBobConnector:
    def __init__(self, context: ConnectorContext) -> None:
        settings: ShipBobSettings = context.settings
        self.context = context
        self.client = ShipBobClient(
            context.http,
            settings.base_url,
            context.secrets["token"],
            settings.channel_id,
            context.gate,
        )

    async def read(self, stream: str, since: datetime | None) -> AsyncGenerator[Page, None]:
        """Pages of changed records; ``ValueError`` for a stream this platform lacks."""
        if stream == "shipments":
            # ShipBob sorts by order id, not by update time: a page yielded as it arrived
            # would move the cursor past older updates on later pages, lost if a later page
            # then failed. The orders awaiting tracking upload are few, so all pages are read
            # before one page, oldest update first, is yielded.
            records = [
                Record(
                    key=str(raw.stamps.id),
                    updated_at=mapping.order_updated_at(raw.stamps),
                    body=raw.raw,
                )
                async for orders in self.client.orders_needing_tracking(since=since)
                for raw in orders
                if mapping.awaits_tracking_upload(raw.stamps)
            ]
            yield Page(records=sorted(records, key=lambda r: r.updated_at))
        elif stream == "inventory":
            totals = {t.inventory_id: t for t in await self.client.inventory_totals()}
            now = self.context.now()
            async for items in self.client.inventory_location_pages():
                yield Page(
                    records=[
                        Record(
                            key=str(item.inventory_id),
                            updated_at=now,
                            body=msgspec.json.encode(
                                InventorySnapshot(
                                    locations=item, totals=totals.get(item.inventory_id)
                                )
                            ),
                        )
                        for item in items
                    ]
                )
        elif stream == "products":
            now = self.context.now()
            records = [
                Record(
                    key=str(product.id),
                    updated_at=mapping.product_updated_at(product) or now,
                    body=msgspec.json.encode(product),
                )
                async for products in self.client.product_pages(updated_since=since)
                for product in products
            ]
            records.sort(key=lambda r: r.updated_at)
            for start in range(0, len(records), PRODUCTS_PER_PAGE):
                yield Page(records=records[start : start + PRODUCTS_PER_PAGE])
        else:
            raise ValueError(f"shipbob has no stream {stream!r}")

    async def write(self, remote_write: RemoteWrite) -> WriteResult:
        """Perform one write; unknown kinds and bad payloads → ``RecordError``."""
        kind = remote_write.kind
        if kind == "order.create":
            order = decode_payload(remote_write, model.Order, entity=remote_write.kind)
            created = await self.client.create_order(mapping.order_request(order))
            summary = "order already existed" if created.already_existed else "order created"
            return WriteResult(remote_id=str(created.order.id), summary=summary)
        if kind == "order.cancel":
            cancel = decode_payload(remote_write, model.OrderCancel, entity=remote_write.kind)
            try:
                reference = mapping.reference_id(cancel.origin, cancel.store_order_id)
            except ValueError as exc:
                raise RecordError(str(exc), entity="order", reason="schema") from None
            found = await self.client.get_order_by_reference(reference)
            if found is None:
                raise RecordError(
                    f"no ShipBob order {reference}", entity="order", reason="not_found"
                )
            result = await self.client.cancel_order(found.id)
            return WriteResult(remote_id=str(found.id), summary=f"cancel: {result.status}")
        if kind == "product.create":
            item = decode_payload(remote_write, model.Item, entity=remote_write.kind)
            made = await self.client.create_product(mapping.product_request(item))
            summary = "product already existed" if made.already_existed else "product created"
            return WriteResult(remote_id=str(made.product.id), summary=summary)
        if kind == "product.update":
            item = decode_payload(remote_write, model.Item, entity=remote_write.kind)
            holder = await self.client.get_variant_by_sku(item.sku)
            if holder is None:
                raise RecordError(
                    f"no ShipBob product has SKU {item.sku}", entity="product", reason="not_found"
                )
            product, variant = holder
            await self.client.update_variants(
                product.id, [mapping.variant_update(item, variant.id)]
            )
            return WriteResult(remote_id=str(variant.id), summary="product updated")
        if kind == "tracking.uploaded":
            acknowledged = decode_payload(
                remote_write, model.ShipmentsAcknowledged, entity=remote_write.kind
            )
            shipment_ids = [_shipment_id(value) for value in acknowledged.shipment_ids]
            response = await self.client.mark_tracking_uploaded(shipment_ids)
            failed = [r.shipment_id for r in response.results if not r.is_success]
            if failed:
                raise RecordError(
                    f"tracking upload flag refused for shipments {failed}",
                    entity="shipment",
                    reason="remote_validation",
                )
            return WriteResult(remote_id=None, summary=f"{len(shipment_ids)} marked")
        raise RecordError(f"shipbob cannot write {kind!r}", entity=kind, reason="unsupported_write")

    async def aclose(self) -> None:
        """Nothing to close: the HTTP client belongs to the daemon."""


def interpret(channel: str, settings: ShipBobSettings, stream: str, body: bytes) -> list[Canonical]:
    """A ``shipments`` record is the order's shipped shipments; an ``inventory`` record is the
    item's levels; a ``products`` record is one item per variant (see
    :class:`~connectors.base.RecordInterpreter`)."""
    if stream == "shipments":
        return list(mapping.shipments(mapping.decode_order(body)))
    if stream == "inventory":
        snapshot = decode_strictly(
            body, InventorySnapshot, what="ShipBob inventory", entity="inventory"
        )
        return list(mapping.inventory_levels(channel, snapshot.locations, snapshot.totals))
    if stream == "products":
        product = decode_strictly(
            body, wire.Product, what="ShipBob product: unexpected payload", entity="product"
        )
        return list(mapping.items(channel, product))
    return []


CONNECTOR = ConnectorSpec(
    platform="shipbob",
    streams=(
        StreamSpec(name="shipments", default_schedule_seconds=900.0),
        # A receipt or an adjustment announces nothing: only a read finds it. See the README
        # for what a read costs; the actor spaces reads of a large catalog further apart.
        StreamSpec(name="inventory", default_schedule_seconds=30.0, snapshot=True),
        StreamSpec(name="products", default_schedule_seconds=900.0),
    ),
    credentials=("token", "webhook_secret"),
    settings_type=ShipBobSettings,
    # 150 per sliding minute per token; 146 in any 60 s (and a second more) leaves room for
    # calls that arrive late, and x-remaining-calls says when other calls share the token.
    requests_per_second=146 / 60,
    burst=146.0,
    sliding_window=True,
    create=ShipBobConnector,
    verify_webhook=verify_with_webhook_secret(webhooks.verify),
    interpret=interpret,
    role="fulfillment",
    writes=frozenset(
        {"order.create", "order.cancel", "product.create", "product.update", "tracking.uploaded"}
    ),
    check_credentials=check_each_credential(
        {"token": opaque_token_problem, "webhook_secret": webhooks.secret_problem}
    ),
)
