"""The SQLite state store: one WAL-mode connection, and transactions committed in groups.

SQLite allows one writer at a time, so a single connection is both the simplest and the
fastest arrangement. Each public method is one transaction (a function of the connection).
Transactions that arrive while a commit is under way wait, and the next caller runs them all
in one ``BEGIN … COMMIT``, each in a savepoint of its own, in one ``trio.to_thread.run_sync``
call (which keeps the event loop free while SQLite fsyncs): busy moments cost one fsync per
group rather than one per transaction, and each caller still gets its own result or its own
error, with nothing of a failed transaction applied.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Generic, TypeVar, cast

import msgspec
import trio

from connectors.base import Record, RemoteWrite, WebhookEvent, WriteResult
from connectors.model import BundleComponent
from daemon.store import (
    AuditEntry,
    AuditNote,
    AuditQuery,
    ChannelStart,
    ExceptionEntry,
    ExceptionQuery,
    HeldException,
    HubChanges,
    HubSnapshot,
    InboxItem,
    OrderEntry,
    PendingWrite,
    ProductDigest,
    ProviderBundle,
    PushedRow,
    QueuedWrite,
    Reservation,
    Resolution,
    StockRow,
    StoredRecord,
    StoreError,
    StreamState,
)
from daemon.store.schema import MIGRATIONS

_T = TypeVar("_T")


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat()


def _iso_or_none(at: datetime | None) -> str | None:
    return None if at is None else _iso(at)


def _parse(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


class _Transaction(Generic[_T]):
    """A transaction waiting for the group that commits it, and how it ended."""

    __slots__ = ("error", "ran", "result", "work")

    def __init__(self, work: Callable[[sqlite3.Connection], _T]) -> None:
        self.work = work
        self.ran = False
        """Whether its group has been committed (or failed): then ``result`` or ``error``
        holds what the caller gets."""
        self.result: _T | None = None
        self.error: BaseException | None = None

    def outcome(self) -> _T:
        if self.error is not None:
            raise self.error
        return cast(_T, self.result)


class SqliteStore:
    def __init__(self, connection: sqlite3.Connection) -> None:
        self._db = connection
        self._waiting: list[_Transaction[Any]] = []
        """Transactions waiting for the next group commit, in the order they came."""
        self._committing = False
        self._group_committed = trio.Event()
        """Set when a group commit ends (then replaced): the next waiting caller commits the
        group that has gathered meanwhile."""

    @classmethod
    async def open(cls, path: str, *, synchronous: str = "full") -> SqliteStore:
        def connect() -> sqlite3.Connection:
            if path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            try:
                db.execute("PRAGMA busy_timeout=5000")
                _refuse_newer_schema(db)  # before anything below changes the file
                db.execute("PRAGMA journal_mode=WAL")
                db.execute(f"PRAGMA synchronous={synchronous.upper()}")
                db.execute("PRAGMA foreign_keys=ON")
                _migrate(db)
            except BaseException:
                db.close()
                raise
            return db

        try:
            connection = await trio.to_thread.run_sync(connect)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open state database {path}: {exc}") from exc
        return cls(connection)

    async def _transaction(self, work: Callable[[sqlite3.Connection], _T]) -> _T:
        """Run ``work`` in a transaction of its own, committed with those that wait beside it;
        its result, or the error it raised (then nothing it did was applied).

        A caller cancelled before its group began leaves nothing done; one cancelled while
        its group commits waits for the end (as a thread already under way cannot be
        stopped), so that what it did is settled when the cancellation reaches its caller."""
        transaction = _Transaction(work)
        self._waiting.append(transaction)
        try:
            while not transaction.ran:
                if self._committing:
                    await self._group_committed.wait()
                else:
                    await self._commit_waiting()
        except trio.Cancelled:
            if transaction in self._waiting:
                self._waiting.remove(transaction)
            else:
                with trio.CancelScope(shield=True):
                    while not transaction.ran:
                        await self._group_committed.wait()
            raise
        return transaction.outcome()

    async def _commit_waiting(self) -> None:
        """Commit every waiting transaction as one group, to the end even if cancelled
        meanwhile (the others wait for it)."""
        self._committing = True
        group, self._waiting = self._waiting, []
        try:
            with trio.CancelScope(shield=True):
                await trio.to_thread.run_sync(_run_group, self._db, group)
        finally:
            self._committing = False
            self._group_committed.set()
            self._group_committed = trio.Event()

    async def stream_states(self, channel: str) -> dict[str, StreamState]:
        rows = await self._transaction(
            lambda db: db.execute(
                "SELECT stream, value, last_success_at FROM cursors WHERE channel = ?",
                (channel,),
            ).fetchall()
        )
        return {
            stream: StreamState(stream=stream, cursor=_parse(value), last_success_at=_parse(ok))
            for stream, value, ok in rows
        }

    async def channel_starts(self, channels: list[str]) -> dict[str, ChannelStart]:
        named = msgspec.json.encode(channels).decode()

        def read(db: sqlite3.Connection) -> tuple[list[Any], list[Any], list[Any]]:
            among = "channel IN (SELECT value FROM json_each(?))"
            cursors = db.execute(
                f"SELECT channel, stream, value, last_success_at FROM cursors WHERE {among}",
                (named,),
            ).fetchall()
            paused = db.execute(
                f"SELECT channel FROM channel_flags WHERE paused AND {among}", (named,)
            ).fetchall()
            webhooks = db.execute(
                f"SELECT channel, id, streams, entity FROM inbox WHERE {among}"
                " AND source = 'webhook' AND processed_at IS NULL ORDER BY id",
                (named,),
            ).fetchall()
            return cursors, paused, webhooks

        cursors, paused, webhooks = await self._transaction(read)
        paused_channels = {channel for (channel,) in paused}
        starts = {
            channel: ChannelStart(streams={}, paused=channel in paused_channels, webhooks=[])
            for channel in channels
        }
        for channel, stream, value, ok in cursors:
            starts[channel].streams[stream] = StreamState(stream, _parse(value), _parse(ok))
        for channel, *item in webhooks:
            starts[channel].webhooks.append(_inbox_item(*item))
        return starts

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
        def work(db: sqlite3.Connection) -> int:
            stored = _insert_polled(db, channel, stream, records, at, changed_only=changed_only)
            db.execute(
                "INSERT INTO cursors (channel, stream, value) VALUES (?, ?, ?)"
                " ON CONFLICT (channel, stream) DO UPDATE SET value = excluded.value",
                (channel, stream, _iso_or_none(cursor)),
            )
            return stored

        return await self._transaction(work)

    async def commit_fetched(
        self, channel: str, stream: str, records: list[Record], at: datetime
    ) -> int:
        return await self._transaction(lambda db: _insert_polled(db, channel, stream, records, at))

    async def record_success(self, channel: str, stream: str, at: datetime) -> None:
        def work(db: sqlite3.Connection) -> None:
            db.execute(
                "INSERT INTO cursors (channel, stream, last_success_at) VALUES (?, ?, ?)"
                " ON CONFLICT (channel, stream) DO UPDATE"
                " SET last_success_at = excluded.last_success_at",
                (channel, stream, _iso(at)),
            )
            db.execute(
                "UPDATE exceptions SET resolved_at = ?, resolution = 'resolved'"
                " WHERE channel = ? AND kind = 'read' AND stream = ? AND resolved_at IS NULL",
                (_iso(at), channel, stream),
            )

        await self._transaction(work)

    async def set_paused(self, channel: str, paused: bool) -> None:
        await self._transaction(
            lambda db: db.execute(
                "INSERT INTO channel_flags (channel, paused) VALUES (?, ?)"
                " ON CONFLICT (channel) DO UPDATE SET paused = excluded.paused",
                (channel, int(paused)),
            )
        )

    async def accept_webhook(self, channel: str, event: WebhookEvent, at: datetime) -> int | None:
        """Returns once the webhook is durable: a burst of them shares group commits."""
        return await self._transaction(lambda db: _insert_webhook(db, channel, event, at))

    async def pending_webhooks(self, channel: str) -> list[InboxItem]:
        rows = await self._transaction(
            lambda db: db.execute(
                "SELECT id, streams, entity FROM inbox"
                " WHERE channel = ? AND source = 'webhook' AND processed_at IS NULL ORDER BY id",
                (channel,),
            ).fetchall()
        )
        return [_inbox_item(*row) for row in rows]

    async def mark_processed(self, ids: list[int], at: datetime) -> None:
        await self._transaction(
            lambda db: db.executemany(
                "UPDATE inbox SET processed_at = ? WHERE id = ?", [(_iso(at), i) for i in ids]
            )
        )

    async def enqueue_write(self, channel: str, write: RemoteWrite, at: datetime) -> int:
        def work(db: sqlite3.Connection) -> int:
            db.execute(
                "INSERT OR IGNORE INTO outbox (channel, kind, idempotency_key, payload, created_at)"
                " VALUES (?, ?, ?, ?, ?)",
                (channel, write.kind, write.key, write.payload, _iso(at)),
            )
            row = db.execute(
                "SELECT id FROM outbox WHERE channel = ? AND idempotency_key = ?",
                (channel, write.key),
            ).fetchone()
            return int(row[0])

        return await self._transaction(work)

    async def pending_writes(
        self, channel: str, limit: int, *, after_id: int = 0
    ) -> list[PendingWrite]:
        rows = await self._transaction(
            lambda db: db.execute(
                "SELECT id, kind, idempotency_key, payload, attempts, caused_at, entity, summary"
                " FROM outbox WHERE channel = ? AND done_at IS NULL AND id > ? ORDER BY id LIMIT ?",
                (channel, after_id, limit),
            ).fetchall()
        )
        return [
            PendingWrite(
                id=i,
                write=RemoteWrite(kind=k, key=key, payload=bytes(p)),
                attempts=a,
                caused_at=_parse(caused),
                entity=entity,
                summary=summary or "",
            )
            for i, k, key, p, a, caused, entity, summary in rows
        ]

    async def begin_write(self, channel: str, pending: PendingWrite, at: datetime) -> RemoteWrite:
        def work(db: sqlite3.Connection) -> RemoteWrite:
            db.execute("UPDATE outbox SET attempts = attempts + 1 WHERE id = ?", (pending.id,))
            attempts, payload, entity, summary = db.execute(
                "SELECT attempts, payload, entity, summary FROM outbox WHERE id = ?",
                (pending.id,),
            ).fetchone()
            write = msgspec.structs.replace(pending.write, payload=bytes(payload))
            stored = msgspec.structs.replace(
                pending, write=write, entity=entity, summary=summary or ""
            )
            _audit_write(db, at, channel, "write.started", stored, f"attempt {attempts}")
            return write

        return await self._transaction(work)

    async def unsent_write(self, channel: str, kind: str) -> PendingWrite | None:
        row = await self._transaction(
            lambda db: db.execute(
                "SELECT id, idempotency_key, payload, caused_at, attempts FROM outbox"
                " WHERE channel = ? AND kind = ? AND done_at IS NULL ORDER BY id DESC LIMIT 1",
                (channel, kind),
            ).fetchone()
        )
        if row is None or row[4] > 0:
            return None  # begun: what follows it must be queued after it
        entry_id, key, payload, caused, _ = row
        write = RemoteWrite(kind=kind, key=key, payload=bytes(payload))
        return PendingWrite(id=entry_id, write=write, attempts=0, caused_at=_parse(caused))

    async def finish_write(
        self, channel: str, pending: PendingWrite, result: WriteResult, at: datetime
    ) -> None:
        def work(db: sqlite3.Connection) -> None:
            db.execute(
                "UPDATE outbox SET done_at = ?, remote_id = ? WHERE id = ?",
                (_iso(at), result.remote_id, pending.id),
            )
            _audit_write(db, at, channel, "write.done", pending, result.summary, result.remote_id)
            db.execute(
                "UPDATE exceptions SET resolved_at = ?, resolution = 'resolved'"
                " WHERE channel = ? AND kind IN ('write', 'stock') AND entity = ?"
                " AND resolved_at IS NULL",
                (_iso(at), channel, pending.write.key),
            )

        await self._transaction(work)

    async def fail_write(
        self, channel: str, pending: PendingWrite, reason: str, at: datetime
    ) -> None:
        def work(db: sqlite3.Connection) -> None:
            db.execute("UPDATE outbox SET done_at = ? WHERE id = ?", (_iso(at), pending.id))
            _audit_write(db, at, channel, "write.failed", pending, reason)

        await self._transaction(work)

    async def record_exception(self, held: HeldException, at: datetime) -> None:
        await self._transaction(lambda db: _record_exception(db, held, at))

    async def open_exceptions(self) -> dict[tuple[str, str], int]:
        rows = await self._transaction(
            lambda db: db.execute(
                "SELECT channel, reason, count(*) FROM exceptions WHERE resolved_at IS NULL"
                " GROUP BY channel, reason"
            ).fetchall()
        )
        return {(channel, reason): count for channel, reason, count in rows}

    async def open_write_exceptions(self) -> list[HeldException]:
        return await self._open_exceptions("kind IN ('write', 'stock')", ())

    async def open_stream_exceptions(self, stream: str) -> list[HeldException]:
        return await self._open_exceptions("stream = ?", (stream,))

    async def _open_exceptions(
        self, where: str, parameters: tuple[str, ...]
    ) -> list[HeldException]:
        """Open exceptions matching ``where`` (a fixed SQL condition), oldest first."""
        rows = await self._transaction(
            lambda db: db.execute(
                "SELECT channel, stream, entity, reason, detail, payload, kind FROM exceptions"
                f" WHERE resolved_at IS NULL AND {where} ORDER BY id",
                parameters,
            ).fetchall()
        )
        return [HeldException(*row) for row in rows]

    async def exceptions(self, query: ExceptionQuery) -> list[ExceptionEntry]:
        rows = await self._transaction(
            lambda db: db.execute(
                f"SELECT {_EXCEPTION_COLUMNS} FROM exceptions"
                " WHERE (? IS NULL OR channel = ?) AND (? IS NULL OR reason = ?)"
                " AND (? OR resolved_at IS NULL) AND id > ? ORDER BY id LIMIT ?",
                (
                    query.channel,
                    query.channel,
                    query.reason,
                    query.reason,
                    query.include_resolved,
                    query.after_id,
                    query.limit,
                ),
            ).fetchall()
        )
        return [_exception_entry(row) for row in rows]

    async def exception(self, exception_id: int) -> ExceptionEntry | None:
        return await self._transaction(lambda db: _exception_by_id(db, exception_id))

    async def discard_exception(self, exception_id: int, at: datetime) -> ExceptionEntry | None:
        def work(db: sqlite3.Connection) -> ExceptionEntry | None:
            entry = _exception_by_id(db, exception_id)
            if entry is None or entry.resolved_at is not None:
                return None
            _resolve(db, entry.id, "discarded", at)
            if entry.kind in ("write", "stock"):
                # Dropped: a write still waiting for its next try is not made.
                db.execute(
                    "UPDATE outbox SET done_at = ? WHERE channel = ? AND idempotency_key = ?"
                    " AND done_at IS NULL",
                    (_iso(at), entry.channel, entry.entity),
                )
            note = AuditNote(entry.channel, "exception.discarded", entry.entity, entry.summary)
            _audit(db, at, note)
            return entry

        return await self._transaction(work)

    async def requeue_write(self, exception_id: int, at: datetime) -> bool:
        def work(db: sqlite3.Connection) -> bool:
            entry = _exception_by_id(db, exception_id)
            if entry is None or entry.resolved_at is not None or entry.kind != "write":
                return False
            requeued = db.execute(
                "UPDATE outbox SET done_at = NULL, remote_id = NULL, attempts = 0"
                " WHERE channel = ? AND idempotency_key = ?",
                (entry.channel, entry.entity),
            ).rowcount
            if requeued:
                note = AuditNote(
                    entry.channel, "exception.replayed", entry.entity, entry.summary, "queued again"
                )
                _audit(db, at, note, key=entry.entity)
            return bool(requeued)

        return await self._transaction(work)

    async def resolve_exception(
        self, exception_id: int, resolution: Resolution, note: AuditNote, at: datetime
    ) -> bool:
        def work(db: sqlite3.Connection) -> bool:
            if not _resolve(db, exception_id, resolution, at):
                return False
            _audit(db, at, note)
            return True

        return await self._transaction(work)

    async def audit_entries(self, query: AuditQuery) -> list[AuditEntry]:
        def work(db: sqlite3.Connection) -> list[Any]:
            entity = query.entity
            suffix = None if entity is None else "%:" + _like_escaped(entity)
            return db.execute(
                "SELECT * FROM (SELECT id, at, channel, action, entity, idempotency_key, summary,"
                " result, remote_id FROM audit WHERE (? IS NULL OR channel = ?)"
                " AND (? IS NULL OR at >= ?)"
                " AND (? IS NULL OR entity = ? OR idempotency_key = ?"
                " OR idempotency_key LIKE ? ESCAPE '\\')"
                " ORDER BY at DESC, id DESC LIMIT ?) ORDER BY at, id",
                (
                    query.channel,
                    query.channel,
                    None if query.since is None else _iso(query.since),
                    None if query.since is None else _iso(query.since),
                    entity,
                    entity,
                    entity,
                    suffix,
                    query.limit,
                ),
            ).fetchall()

        rows = await self._transaction(work)
        return [AuditEntry(i, datetime.fromisoformat(at), *rest) for i, at, *rest in rows]

    async def prune_audit(self, before: datetime) -> int:
        return await self._transaction(
            lambda db: db.execute("DELETE FROM audit WHERE at < ?", (_iso(before),)).rowcount
        )

    async def pending_records(self, limit: int, *, after_id: int = 0) -> list[StoredRecord]:
        rows = await self._transaction(
            lambda db: db.execute(
                "SELECT id, channel, stream, body, COALESCE(updated_at, received_at), received_at"
                " FROM inbox WHERE source = 'poll'"
                " AND processed_at IS NULL AND id > ? ORDER BY id LIMIT ?",
                (after_id, limit),
            ).fetchall()
        )
        return [
            StoredRecord(
                id=i,
                channel=c,
                stream=s,
                body=bytes(b),
                updated_at=datetime.fromisoformat(u),
                received_at=datetime.fromisoformat(r),
            )
            for i, c, s, b, u, r in rows
        ]

    async def hub_snapshot(self) -> HubSnapshot:
        def work(db: sqlite3.Connection) -> HubSnapshot:
            orders = [
                OrderEntry(
                    origin=o,
                    store_order_id=i,
                    channel=c,
                    state=state,
                    reason=reason,
                    detail=detail,
                    body=bytes(body),
                    updated_at=datetime.fromisoformat(updated),
                )
                for o, i, c, state, reason, detail, body, updated in db.execute(
                    "SELECT origin, store_order_id, channel, state, reason, detail, body,"
                    " updated_at FROM store_orders"
                )
            ]
            return HubSnapshot(
                orders=orders,
                stock=[
                    StockRow(*row)
                    for row in db.execute("SELECT sku, location, fulfillable, exception FROM stock")
                ],
                reservations=[
                    Reservation(*row)
                    for row in db.execute(
                        "SELECT origin, store_order_id, sku, quantity, write_channel, write_key"
                        " FROM reservations"
                    )
                ],
                pushed=[
                    PushedRow(*row)
                    for row in db.execute("SELECT channel, sku, quantity FROM pushed")
                ],
                catalog=[sku for (sku,) in db.execute("SELECT sku FROM catalog")],
                digests=[
                    ProductDigest(*row)
                    for row in db.execute(
                        "SELECT channel, sku, digest, revision FROM product_digests"
                    )
                ],
                bundles=[
                    ProviderBundle(sku, msgspec.json.decode(components, type=list[BundleComponent]))
                    for sku, components in db.execute(
                        "SELECT sku, components FROM provider_bundles"
                    )
                ],
            )

        return await self._transaction(work)

    async def apply_hub_changes(self, changes: HubChanges, at: datetime) -> None:
        stamp = _iso(at)

        def work(db: sqlite3.Connection) -> None:
            db.executemany(
                "INSERT INTO store_orders (origin, store_order_id, channel, state, reason,"
                " detail, body, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (origin, store_order_id) DO UPDATE SET channel = excluded.channel,"
                " state = excluded.state, reason = excluded.reason, detail = excluded.detail,"
                " body = excluded.body, updated_at = excluded.updated_at",
                [
                    (
                        o.origin,
                        o.store_order_id,
                        o.channel,
                        o.state,
                        o.reason,
                        o.detail,
                        o.body,
                        _iso(o.updated_at),
                    )
                    for o in changes.orders
                ],
            )
            db.executemany(
                "DELETE FROM reservations WHERE origin = ? AND store_order_id = ?"
                " AND (? IS NULL OR sku = ?)",
                [(origin, order, sku, sku) for origin, order, sku in changes.released],
            )
            db.executemany(
                "INSERT OR REPLACE INTO reservations (origin, store_order_id, sku, quantity,"
                " write_channel, write_key) VALUES (?, ?, ?, ?, ?, ?)",
                [
                    (r.origin, r.store_order_id, r.sku, r.quantity, r.write_channel, r.write_key)
                    for r in changes.reservations
                ],
            )
            db.executemany(
                "INSERT OR REPLACE INTO stock (sku, location, fulfillable, exception, read_at)"
                " VALUES (?, ?, ?, ?, ?)",
                [(r.sku, r.location, r.fulfillable, r.exception, stamp) for r in changes.stock],
            )
            db.executemany(
                "INSERT OR REPLACE INTO pushed (channel, sku, quantity, at) VALUES (?, ?, ?, ?)",
                [(r.channel, r.sku, r.quantity, stamp) for r in changes.pushed],
            )
            db.executemany(
                "INSERT OR IGNORE INTO catalog (sku, added_at) VALUES (?, ?)",
                [(sku, stamp) for sku in changes.catalog],
            )
            # A write folded into an entry is queued on its own if that entry has begun since.
            own = [q for q in changes.writes if not _replaced(db, q)]
            db.executemany(
                "INSERT OR REPLACE INTO product_digests (channel, sku, digest, revision, at)"
                " VALUES (?, ?, ?, ?, ?)",
                [(d.channel, d.sku, d.digest, d.revision, stamp) for d in changes.digests],
            )
            # In order: a bundle defined, then undefined in one batch, ends undefined.
            for bundle in changes.bundles:
                if bundle.components:
                    db.execute(
                        "INSERT OR REPLACE INTO provider_bundles (sku, components, at)"
                        " VALUES (?, ?, ?)",
                        (bundle.sku, msgspec.json.encode(bundle.components), stamp),
                    )
                else:
                    db.execute("DELETE FROM provider_bundles WHERE sku = ?", (bundle.sku,))
            db.executemany(
                "INSERT OR IGNORE INTO outbox (channel, kind, idempotency_key, payload, created_at,"
                " caused_at, entity, summary) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        q.channel,
                        q.write.kind,
                        q.write.key,
                        q.write.payload,
                        stamp,
                        _iso_or_none(q.caused_at),
                        q.entity,
                        q.summary,
                    )
                    for q in own
                ],
            )
            for exception_id, resolution in changes.resolved:
                _resolve(db, exception_id, resolution, at)
            # An order decided again, no longer held for a reason: that hold is resolved, not
            # left open (a new reason is recorded below as an exception of its own).
            db.executemany(
                "UPDATE exceptions SET resolved_at = ?, resolution = 'resolved'"
                " WHERE channel = ? AND kind = 'order' AND entity = ? AND resolved_at IS NULL"
                " AND reason IS NOT ?",
                [
                    (stamp, o.channel, o.store_order_id, o.reason if o.state == "held" else None)
                    for o in changes.orders
                ],
            )
            # A SKU written to a store again: a move held for review there is over (approved,
            # or the stock came back within the threshold).
            db.executemany(
                "UPDATE exceptions SET resolved_at = ?, resolution = 'resolved'"
                " WHERE channel = ? AND kind = 'sku' AND entity = ? AND resolved_at IS NULL",
                [(stamp, r.channel, r.sku) for r in changes.pushed],
            )
            for held in changes.exceptions:
                _record_exception(db, held, at)
            for note in changes.audit:
                _audit(db, at, note)
            db.executemany(
                "UPDATE inbox SET processed_at = ? WHERE id = ?",
                [(stamp, i) for i in changes.processed],
            )

        await self._transaction(work)

    async def counted_reservations(self, read_before: datetime) -> list[tuple[str, str, str]]:
        rows = await self._transaction(
            lambda db: db.execute(
                "SELECT r.origin, r.store_order_id, r.sku FROM reservations r JOIN outbox o"
                " ON o.channel = r.write_channel AND o.idempotency_key = r.write_key"
                " WHERE o.done_at IS NOT NULL AND o.done_at < ?",
                (_iso(read_before),),
            ).fetchall()
        )
        return [(origin, store_order_id, sku) for origin, store_order_id, sku in rows]

    async def aclose(self) -> None:
        while self._committing:
            await self._group_committed.wait()
        await trio.to_thread.run_sync(self._db.close)


def _run_group(db: sqlite3.Connection, group: list[_Transaction[Any]]) -> None:
    """Run ``group`` in one transaction, each in a savepoint that its own error rolls back;
    if the transaction itself fails (its commit, say), every member gets that error."""
    try:
        db.execute("BEGIN IMMEDIATE")
        try:
            for transaction in group:
                db.execute("SAVEPOINT one")
                try:
                    transaction.result = transaction.work(db)
                except Exception as exc:
                    if not db.in_transaction:
                        raise  # SQLite ended the whole transaction (a full disk): all fail
                    transaction.error = exc
                    db.execute("ROLLBACK TO one")
                db.execute("RELEASE one")
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
    except Exception as exc:
        for transaction in group:
            transaction.result, transaction.error = None, exc
    finally:
        for transaction in group:
            transaction.ran = True


def _replaced(db: sqlite3.Connection, queued: QueuedWrite) -> bool:
    """Whether ``queued`` took the place of the entry it replaces, which no attempt has begun
    (see :attr:`QueuedWrite.replaces`)."""
    if queued.replaces is None:
        return False
    updated = db.execute(
        "UPDATE outbox SET payload = ?, caused_at = ?, entity = ?, summary = ?"
        " WHERE id = ? AND channel = ? AND done_at IS NULL AND attempts = 0",
        (
            queued.write.payload,
            _iso_or_none(queued.caused_at),
            queued.entity,
            queued.summary,
            queued.replaces,
            queued.channel,
        ),
    ).rowcount
    return bool(updated)


def _insert_webhook(
    db: sqlite3.Connection, channel: str, event: WebhookEvent, at: datetime
) -> int | None:
    """Insert a webhook in the inbox; None if its id was seen before on its channel. One that
    names no stream to read has nothing to wait for: it is stored processed."""
    inserted = db.execute(
        "INSERT OR IGNORE INTO seen_webhooks (channel, webhook_id, received_at) VALUES (?, ?, ?)",
        (channel, event.webhook_id, _iso(at)),
    ).rowcount
    if not inserted:
        return None
    cursor = db.execute(
        "INSERT INTO inbox"
        " (channel, source, streams, topic, entity, body, received_at, processed_at)"
        " VALUES (?, 'webhook', ?, ?, ?, ?, ?, ?)",
        (
            channel,
            msgspec.json.encode(event.streams).decode(),
            event.topic,
            event.entity,
            event.body,
            _iso(at),
            None if event.streams else _iso(at),
        ),
    )
    return cursor.lastrowid


def _insert_polled(
    db: sqlite3.Connection,
    channel: str,
    stream: str,
    records: list[Record],
    at: datetime,
    *,
    changed_only: bool = False,
) -> int:
    """Store ``records`` (with ``changed_only``, those that differ from their newest stored
    version); how many were stored."""
    insert = (
        "INSERT INTO inbox (channel, source, stream, topic, entity, body, received_at,"
        " updated_at) SELECT ?1, 'poll', ?2, ?2, ?3, ?4, ?5, ?6"
    )
    if changed_only:
        insert += (
            " WHERE NOT EXISTS (SELECT 1 FROM (SELECT body FROM inbox WHERE channel = ?1"
            " AND stream = ?2 AND entity = ?3 ORDER BY id DESC LIMIT 1) WHERE body = ?4)"
        )
    cursor = db.executemany(
        insert,
        [(channel, stream, r.key, r.body, _iso(at), _iso(r.updated_at)) for r in records],
    )
    return cursor.rowcount


_EXCEPTION_COLUMNS = (
    "id, channel, kind, stream, entity, reason, detail, payload, attempts, first_seen,"
    " last_seen, resolved_at, resolution"
)


def _exception_entry(row: Any) -> ExceptionEntry:
    i, channel, kind, stream, entity, reason, detail, payload, attempts = row[:9]
    first, last, resolved, resolution = row[9:]
    return ExceptionEntry(
        id=i,
        channel=channel,
        kind=kind,
        stream=stream,
        entity=entity,
        reason=reason,
        detail=detail,
        payload=None if payload is None else bytes(payload),
        attempts=attempts,
        first_seen=datetime.fromisoformat(first),
        last_seen=datetime.fromisoformat(last),
        resolved_at=_parse(resolved),
        resolution=resolution,
    )


def _exception_by_id(db: sqlite3.Connection, exception_id: int) -> ExceptionEntry | None:
    row = db.execute(
        f"SELECT {_EXCEPTION_COLUMNS} FROM exceptions WHERE id = ?", (exception_id,)
    ).fetchone()
    return None if row is None else _exception_entry(row)


def _resolve(
    db: sqlite3.Connection, exception_id: int, resolution: Resolution, at: datetime
) -> bool:
    return bool(
        db.execute(
            "UPDATE exceptions SET resolved_at = ?, resolution = ?"
            " WHERE id = ? AND resolved_at IS NULL",
            (_iso(at), resolution, exception_id),
        ).rowcount
    )


def _like_escaped(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _audit_write(
    db: sqlite3.Connection,
    at: datetime,
    channel: str,
    action: str,
    pending: PendingWrite,
    result: str,
    remote_id: str | None = None,
) -> None:
    write = pending.write
    summary = f"{write.kind} {pending.summary}".rstrip()
    note = AuditNote(channel, action, pending.entity, summary, result)
    _audit(db, at, note, key=write.key, remote_id=remote_id)


def _audit(
    db: sqlite3.Connection,
    at: datetime,
    note: AuditNote,
    *,
    key: str | None = None,
    remote_id: str | None = None,
) -> None:
    db.execute(
        "INSERT INTO audit (at, channel, action, entity, idempotency_key, summary, result,"
        " remote_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (
            _iso(at),
            note.channel,
            note.action,
            note.entity,
            key,
            note.summary,
            note.result,
            remote_id,
        ),
    )


def _record_exception(db: sqlite3.Connection, held: HeldException, at: datetime) -> None:
    # The same failure seen again is one exception with more attempts, not a new row; it keeps
    # the latest payload (a review hold's newest target, a record's newest version).
    updated = db.execute(
        "UPDATE exceptions SET attempts = attempts + 1, last_seen = ?, detail = ?,"
        " payload = COALESCE(?, payload)"
        " WHERE channel = ? AND kind = ? AND stream IS ? AND entity IS ? AND reason = ?"
        " AND resolved_at IS NULL",
        (
            _iso(at),
            held.detail,
            held.payload,
            held.channel,
            held.kind,
            held.stream,
            held.entity,
            held.reason,
        ),
    ).rowcount
    if updated:
        return
    db.execute(
        "INSERT INTO exceptions (channel, kind, stream, entity, reason, detail, payload,"
        " first_seen, last_seen) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            held.channel,
            held.kind,
            held.stream,
            held.entity,
            held.reason,
            held.detail,
            held.payload,
            _iso(at),
            _iso(at),
        ),
    )
    if held.kind in ("order", "sku"):
        _audit(db, at, AuditNote(held.channel, "hold", held.entity, held.reason, held.detail))


def _refuse_newer_schema(db: sqlite3.Connection) -> None:
    version = db.execute("PRAGMA user_version").fetchone()[0]
    if version > len(MIGRATIONS):
        raise StoreError(
            f"the state database is at schema version {version}, newer than this build's "
            f"{len(MIGRATIONS)}: upgrade shelfsync"
        )


def _migrate(db: sqlite3.Connection) -> None:
    version = db.execute("PRAGMA user_version").fetchone()[0]
    for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
        db.execute("BEGIN IMMEDIATE")
        try:
            for statement in _statements(script):
                db.execute(statement)
            db.execute(f"PRAGMA user_version = {number}")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")


def _statements(script: str) -> list[str]:
    """Split a migration into statements (executescript would commit our transaction)."""
    without_comments = "\n".join(line.split("--")[0] for line in script.splitlines())
    return [s.strip() for s in without_comments.split(";") if s.strip()]


def _inbox_item(inbox_id: int, streams: str, entity: str | None) -> InboxItem:
    """An inbox row (``id, streams, entity``) as read."""
    return InboxItem(
        id=inbox_id, streams=msgspec.json.decode(streams, type=tuple[str, ...]), entity=entity
    )
