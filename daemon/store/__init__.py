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


class StreamState(msgspec.Struct, frozen=True):
    stream: str
    cursor: datetime | None
    last_success_at: datetime | None


class InboxItem(msgspec.Struct, frozen=True):
    id: int
    stream: str | None
    topic: str
    body: bytes


class PendingWrite(msgspec.Struct, frozen=True):
    id: int
    write: RemoteWrite
    attempts: int
    caused_at: datetime | None = None


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


class QueuedWrite(msgspec.Struct, frozen=True):
    channel: str
    write: RemoteWrite
    caused_at: datetime | None = None
    """When the change that asked for this write reached the daemon (for the propagation
    histogram); None when no such moment is measured."""


class HeldException(msgspec.Struct, frozen=True):
    channel: str
    stream: str | None
    entity: str | None
    reason: str
    detail: str
    payload: bytes | None


class HubSnapshot(msgspec.Struct, frozen=True):
    """Everything the hub keeps, as stored: loaded once when the hub starts."""

    orders: list[OrderEntry]
    stock: list[StockRow]
    reservations: list[Reservation]
    pushed: list[PushedRow]
    catalog: list[str]


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
    writes: list[QueuedWrite] = msgspec.field(default_factory=list)
    exceptions: list[HeldException] = msgspec.field(default_factory=list)


class StoreError(Exception):
    """The state database cannot be opened or used; an operator must act."""


class StateStore(Protocol):
    async def stream_states(self, channel: str) -> dict[str, StreamState]: ...

    async def commit_page(
        self,
        channel: str,
        stream: str,
        records: list[Record],
        cursor: datetime | None,
        at: datetime,
    ) -> None:
        """Record a page of polled records and advance the stream's cursor, atomically."""

    async def record_success(self, channel: str, stream: str, at: datetime) -> None: ...

    async def is_paused(self, channel: str) -> bool: ...

    async def set_paused(self, channel: str, paused: bool) -> None: ...

    async def accept_webhook(self, channel: str, event: WebhookEvent, at: datetime) -> int | None:
        """Persist a verified webhook in the inbox; None if its id was seen before."""

    async def pending_webhooks(self, channel: str) -> list[InboxItem]: ...

    async def mark_processed(self, ids: list[int], at: datetime) -> None: ...

    async def enqueue_write(self, channel: str, write: RemoteWrite, at: datetime) -> int:
        """Queue a remote write; an already queued key returns the existing entry's id."""

    async def pending_writes(
        self, channel: str, limit: int, *, after_id: int = 0
    ) -> list[PendingWrite]:
        """Writes not yet done, oldest first, with ids above ``after_id``."""

    async def begin_write(self, channel: str, pending: PendingWrite, at: datetime) -> None:
        """Count an attempt and audit that the write is about to happen."""

    async def finish_write(
        self, channel: str, pending: PendingWrite, result: WriteResult, at: datetime
    ) -> None:
        """Mark a write done and audit its result, atomically."""

    async def fail_write(
        self, channel: str, pending: PendingWrite, reason: str, at: datetime
    ) -> None:
        """Take a write the platform refused out of the outbox and audit why, atomically."""

    async def record_exception(
        self,
        channel: str,
        *,
        stream: str | None,
        entity: str | None,
        reason: str,
        detail: str,
        payload: bytes | None,
        at: datetime,
    ) -> None: ...

    async def open_exceptions(self) -> dict[str, int]:
        """Open exception count per channel (channels without any are absent)."""

    async def open_write_exceptions(self) -> list[HeldException]:
        """The open exceptions of writes (they belong to no stream), oldest first: the
        writes a platform refused and the ones that ran out of retries, with their payload."""

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
