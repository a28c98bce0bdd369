"""The durable state of the daemon, behind one interface that SQLite (and later PostgreSQL) satisfy.

Every method is one transaction: it either happens completely or not at all, and it has
happened durably when it returns. Methods never block the Trio thread.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Literal, Protocol

import msgspec

from connectors.base import Record, RemoteWrite, WebhookEvent, WriteResult
from connectors.model import BundleComponent
from connectors.reasons import ExceptionKind, ExceptionReason


class StreamState(msgspec.Struct, frozen=True):
    stream: str
    cursor: datetime | None
    last_success_at: datetime | None


class InboxItem(msgspec.Struct, frozen=True):
    """A webhook waiting in the inbox for its streams to be read."""

    id: int
    streams: tuple[str, ...]
    entity: str | None = None
    """The record it names (:attr:`connectors.base.WebhookEvent.entity`), if any."""


class ChannelStart(msgspec.Struct, frozen=True):
    """What a channel's actor starts from: its streams' states, whether an operator paused
    it, and the webhooks it has still to act on."""

    streams: dict[str, StreamState]
    paused: bool
    webhooks: list[InboxItem]


class PendingWrite(msgspec.Struct, frozen=True):
    id: int
    write: RemoteWrite
    attempts: int
    caused_at: datetime | None = None
    entity: str | None = None
    """What the write is about (an order, a shipment, a SKU), for the audit log."""
    summary: str = ""
    """A short description of the request, for the audit log."""


class StoredRecord(msgspec.Struct, frozen=True):
    """A polled record waiting in the inbox for the hub."""

    id: int
    channel: str
    stream: str
    body: bytes
    updated_at: datetime
    """Its replication value: for a snapshot stream (stock), when it was read."""
    received_at: datetime
    """When the daemon stored it."""


OrderState = Literal["imported", "held", "skipped", "cancelled"]


class OrderEntry(msgspec.Struct, frozen=True):
    """The hub's decision about one store order."""

    origin: str
    store_order_id: str
    channel: str
    state: OrderState
    reason: str | None
    detail: str | None
    body: bytes
    """The canonical order the decision was made on (JSON)."""
    updated_at: datetime


class StockRow(msgspec.Struct, frozen=True):
    sku: str
    location: str
    fulfillable: int
    exception: int


class Reservation(msgspec.Struct, frozen=True):
    origin: str
    store_order_id: str
    sku: str
    quantity: int
    write_channel: str
    write_key: str
    """The outbox entry creating the fulfillment order: once it is done and the provider's
    stock has been read after it, the provider counts the units and the reservation ends."""


class PushedRow(msgspec.Struct, frozen=True):
    channel: str
    sku: str
    quantity: int


class ProductDigest(msgspec.Struct, frozen=True):
    """What the hub last saw of a store's item: a digest of the fields that travel to the
    fulfillment provider, and how many times that channel's item has changed since first seen."""

    channel: str
    sku: str
    digest: str
    revision: int


class ProviderBundle(msgspec.Struct, frozen=True):
    """A bundle the fulfillment provider declares: its SKU and components."""

    sku: str
    components: list[BundleComponent]
    """None any more (empty): the SKU is no bundle."""


class QueuedWrite(msgspec.Struct, frozen=True):
    channel: str
    write: RemoteWrite
    caused_at: datetime | None = None
    """When the change that asked for this write reached the daemon (for the propagation
    histogram); None when no such moment is measured."""
    entity: str | None = None
    summary: str = ""
    """See :class:`PendingWrite`."""
    replaces: int | None = None
    """The outbox id of a write not yet begun whose effect this one includes: that entry
    takes this payload and ``caused_at`` (keeping its key and its place) if it is still not
    begun when the changes are applied; otherwise this write is queued as an entry of its
    own."""


class HeldException(msgspec.Struct, frozen=True):
    channel: str
    stream: str | None
    entity: str | None
    reason: ExceptionReason
    detail: str
    payload: bytes | None
    kind: ExceptionKind


Resolution = Literal["replayed", "discarded", "resolved"]
"""How an exception closed: an operator's replay cured it, an operator discarded it, or what it
was about came right by itself (a reload released the order, the write or read succeeded, the
store's stock came back within the review threshold)."""


class ExceptionEntry(msgspec.Struct, frozen=True):
    """One row of the exception queue, as stored."""

    id: int
    channel: str
    kind: ExceptionKind
    stream: str | None
    entity: str | None
    reason: ExceptionReason
    detail: str
    payload: bytes | None
    attempts: int
    first_seen: datetime
    last_seen: datetime
    resolved_at: datetime | None
    resolution: Resolution | None

    @property
    def summary(self) -> str:
        """The exception in the audit log's words: ``exception 12: order oversell``."""
        return f"exception {self.id}: {self.kind} {self.reason}"


class ExceptionQuery(msgspec.Struct, frozen=True):
    channel: str | None = None
    reason: str | None = None
    include_resolved: bool = False
    limit: int = 1000
    after_id: int = 0
    """Only exceptions with a greater id: the next page after the one that ended there."""


class AuditEntry(msgspec.Struct, frozen=True):
    """One row of the audit log: a remote write before or after it happened, a hold, an
    operator's replay or discard."""

    id: int
    at: datetime
    channel: str
    action: str
    """``write.started``, ``write.done``, ``write.failed``, ``hold``, ``exception.replayed``,
    ``exception.discarded``."""
    entity: str | None
    idempotency_key: str | None
    summary: str
    result: str | None
    remote_id: str | None


class AuditQuery(msgspec.Struct, frozen=True):
    channel: str | None = None
    entity: str | None = None
    """An entity id, or a write's idempotency key (or its last ``:``-separated part)."""
    since: datetime | None = None
    limit: int = 1000
    """The newest ``limit`` entries matching, printed oldest first."""


class AuditNote(msgspec.Struct, frozen=True):
    """An audit entry the hub adds to its batch's transaction."""

    channel: str
    action: str
    entity: str | None
    summary: str
    result: str | None = None


class HubSnapshot(msgspec.Struct, frozen=True):
    """Everything the hub keeps, as stored: loaded once when the hub starts."""

    orders: list[OrderEntry]
    stock: list[StockRow]
    reservations: list[Reservation]
    pushed: list[PushedRow]
    catalog: list[str]
    digests: list[ProductDigest] = msgspec.field(default_factory=list)
    bundles: list[ProviderBundle] = msgspec.field(default_factory=list)


class HubChanges(msgspec.Struct):
    """What the hub decided for a batch of records, applied in one transaction with marking
    the records processed: either all of it happened, or none of it and the records are
    read again."""

    processed: list[int] = msgspec.field(default_factory=list)
    orders: list[OrderEntry] = msgspec.field(default_factory=list)
    reservations: list[Reservation] = msgspec.field(default_factory=list)
    released: list[tuple[str, str, str | None]] = msgspec.field(default_factory=list)
    """``(origin, store_order_id, sku)`` whose reservations end (every SKU's if None)."""
    stock: list[StockRow] = msgspec.field(default_factory=list)
    pushed: list[PushedRow] = msgspec.field(default_factory=list)
    catalog: list[str] = msgspec.field(default_factory=list)
    digests: list[ProductDigest] = msgspec.field(default_factory=list)
    bundles: list[ProviderBundle] = msgspec.field(default_factory=list)
    """Provider bundles declared, changed, or (no components) no bundle any more."""
    writes: list[QueuedWrite] = msgspec.field(default_factory=list)
    exceptions: list[HeldException] = msgspec.field(default_factory=list)
    resolved: list[tuple[int, Resolution]] = msgspec.field(default_factory=list)
    """Exceptions (by id) this batch closed, and how; applied before ``exceptions`` are
    recorded, so a failure seen again after being resolved opens a new one."""
    audit: list[AuditNote] = msgspec.field(default_factory=list)


class StoreError(Exception):
    """The state database cannot be opened or used; an operator must act."""


class StateStore(Protocol):
    async def stream_states(self, channel: str) -> dict[str, StreamState]: ...

    async def channel_starts(self, channels: list[str]) -> dict[str, ChannelStart]:
        """Every one of ``channels``'s :class:`ChannelStart`, read at once (one transaction
        for any number of channels: a daemon of many channels starts without a round trip
        per channel)."""

    async def commit_page(
        self,
        channel: str,
        stream: str,
        records: list[Record],
        cursor: datetime | None,
        at: datetime,
        *,
        changed_only: bool = True,
    ) -> int:
        """Record a page of polled records and advance the stream's cursor, atomically; how
        many records were stored. With ``changed_only``, a record just as its newest stored
        version (the same key and body: read again unchanged, as the overlap window does) is
        not stored again, so the hub is not asked to act on what it has acted on. A snapshot
        stream's records are stored every time: a stock read is news even unchanged, since
        its time is what ends the reservations of orders the provider has counted since."""

    async def commit_fetched(
        self, channel: str, stream: str, records: list[Record], at: datetime
    ) -> int:
        """Record fetched records (named by an operator or a webhook) as polled ones, the
        cursor staying where it is; how many were stored: all of them, even those unchanged,
        since an operator who names an order asks for it to be decided again (after a
        configuration change, say)."""

    async def record_success(self, channel: str, stream: str, at: datetime) -> None:
        """Record a clean run of ``stream``; an open exception of its reads is resolved."""

    async def set_paused(self, channel: str, paused: bool) -> None: ...

    async def accept_webhook(self, channel: str, event: WebhookEvent, at: datetime) -> int | None:
        """Persist a verified webhook in the inbox; None if its id was seen before. One that
        names no stream (``event.streams`` empty) is stored already processed."""

    async def pending_webhooks(self, channel: str) -> list[InboxItem]: ...

    async def mark_processed(self, ids: list[int], at: datetime) -> None: ...

    async def enqueue_write(self, channel: str, write: RemoteWrite, at: datetime) -> int:
        """Queue a remote write; an already queued key returns the existing entry's id."""

    async def pending_writes(
        self, channel: str, limit: int, *, after_id: int = 0
    ) -> list[PendingWrite]:
        """Writes not yet done, oldest first, with ids above ``after_id``."""

    async def begin_write(self, channel: str, pending: PendingWrite, at: datetime) -> RemoteWrite:
        """Count an attempt, audit that the write is about to happen, and return it as stored
        now: the write to perform (the hub may have folded newer targets into an entry not
        yet begun, never into one begun)."""

    async def unsent_write(self, channel: str, kind: str) -> PendingWrite | None:
        """The channel's newest write of ``kind`` not yet done, if no attempt has begun on it
        (see :attr:`QueuedWrite.replaces`)."""

    async def finish_write(
        self, channel: str, pending: PendingWrite, result: WriteResult, at: datetime
    ) -> None:
        """Mark a write done and audit its result, atomically; an open exception of the
        write (it failed before) is resolved."""

    async def fail_write(
        self, channel: str, pending: PendingWrite, reason: str, at: datetime
    ) -> None:
        """Take a write the platform refused out of the outbox and audit why, atomically."""

    async def record_exception(self, held: HeldException, at: datetime) -> None:
        """Open an exception, or count one more attempt of the same open one (same channel,
        kind, stream, entity and reason); a new hold of an order or a stock move is audited."""

    async def open_exceptions(self) -> dict[tuple[str, str], int]:
        """Open exception count per ``(channel, reason)`` (pairs without any are absent)."""

    async def exceptions(self, query: ExceptionQuery) -> list[ExceptionEntry]:
        """Exceptions matching ``query``, oldest first."""

    async def exception(self, exception_id: int) -> ExceptionEntry | None: ...

    async def discard_exception(self, exception_id: int, at: datetime) -> ExceptionEntry | None:
        """Close an open exception as discarded and audit it; None if there is no such open
        one. What it was about is dropped: a write (or stock write) of it still waiting in the
        outbox for its next try is marked done unmade, and a refused one stays out."""

    async def requeue_write(self, exception_id: int, at: datetime) -> bool:
        """Put the write of an open write exception back in its outbox (same idempotency key,
        attempts counted from zero) and audit the replay; False if it is no open write
        exception or its write is not in the outbox. The exception stays open until the write
        is done (then it is resolved) or fails again (then it counts one more attempt)."""

    async def resolve_exception(
        self, exception_id: int, resolution: Resolution, note: AuditNote, at: datetime
    ) -> bool:
        """Close an open exception and audit ``note``; False if it was not open."""

    async def audit_entries(self, query: AuditQuery) -> list[AuditEntry]: ...

    async def prune_audit(self, before: datetime) -> int:
        """Delete audit entries older than ``before``; how many."""

    async def open_write_exceptions(self) -> list[HeldException]:
        """The open exceptions of writes, oldest first: the writes a platform refused and the
        ones that ran out of retries, with their payload."""

    async def open_stream_exceptions(self, stream: str) -> list[HeldException]:
        """The open exceptions of records of ``stream`` (an order held, a record that could
        not be read), oldest first."""

    async def pending_records(self, limit: int, *, after_id: int = 0) -> list[StoredRecord]:
        """Polled records the hub has not processed, oldest first, ids above ``after_id``."""

    async def hub_snapshot(self) -> HubSnapshot: ...

    async def apply_hub_changes(self, changes: HubChanges, at: datetime) -> None:
        """Apply ``changes`` and mark its records processed, atomically; queued writes whose
        key is already in their channel's outbox are not queued again, and the open hold of an
        order decided again and no longer held is resolved."""

    async def counted_reservations(self, read_before: datetime) -> list[tuple[str, str, str]]:
        """``(origin, store_order_id, sku)`` of reservations whose fulfillment order was
        created before ``read_before``: a stock read started then already counts their units."""

    async def aclose(self) -> None: ...


@asynccontextmanager
async def open_store(url: str, *, synchronous: str = "full") -> AsyncIterator[StateStore]:
    """Open the store named by ``url`` (``sqlite:///relative.db`` or ``sqlite:////abs.db``),
    migrating its schema to the current version; closed on exit.

    Raises :class:`StoreError` when the database cannot be opened or is newer than this build.
    """
    if not url.startswith("sqlite:///"):
        raise StoreError(f"unsupported state URL: {url}")
    from daemon.store.sqlite import SqliteStore

    store = await SqliteStore.open(url.removeprefix("sqlite:///"), synchronous=synchronous)
    try:
        yield store
    finally:
        await store.aclose()
