"""The hub: turns what one channel read into work for the others.

Channel actors store every record they read in the inbox and ring the hub's doorbell. The hub
takes the waiting records in batches, asks each record's platform what it means
(``ConnectorSpec.interpret``), and applies the sync rules of DESIGN.md:

- a store's **product** unknown to the fulfillment provider is created there (when the
  channel auto-creates products);
- a store's **order** is decided by :func:`actors.rules.orders.decide` and imported once
  (``order.create`` on the provider, keyed by its origin and store order id), skipped, or
  held with its reason; a later cancellation of an imported order cancels it at the provider;
- the provider's **stock** and every import change what each store should show
  (:mod:`actors.rules.inventory`); only changed quantities are queued (``inventory.set``).
  Every ``[inventory] reconcile`` interval, every target is queued to every store, changed or
  not, so that a store that drifted is corrected;
- the provider's **shipments** become store fulfillments on the store the order came from
  (``fulfillment.create``, keyed by shipment id, so a shipment is written once ever).

Everything a batch decides (order decisions, reservations, stock, pushed quantities, queued
writes, held exceptions) is applied in one transaction together with marking its records
processed, so a crash at any point either loses nothing or redoes the whole batch. Writes that
must happen once are keyed by what they are about (an order, a shipment, a product), so
redoing a batch queues nothing twice; a stock write has a key of its own, and a redone batch
writes the same absolute quantities again, which changes nothing. After the transaction the hub
tells each channel with new writes to drain its outbox.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable, Iterable
from datetime import datetime

import msgspec
import structlog
import trio

from actors.pool import Pool, order_number
from actors.rules import bundles as bundle_rules
from actors.rules import inventory as stock_rules
from actors.rules.orders import Hold, Import, Skip, decide
from connectors.base import RemoteWrite
from connectors.errors import RecordError
from connectors.model import (
    Canonical,
    InventoryLevel,
    InventoryPush,
    Item,
    Order,
    OrderCancel,
    Shipment,
    ShipmentsAcknowledged,
    StockTarget,
    TrackingPush,
)
from daemon.config import Channel, Config
from daemon.store import (
    HeldException,
    HubChanges,
    OrderEntry,
    QueuedWrite,
    Reservation,
    StateStore,
    StockRow,
    StoredRecord,
)
from metrics import Metrics

log = structlog.get_logger("shelfsync.hub")

BATCH = 200
"""Records decided per transaction: large enough to amortise the commit, small enough that a
sale's stock change reaches the stores without waiting behind a long backlog."""

RETRY_SECONDS = 5.0
"""Wait after a batch that failed to apply before the hub reloads and tries again."""

RELEASED_BY_RELOAD = frozenset(
    {"unmapped_ship_method", "inactive_ship_method", "unknown_sku", "no_fulfillment_provider"}
)
"""Hold reasons a configuration change can cure: those orders are decided again on reload.
An oversell waits for an operator, or for a new version of the order from its store."""


class Hub:
    def __init__(
        self,
        config: Config,
        *,
        store: StateStore,
        metrics: Metrics,
        now: Callable[[], datetime],
        notify: Callable[[str], None],
    ) -> None:
        """``notify(channel)`` tells a channel's actor that writes wait in its outbox."""
        self.config = config
        self._store = store
        self._metrics = metrics
        self._now = now
        self._notify = notify
        self._doorbell_send, self._doorbell = trio.open_memory_channel[None](1)
        self._pool: Pool | None = None
        self._recheck_holds = False
        self._reconcile_due = False
        self._draining = False
        self._shown: dict[str, set[str]] = {}
        """Per channel, SKUs to write to it again in this batch even if unchanged."""
        self._oversold: list[str] = []
        """The channel of each order this batch held as an oversell."""
        self.changed = trio.Event()
        """Set when a batch has been committed or the hub has gone idle (then replaced by a
        fresh event): lets a caller wait for the hub's next step without polling."""

    # -- what other tasks call ------------------------------------------------------------

    def ring(self) -> None:
        """Records were stored: process them soon. Never blocks; rings coalesce."""
        # Already rung: the hub looks at the whole inbox anyway.
        with contextlib.suppress(trio.WouldBlock):
            self._doorbell_send.send_nowait(None)

    def reconfigure(self, config: Config) -> None:
        """Use ``config`` from the next batch on, and decide again the orders it may release."""
        self.config = config
        self._recheck_holds = True
        self.ring()

    def request_reconcile(self) -> None:
        """Send every store its every target in the next batch, as the ``reconcile`` schedule
        does (a store that drifted is corrected), without waiting for the schedule."""
        self._reconcile_due = True
        self.ring()

    @property
    def busy(self) -> bool:
        """Whether records are being decided or the doorbell has rung since."""
        return self._draining or self._doorbell.statistics().current_buffer_used > 0

    @property
    def pool(self) -> Pool:
        if self._pool is None:
            raise RuntimeError("the hub has not started")
        return self._pool

    # -- the task -------------------------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Load the pool, then process records whenever rung, until cancelled."""
        self._pool = Pool(await self._store.hub_snapshot())
        self._publish_holds()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._keep_reconcile_schedule)
            task_status.started()
            while True:
                self._draining = True
                try:
                    await self._drain()
                except Exception:
                    # The store has none of the failed batch, the memory may have some of it:
                    # reload it from the store and try again, without stopping the channels.
                    log.exception("hub_batch_failed", retry_in=RETRY_SECONDS)
                    self._shown, self._oversold = {}, []
                    await trio.sleep(RETRY_SECONDS)
                    self._pool = Pool(await self._store.hub_snapshot())
                    continue
                self._draining = False
                self._changed()
                await self._doorbell.receive()

    async def _keep_reconcile_schedule(self) -> None:
        while True:
            await trio.sleep(self.config.inventory.reconcile.seconds)
            self.request_reconcile()

    async def _drain(self) -> None:
        if self._recheck_holds:
            self._recheck_holds = False
            changes, skus = self._release_holds()
            await self._commit(changes, [], skus)
        if self._reconcile_due:
            self._reconcile_due = False
            changes = HubChanges()
            self._queue_stock(changes, set(self.pool.stock), None, reconcile=True)
            await self._commit(changes, [])
        while records := await self._store.pending_records(BATCH):
            await self._commit(HubChanges(), records)

    async def _commit(
        self, changes: HubChanges, records: list[StoredRecord], forced: Iterable[str] = ()
    ) -> None:
        """Decide ``records`` and apply it all with ``changes`` in one transaction; the stock
        of ``forced`` SKUs is recomputed too."""
        meanings = [(record, self._interpret(changes, record)) for record in records]
        stock_reads = [
            record.updated_at
            for record, (_, values) in meanings
            if any(isinstance(value, InventoryLevel) for value in values)
        ]
        changed_skus = set(forced)
        if stock_reads:
            # A stock read that began after an order was created at the provider counts its
            # units: the reservation ends, or they would be subtracted twice. Only for SKUs
            # this batch read: another SKU's count is still from before the order.
            read = {
                value.sku
                for _, (_, values) in meanings
                for value in values
                if isinstance(value, InventoryLevel)
            }
            for origin, store_order_id, sku in await self._store.counted_reservations(
                min(stock_reads)
            ):
                if sku in read:
                    changed_skus |= self.pool.release(changes, origin, store_order_id, sku)
        for record, (channel, values) in meanings:
            changes.processed.append(record.id)
            if channel is not None:
                changed_skus |= self._take(changes, channel, values)
        changed_skus |= {r.sku for r in changes.reservations}
        changed_skus |= {sku for skus in self._shown.values() for sku in skus}
        arrived = min((r.received_at for r in records), default=None)
        self._queue_stock(changes, changed_skus, arrived)
        self._shown = {}
        oversold, self._oversold = self._oversold, []
        await self._store.apply_hub_changes(changes, self._now())
        for channel_name in oversold:
            self._metrics.oversells.labels(channel_name).inc()
        for record in records:
            self._metrics.records_synced.labels(record.channel, record.stream, "in").inc()
        self._publish_holds()
        for channel_name in dict.fromkeys(q.channel for q in changes.writes):
            self._notify(channel_name)
        self._changed()

    def _changed(self) -> None:
        self.changed.set()
        self.changed = trio.Event()

    # -- one record ---------------------------------------------------------------------------

    def _interpret(
        self, changes: HubChanges, record: StoredRecord
    ) -> tuple[Channel | None, list[Canonical]]:
        """The record's channel and meaning; a record of a removed channel means nothing, and
        one of unexpected shape is held as an exception (and means nothing)."""
        channel = self._channel(record.channel)
        if channel is None:
            log.info("record_of_removed_channel", channel=record.channel, record=record.id)
            return None, []
        try:
            return channel, channel.spec.interpret(
                channel.name, channel.settings, record.stream, record.body
            )
        except RecordError as exc:
            held = HeldException(
                channel.name, record.stream, exc.entity, exc.reason, str(exc), record.body
            )
            changes.exceptions.append(held)
            return channel, []
        except Exception as exc:  # a connector's bug must not stop every channel's records
            log.exception("interpret_failed", channel=channel.name, record=record.id)
            detail = f"{type(exc).__name__}: {exc}"
            held = HeldException(
                channel.name, record.stream, None, "interpret_failed", detail, record.body
            )
            changes.exceptions.append(held)
            return channel, []

    def _take(self, changes: HubChanges, channel: Channel, values: list[Canonical]) -> set[str]:
        """Act on one record's meaning; returns the SKUs whose stock it changed."""
        changed: set[str] = set()
        levels: list[InventoryLevel] = []
        for value in values:
            changed |= self._take_value(changes, channel, value, levels)
        if levels:
            changed |= self._take_levels(changes, levels)
        return changed

    def _take_value(
        self, changes: HubChanges, channel: Channel, value: Canonical, levels: list[InventoryLevel]
    ) -> set[str]:
        if isinstance(value, Item):
            self._take_item(changes, channel, value)
        elif isinstance(value, Order):
            return self._take_order(changes, channel, value)
        elif isinstance(value, Shipment):
            self._take_shipment(changes, value)
        else:
            levels.append(value)
        return set()

    def _take_item(self, changes: HubChanges, channel: Channel, item: Item) -> None:
        if not channel.config.auto_create_products or item.sku in self.pool.catalog:
            return
        if item.sku in self._bundles:
            return  # the warehouse ships its components: not a product of its own there
        provider = self._provider()
        if provider is None or "product.create" not in provider.spec.writes:
            return
        self.pool.add_to_catalog(changes, item.sku)
        self._queue(changes, provider, "product.create", f"product:{item.sku}", item)

    def _take_levels(self, changes: HubChanges, levels: list[InventoryLevel]) -> set[str]:
        rows = [StockRow(lv.sku, lv.location, lv.fulfillable, lv.exception) for lv in levels]
        self.pool.record_stock(changes, rows)
        for sku in {lv.sku for lv in levels}:
            self.pool.add_to_catalog(changes, sku)
        return {lv.sku for lv in levels}

    def _take_order(self, changes: HubChanges, channel: Channel, order: Order) -> set[str]:
        known = self.pool.order(order.origin, order.store_order_id)
        if known is not None and order.updated_at < known.updated_at:
            return set()  # an older version, read after a newer one: nothing new in it
        unchanged = known is not None and order.updated_at == known.updated_at
        if unchanged and known is not None and known.state in ("held", "skipped"):
            return set()  # read again unchanged: decided already (a reload re-decides holds)
        if known is not None and known.state in ("imported", "cancelled"):
            if known.state == "imported" and order.status == "cancelled":
                return self._cancel(changes, channel, order)
            return set()
        return self._decide(changes, channel, order)

    def _decide(self, changes: HubChanges, channel: Channel, order: Order) -> set[str]:
        provider = self._provider()
        twin = self._imported_through_another_route(channel, order)
        if twin is not None:
            detail = f"imported from channel {twin.channel} as {twin.store_order_id}"
            self._record(changes, channel, order, "skipped", "another_route", detail)
            return set()
        decision = decide(order, channel.import_policy, self._now())
        if isinstance(decision, Skip):
            self._record(changes, channel, order, "skipped", decision.reason, decision.detail)
            return self._shown_again(channel, order)
        if isinstance(decision, Hold):
            self._hold(changes, channel, order, decision.reason, decision.detail)
            return self._shown_again(channel, order)
        if provider is None:
            detail = "no fulfillment provider is configured (or enabled) to create it in"
            self._hold(changes, channel, order, "no_fulfillment_provider", detail)
            return self._shown_again(channel, order)
        return self._import(changes, channel, provider, order, decision)

    def _import(
        self,
        changes: HubChanges,
        channel: Channel,
        provider: Channel,
        order: Order,
        decision: Import,
    ) -> set[str]:
        # What the warehouse picks: a bundle's components, not the bundle.
        lines = bundle_rules.expand(order.lines, self._bundles)
        unknown = [line for line in lines if line.sku not in self.pool.catalog]
        if unknown and not channel.config.auto_create_products:
            skus = ", ".join(line.sku for line in unknown)
            self._hold(changes, channel, order, "unknown_sku", f"SKUs not at the provider: {skus}")
            return self._shown_again(channel, order)
        quantities: dict[str, int] = {}
        for line in lines:
            quantities[line.sku] = quantities.get(line.sku, 0) + line.quantity
        short = [
            sku
            for sku, units in quantities.items()
            if self.pool.knows_stock(sku) and self.pool.sellable(sku) < units
        ]
        if short:
            self._oversold.append(channel.name)  # counted once the batch is committed
            detail = "takes below zero: " + ", ".join(sorted(short))
            self._hold(changes, channel, order, "oversell", detail)
            return self._shown_again(channel, order)
        for line in unknown:
            if self.pool.add_to_catalog(changes, line.sku):
                item = Item(
                    channel=channel.name,
                    store_item_id=line.store_line_id or line.sku,
                    sku=line.sku,
                    name=line.name,
                )
                self._queue(changes, provider, "product.create", f"product:{line.sku}", item)
        key = f"order:{order.origin}:{order.store_order_id}"
        routed = msgspec.structs.replace(order, shipping_method=decision.ship_option, lines=lines)
        self._queue(changes, provider, "order.create", key, routed)
        self.pool.reserve(
            changes,
            [
                Reservation(order.origin, order.store_order_id, sku, n, provider.name, key)
                for sku, n in quantities.items()
            ],
        )
        self._record(changes, channel, order, "imported", None, None)
        return set(quantities)

    def _shown_again(self, channel: Channel, order: Order) -> set[str]:
        """The SKUs of an order the hub does not route, to be written to its store again even
        if unchanged: the store changed what it shows for them by itself (checkout took the
        units off), while the pool did not change."""
        skus = {line.sku for line in order.lines}
        self._shown.setdefault(channel.name, set()).update(skus)
        return skus

    def _cancel(self, changes: HubChanges, channel: Channel, order: Order) -> set[str]:
        provider = self._provider()
        if provider is None or "order.cancel" not in provider.spec.writes:
            return set()
        cancel = OrderCancel(origin=order.origin, store_order_id=order.store_order_id)
        key = f"cancel:{order.origin}:{order.store_order_id}"
        self._queue(changes, provider, "order.cancel", key, cancel)
        self._record(changes, channel, order, "cancelled", "cancelled in the store", None)
        return self.pool.release(changes, order.origin, order.store_order_id)

    def _take_shipment(self, changes: HubChanges, shipment: Shipment) -> None:
        if shipment.origin is None or shipment.store_order_id is None:
            return  # an order shelfsync did not create: not ours to report
        store = self._storefront(shipment.origin)
        if store is None or "fulfillment.create" not in store.spec.writes:
            log.warning("shipment_without_store", origin=shipment.origin)
            return
        push = TrackingPush(
            store_order_id=shipment.store_order_id, shipment=self._as_sold(shipment)
        )
        self._queue(changes, store, "fulfillment.create", f"shipment:{shipment.shipment_id}", push)
        provider = self._provider()
        if provider is not None and "tracking.uploaded" in provider.spec.writes:
            # The store write is durable in our outbox from here on, so the provider may stop
            # offering the shipment: our outbox, not its flag, guarantees the write happens.
            acknowledged = ShipmentsAcknowledged(shipment_ids=[shipment.shipment_id])
            key = f"tracking:{shipment.shipment_id}"
            self._queue(changes, provider, "tracking.uploaded", key, acknowledged)

    def _as_sold(self, shipment: Shipment) -> Shipment:
        """``shipment`` with the components of bundles the order sold named as those bundles,
        as the store's order lines are."""
        entry = self.pool.order(shipment.origin or "", shipment.store_order_id or "")
        if entry is None or not self._bundles:
            return shipment
        ordered = msgspec.json.decode(entry.body, type=Order).lines
        if not any(line.sku in self._bundles for line in ordered):
            return shipment
        lines = bundle_rules.contract(shipment.lines, ordered, self._bundles)
        return msgspec.structs.replace(shipment, lines=lines)

    # -- inventory ----------------------------------------------------------------------------

    def _queue_stock(
        self,
        changes: HubChanges,
        skus: set[str],
        arrived: datetime | None,
        *,
        reconcile: bool = False,
    ) -> None:
        """Queue, for every storefront, the changed quantities of ``skus`` (and the bundles made
        of them); ``arrived`` is when the earliest change behind them reached the daemon. A
        ``reconcile`` queues every target, changed or not, for the store to be compared with
        (see :class:`~connectors.model.InventoryPush`)."""
        if not skus:
            return
        quantities = self._sellable_quantities(skus)
        for channel in self.config.enabled_channels:
            if channel.spec.role != "storefront" or "inventory.set" not in channel.spec.writes:
                continue
            threshold = channel.config.safety_threshold
            targets = {sku: stock_rules.posted(n, threshold) for sku, n in quantities.items()}
            last = self.pool.pushed[channel.name]
            differing = dict(targets) if reconcile else stock_rules.changed(targets, last)
            shown = self._shown.get(channel.name, set())
            differing |= {sku: n for sku, n in targets.items() if sku in shown}
            review = channel.config.review_threshold or None
            for sku, target in list(differing.items()):
                if stock_rules.needs_review(last.get(sku), target, review):
                    del differing[sku]
                    changes.exceptions.append(
                        HeldException(
                            channel.name,
                            None,
                            sku,
                            "review_threshold",
                            f"{sku}: {last.get(sku)} → {target} moves more than {review} units",
                            msgspec.json.encode(StockTarget(sku, target)),
                        )
                    )
            if not differing:
                continue
            self.pool.record_pushed(changes, channel.name, differing)
            push = InventoryPush(
                targets=[StockTarget(s, n) for s, n in sorted(differing.items())],
                reconcile=reconcile,
            )
            key = f"stock:{uuid.uuid4()}"
            self._queue(changes, channel, "inventory.set", key, push, caused_at=arrived)

    def _sellable_quantities(self, skus: set[str]) -> dict[str, int]:
        """Sellable units of ``skus`` and of every bundle made of any of them."""
        quantities = {sku: self.pool.sellable(sku) for sku in skus if self.pool.knows_stock(sku)}
        for bundle in self.config.bundles:
            if bundle.sku in skus or skus & bundle.components.keys():
                counts = {c: self.pool.sellable(c) for c in bundle.components}
                quantities[bundle.sku] = stock_rules.bundle_quantity(bundle.parts, counts)
        return quantities

    # -- helpers ------------------------------------------------------------------------------

    def _imported_through_another_route(self, channel: Channel, order: Order) -> OrderEntry | None:
        """The same store order, already imported through a channel that relays this one's
        orders (or that this one relays), matched by order number."""
        partners = {c.name for c in self.config.enabled_channels if c.config.relays == channel.name}
        if channel.config.relays:
            partners.add(channel.config.relays)
        number = order_number(order.reference_id)
        for partner in sorted(partners):
            twin = self.pool.imported_numbers.get((partner, number))
            if twin is not None:
                return twin
        return None

    def _release_holds(self) -> tuple[HubChanges, set[str]]:
        """Decide again the held orders a new configuration may release; the changes, and the
        SKUs whose stock that moved."""
        changes = HubChanges()
        skus: set[str] = set()
        for entry in list(self.pool.orders.values()):
            if entry.state != "held" or entry.reason not in RELEASED_BY_RELOAD:
                continue
            channel = self._channel(entry.channel)
            if channel is not None:
                order = msgspec.json.decode(entry.body, type=Order)
                skus |= self._decide(changes, channel, order)
        return changes, skus

    def _hold(
        self, changes: HubChanges, channel: Channel, order: Order, reason: str, detail: str
    ) -> None:
        self._record(changes, channel, order, "held", reason, detail)
        changes.exceptions.append(
            HeldException(
                channel.name,
                "orders",
                order.store_order_id,
                reason,
                f"order {order.reference_id}: {detail}",
                msgspec.json.encode(order),
            )
        )

    def _record(
        self,
        changes: HubChanges,
        channel: Channel,
        order: Order,
        state: str,
        reason: str | None,
        detail: str | None,
    ) -> None:
        entry = OrderEntry(
            origin=order.origin,
            store_order_id=order.store_order_id,
            channel=channel.name,
            state=state,  # type: ignore[arg-type]
            reason=reason,
            detail=detail,
            body=msgspec.json.encode(order),
            updated_at=order.updated_at,
        )
        self.pool.record_order(changes, entry, order.reference_id)

    def _queue(
        self,
        changes: HubChanges,
        channel: Channel,
        kind: str,
        key: str,
        payload: object,
        *,
        caused_at: datetime | None = None,
    ) -> None:
        write = RemoteWrite(kind=kind, key=key, payload=msgspec.json.encode(payload))
        changes.writes.append(QueuedWrite(channel.name, write, caused_at))

    def _publish_holds(self) -> None:
        gauge = self._metrics.orders_held
        gauge.clear()
        for (channel, reason), count in self.pool.held().items():
            gauge.labels(channel, reason).set(count)

    @property
    def config(self) -> Config:
        return self._config

    @config.setter
    def config(self, config: Config) -> None:
        # Looked up for every record: indexed once per configuration.
        self._config = config
        enabled = config.enabled_channels
        self._by_name = {c.name: c for c in enabled}
        self._by_origin = {c.origin: c for c in enabled if c.origin is not None}
        self._fulfillment = next((c for c in enabled if c.spec.role == "fulfillment"), None)
        self._bundles = {bundle.sku: bundle.parts for bundle in config.bundles}

    def _channel(self, name: str) -> Channel | None:
        return self._by_name.get(name)

    def _provider(self) -> Channel | None:
        return self._fulfillment

    def _storefront(self, origin: str) -> Channel | None:
        return self._by_origin.get(origin)
