"""The durable state of the daemon, behind one interface that SQLite (and later PostgreSQL) satisfy.

Every method is one transaction: it either happens completely or not at all, and it has
happened durably when it returns. Methods never block the Trio thread.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Protocol

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
