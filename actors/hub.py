"""The hub: turns what one channel read into work for the others.

Channel actors store every record they read in the inbox and ring the hub's doorbell. The hub
takes the waiting records in batches, asks each record's platform what it means
(``ConnectorSpec.interpret``), and applies the sync rules of DESIGN.md:

- a store's **product** unknown to the fulfillment provider is created there, and one it
  has is updated there when that store's item changed in what travels (``product.update``;
  both when the channel auto-creates products, see :mod:`actors.rules.catalog`);
- the provider's **products** tell which SKUs it has, and which of them are bundles it
  declares; those count as bundles beside ``[[bundles]]`` (a configured one of the same SKU
  wins), and a change of definition recomputes the bundle's stock;
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
writes the same absolute quantities again, which changes nothing. A channel whose outbox still
holds a stock write no attempt has begun (it is paused, or slow) gathers no second one: new
targets are folded into that write (:func:`actors.rules.inventory.folded`), in the same
transaction and only if it is still not begun then, else queued after it; a write begun is
never changed, so what a retry sends under its key is what the first attempt sent. After the
transaction the hub tells each channel with new writes to drain its outbox.
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
from actors.rules import catalog as catalog_rules
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
from connectors.reasons import ExceptionReason
from daemon.config import Channel, Config
from daemon.store import (
    AuditNote,
    ExceptionEntry,
    HeldException,
    HubChanges,
    OrderEntry,
    PendingWrite,
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

AUDITED_TARGETS = 10
"""Stock targets named in a write's audit summary; the rest are counted."""

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
        self._replays: list[_Replay] = []
        self.changed = trio.Event()
        """Set when a batch has been committed or the hub has gone idle (then replaced by a
        fresh event): lets a caller wait for the hub's next step without polling."""

    # -- what other tasks call ------------------------------------------------------------

    def ring(self) -> None:
        """Records were stored: process them soon. Never blocks; rings coalesce."""
        # Busy from now on: a hub waiting at the doorbell takes the ring straight from the
        # sender, so the buffer never shows it, and a caller waiting for the hub to settle
        # would otherwise see it idle before it has started.
        self._draining = True
        # Already rung: the hub looks at the whole inbox anyway.
        with contextlib.suppress(trio.WouldBlock):
            self._doorbell_send.send_nowait(None)

    def reconfigure(self, config: Config) -> None:
        """Use ``config`` from the next batch on, and decide again the orders it may release."""
        self.config = config
        self._recheck_holds = True
        self.ring()

    async def replay(self, entries: list[ExceptionEntry]) -> list[str]:
        """Replay exceptions of the hub's kinds (``order``, ``sku``, ``stock``, ``record``) in
        its next batch, all in one transaction, with the current configuration; one line per
        entry saying what happened. Raises :class:`ReplayFailed` if the batch could not be applied
        (then nothing of it was).

        - a held order is decided again: imported, or held again (the same exception counts
          one more attempt), or held for another reason; an ``oversell`` is imported as an
          operator's override of the pool;
        - a stock move held for review is written: the SKU's current target goes to the store;
        - a stock write that failed is written again with its SKUs' current targets (not the
          quantities it held, which newer writes may have overtaken);
        - a record that could not be interpreted is interpreted again and acted on (stock
          levels in it are not taken: the stream's next read brings current ones).
        """
        request = _Replay(entries)
        self._replays.append(request)
        self.ring()
        await request.done.wait()
        if request.outcomes is None:
            raise ReplayFailed("the hub could not apply the replay (see its log); nothing changed")
        return request.outcomes

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
        if self._replays:
            replays, self._replays = self._replays, []
            try:
                await self._replay(replays)
            finally:
                for request in replays:
                    request.done.set()
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
        # A store whose records are in this batch may have moved its own stock (checkout
        # takes units off, the merchant edits an item): its writes read what it shows first.
        self._queue_stock(changes, changed_skus, arrived, read_first={r.channel for r in records})
        await self._fold_stock_writes(changes)
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

    # -- replays -----------------------------------------------------------------------------

    async def _replay(self, replays: list[_Replay]) -> None:
        changes = HubChanges()
        skus: set[str] = set()
        outcomes: list[list[str]] = []
        for request in replays:
            lines = []
            for entry in request.entries:
                line, touched = self._replay_one(changes, entry)
                lines.append(line)
                skus |= touched
                note = AuditNote(
                    entry.channel, "exception.replayed", entry.entity, entry.summary, line
                )
                changes.audit.append(note)
            outcomes.append(lines)
        await self._commit(changes, [], skus)
        for request, lines in zip(replays, outcomes, strict=True):
            request.outcomes = lines

    def _replay_one(self, changes: HubChanges, entry: ExceptionEntry) -> tuple[str, set[str]]:
        channel = self._channel(entry.channel)
        if channel is None:
            return f"channel {entry.channel} is not enabled: not replayed", set()
        if entry.kind == "order":
            return self._replay_order(changes, channel, entry)
        if entry.kind == "sku":
            return self._replay_stock(changes, channel, entry), set()
        if entry.kind == "stock":
            return self._replay_stock_write(changes, channel, entry), set()
        if entry.kind == "record":
            return self._replay_record(changes, channel, entry)
        raise ValueError(f"the hub does not replay {entry.kind} exceptions")

    def _replay_order(
        self, changes: HubChanges, channel: Channel, entry: ExceptionEntry
    ) -> tuple[str, set[str]]:
        held = msgspec.json.decode(entry.payload or b"", type=Order)
        known = self.pool.order(held.origin, held.store_order_id)
        if known is None or known.state != "held":
            changes.resolved.append((entry.id, "replayed"))
            return f"already {known.state if known else 'forgotten'}: nothing to do", set()
        order = msgspec.json.decode(known.body, type=Order)
        approved = entry.reason == "oversell"
        skus = self._decide(changes, channel, order, oversell_approved=approved)
        now = self.pool.order(order.origin, order.store_order_id)
        assert now is not None
        if now.state == "held" and now.reason == entry.reason:
            return f"held again: {now.reason} ({now.detail})", skus
        changes.resolved.append((entry.id, "replayed"))
        if now.state != "imported":
            return f"{now.state}: {now.reason} ({now.detail})", skus
        return (
            "imported as an operator's override of the oversell" if approved else "imported"
        ), skus

    def _replay_stock(self, changes: HubChanges, channel: Channel, entry: ExceptionEntry) -> str:
        sku = entry.entity or ""
        quantities = self._sellable_quantities({sku})
        if sku not in quantities:
            return f"{sku}: no stock known for it: not replayed"
        target = stock_rules.posted(quantities[sku], channel.config.safety_threshold)
        changes.resolved.append((entry.id, "replayed"))
        self._push_stock(
            changes, channel, {sku: target}, reconcile=False, arrived=None, read_first=True
        )
        return f"{sku}: {target} queued to {channel.name}, approved past the review threshold"

    def _replay_stock_write(
        self, changes: HubChanges, channel: Channel, entry: ExceptionEntry
    ) -> str:
        failed = msgspec.json.decode(entry.payload or b"", type=InventoryPush)
        quantities = self._sellable_quantities({target.sku for target in failed.targets})
        if not quantities:
            return "no stock known for its SKUs: not replayed"
        threshold = channel.config.safety_threshold
        posted = {sku: stock_rules.posted(n, threshold) for sku, n in quantities.items()}
        # Not an approval: a move past the review threshold is held for review as ever.
        targets = self._reviewed(changes, channel, posted)
        changes.resolved.append((entry.id, "replayed"))
        if targets:
            self._push_stock(
                changes, channel, targets, reconcile=False, arrived=None, read_first=True
            )
        reviewed = len(posted) - len(targets)
        return f"{len(targets)} SKUs queued to {channel.name} at their current quantities" + (
            f", {reviewed} held for review" if reviewed else ""
        )

    def _replay_record(
        self, changes: HubChanges, channel: Channel, entry: ExceptionEntry
    ) -> tuple[str, set[str]]:
        if entry.stream is None or entry.payload is None:
            return "no stored record to interpret again", set()
        now = self._now()
        record = StoredRecord(0, channel.name, entry.stream, entry.payload, now, now)
        seen = len(changes.exceptions)
        _, values = self._interpret(changes, record)
        same = (entry.stream, entry.entity, entry.reason)
        again = [h for h in changes.exceptions[seen:] if (h.stream, h.entity, h.reason) == same]
        if again:
            return f"failed again: {again[0].detail}", set()
        changes.resolved.append((entry.id, "replayed"))
        taken: list[Canonical] = [v for v in values if not isinstance(v, InventoryLevel)]
        return f"interpreted again: {len(taken)} taken", self._take(changes, channel, taken)

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
                channel.name, record.stream, exc.entity, exc.reason, str(exc), record.body, "record"
            )
            changes.exceptions.append(held)
            return channel, []
        except Exception as exc:  # a connector's bug must not stop every channel's records
            log.exception("interpret_failed", channel=channel.name, record=record.id)
            detail = f"{type(exc).__name__}: {exc}"
            held = HeldException(
                channel.name, record.stream, None, "interpret_failed", detail, record.body, "record"
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
            return self._take_item(changes, channel, value)
        if isinstance(value, Order):
            return self._take_order(changes, channel, value)
        if isinstance(value, Shipment):
            self._take_shipment(changes, value)
        else:
            levels.append(value)
        return set()

    def _take_item(self, changes: HubChanges, channel: Channel, item: Item) -> set[str]:
        """Act on a channel's item; returns the SKUs whose stock it changed (a bundle the
        provider redefined, and its components)."""
        if channel.spec.role == "fulfillment":
            return self._take_provider_item(changes, item)
        if not channel.config.auto_create_products or self._is_bundle(item.sku):
            return set()  # a bundle: the warehouse ships its components, not a product of its own
        provider = self._provider()
        if provider is None:
            return set()
        digest = catalog_rules.digest(item)
        if item.sku not in self.pool.catalog:
            if "product.create" in provider.spec.writes:
                self.pool.add_to_catalog(changes, item.sku)
                self.pool.note_item(changes, channel.name, item.sku, digest)
                self._queue_product(changes, provider, item)
            return set()
        # First sight of a SKU the provider has only notes it: else a first start would
        # rewrite every product there.
        changed = self.pool.note_item(changes, channel.name, item.sku, digest)
        if changed is not None and "product.update" in provider.spec.writes:
            # The revision makes a return to an earlier state a write of its own.
            key = f"product-update:{item.sku}:{digest}:{changed.revision}"
            summary = f"product {item.sku} ({item.name}): changed in {channel.name}"
            self._queue(
                changes, provider, "product.update", key, item, entity=item.sku, summary=summary
            )
        return set()

    def _take_provider_item(self, changes: HubChanges, item: Item) -> set[str]:
        self.pool.add_to_catalog(changes, item.sku)
        if not self.pool.record_bundle(changes, item.sku, item.components):
            return set()
        return {item.sku, *(part.sku for part in item.components)}

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

    def _decide(
        self,
        changes: HubChanges,
        channel: Channel,
        order: Order,
        *,
        oversell_approved: bool = False,
    ) -> set[str]:
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
        return self._import(changes, channel, provider, order, decision, oversell_approved)

    def _import(
        self,
        changes: HubChanges,
        channel: Channel,
        provider: Channel,
        order: Order,
        decision: Import,
        oversell_approved: bool,
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
            if not oversell_approved
            and self.pool.knows_stock(sku)
            and self.pool.sellable(sku) < units
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
                self._queue_product(changes, provider, item)
        key = f"order:{order.origin}:{order.store_order_id}"
        routed = msgspec.structs.replace(order, shipping_method=decision.ship_option, lines=lines)
        summary = (
            f"order {order.reference_id}: {len(lines)} lines, ship option {decision.ship_option}"
        )
        self._queue(
            changes,
            provider,
            "order.create",
            key,
            routed,
            entity=order.store_order_id,
            summary=summary,
        )
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
        summary = f"cancel order {order.reference_id}"
        self._queue(
            changes,
            provider,
            "order.cancel",
            key,
            cancel,
            entity=order.store_order_id,
            summary=summary,
        )
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
        self._queue(
            changes,
            store,
            "fulfillment.create",
            f"shipment:{shipment.shipment_id}",
            push,
            entity=shipment.store_order_id,
            summary=f"shipment {shipment.shipment_id} of order {shipment.store_order_id},"
            f" {shipment.carrier or 'no carrier'} {shipment.tracking_number or 'no tracking'}",
        )
        provider = self._provider()
        if provider is not None and "tracking.uploaded" in provider.spec.writes:
            # The store write is durable in our outbox from here on, so the provider may stop
            # offering the shipment: our outbox, not its flag, guarantees the write happens.
            acknowledged = ShipmentsAcknowledged(shipment_ids=[shipment.shipment_id])
            key = f"tracking:{shipment.shipment_id}"
            self._queue(
                changes,
                provider,
                "tracking.uploaded",
                key,
                acknowledged,
                entity=shipment.shipment_id,
                summary=f"shipment {shipment.shipment_id} tracking written to its store",
            )

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
        read_first: Iterable[str] = (),
    ) -> None:
        """Queue, for every storefront, the changed quantities of ``skus`` (and the bundles made
        of them); ``arrived`` is when the earliest change behind them reached the daemon. A
        ``reconcile`` queues every target, changed or not, for the store to be compared with;
        the writes to the channels named in ``read_first`` read the store first (see
        :class:`~connectors.model.InventoryPush`)."""
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
            differing = self._reviewed(changes, channel, differing)
            if differing:
                first = channel.name in read_first
                self._push_stock(changes, channel, differing, reconcile, arrived, read_first=first)

    def _reviewed(
        self, changes: HubChanges, channel: Channel, targets: dict[str, int]
    ) -> dict[str, int]:
        """``targets`` but those that move the store more than its review threshold from what
        it was last told: those are held for review instead."""
        last = self.pool.pushed[channel.name]
        review = channel.config.review_threshold or None
        kept = {}
        for sku, target in targets.items():
            if not stock_rules.needs_review(last.get(sku), target, review):
                kept[sku] = target
                continue
            changes.exceptions.append(
                HeldException(
                    channel.name,
                    None,
                    sku,
                    "review_threshold",
                    f"{sku}: {last.get(sku)} → {target} moves more than {review} units",
                    msgspec.json.encode(StockTarget(sku, target)),
                    "sku",
                )
            )
        return kept

    def _push_stock(
        self,
        changes: HubChanges,
        channel: Channel,
        targets: dict[str, int],
        reconcile: bool,
        arrived: datetime | None,
        *,
        read_first: bool,
    ) -> None:
        """Queue ``targets`` (SKU → quantity) to ``channel`` and remember them as pushed."""
        self.pool.record_pushed(changes, channel.name, targets)
        push = InventoryPush(
            targets=[StockTarget(s, n) for s, n in sorted(targets.items())],
            reconcile=reconcile,
            read_first=read_first,
        )
        self._queue(
            changes,
            channel,
            "inventory.set",
            f"stock:{uuid.uuid4()}",
            push,
            entity=_stock_entity(push),
            summary=_stock_summary(push),
            caused_at=arrived,
        )

    async def _fold_stock_writes(self, changes: HubChanges) -> None:
        """Make the stock writes queued in ``changes`` one per channel, and that one take the
        place of its channel's stock write not yet begun, if there is one, holding them all
        (see the module docstring)."""
        merged: dict[str, int] = {}
        """Channel → the index in ``changes.writes`` of its one stock write of this batch."""
        writes: list[QueuedWrite] = []
        for queued in changes.writes:
            if queued.write.kind != "inventory.set":
                writes.append(queued)
            elif queued.channel in merged:
                first = merged[queued.channel]
                writes[first] = _folded_write(writes[first], queued, replaces=None)
            else:
                merged[queued.channel] = len(writes)
                writes.append(queued)
        for channel, n in merged.items():
            waiting = await self._store.unsent_write(channel, "inventory.set")
            if waiting is not None:
                writes[n] = _folded_write(waiting, writes[n], replaces=waiting.id)
        changes.writes = writes

    def _sellable_quantities(self, skus: set[str]) -> dict[str, int]:
        """Sellable units of ``skus`` and of every bundle made of any of them."""
        quantities = {sku: self.pool.sellable(sku) for sku in skus if self.pool.knows_stock(sku)}
        for bundle, parts in self._bundles.items():
            if bundle in skus or any(part.sku in skus for part in parts):
                counts = {part.sku: self.pool.sellable(part.sku) for part in parts}
                quantities[bundle] = stock_rules.bundle_quantity(parts, counts)
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
        self,
        changes: HubChanges,
        channel: Channel,
        order: Order,
        reason: ExceptionReason,
        detail: str,
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
                "order",
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
        entity: str | None,
        summary: str,
        caused_at: datetime | None = None,
    ) -> None:
        write = RemoteWrite(kind=kind, key=key, payload=msgspec.json.encode(payload))
        changes.writes.append(QueuedWrite(channel.name, write, caused_at, entity, summary))

    def _queue_product(self, changes: HubChanges, provider: Channel, item: Item) -> None:
        key = f"product:{item.sku}"
        summary = f"product {item.sku} ({item.name})"
        self._queue(
            changes, provider, "product.create", key, item, entity=item.sku, summary=summary
        )

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
        self._configured_bundles = {bundle.sku: bundle.parts for bundle in config.bundles}

    @property
    def _bundles(self) -> bundle_rules.Bundles:
        """Every bundle: configured and declared by the provider (the configured one wins)."""
        return bundle_rules.merged(self._configured_bundles, self.pool.provider_bundles)

    def _is_bundle(self, sku: str) -> bool:
        return sku in self._configured_bundles or sku in self.pool.provider_bundles

    def _channel(self, name: str) -> Channel | None:
        return self._by_name.get(name)

    def _provider(self) -> Channel | None:
        return self._fulfillment

    def _storefront(self, origin: str) -> Channel | None:
        return self._by_origin.get(origin)


class ReplayFailed(Exception):
    """The hub could not apply a replay's batch; nothing of it happened."""


class _Replay:
    def __init__(self, entries: list[ExceptionEntry]) -> None:
        self.entries = entries
        self.done = trio.Event()
        self.outcomes: list[str] | None = None


def _stock_entity(push: InventoryPush) -> str | None:
    """What a stock write is about, for the audit log: its SKU when it has one."""
    return push.targets[0].sku if len(push.targets) == 1 else None


def _stock_summary(push: InventoryPush) -> str:
    """A stock write in a line of the audit log: its first targets, and how many more."""
    shown = ", ".join(f"{t.sku}={t.quantity}" for t in push.targets[:AUDITED_TARGETS])
    more = len(push.targets) - AUDITED_TARGETS
    return (
        ("reconcile " if push.reconcile else "") + shown + (f" and {more} more" if more > 0 else "")
    )


def _folded_write(
    earlier: QueuedWrite | PendingWrite, newer: QueuedWrite, *, replaces: int | None
) -> QueuedWrite:
    """``newer`` holding ``earlier``'s targets too (the newer target wins), caused when the
    earlier of the two was; ``replaces`` is the outbox entry it is to take the place of."""
    push = stock_rules.folded(
        msgspec.json.decode(earlier.write.payload, type=InventoryPush),
        msgspec.json.decode(newer.write.payload, type=InventoryPush),
    )
    causes = [t for t in (earlier.caused_at, newer.caused_at) if t is not None]
    return msgspec.structs.replace(
        newer,
        write=msgspec.structs.replace(newer.write, payload=msgspec.json.encode(push)),
        caused_at=min(causes, default=None),
        entity=_stock_entity(push),
        summary=_stock_summary(push),
        replaces=replaces,
    )
