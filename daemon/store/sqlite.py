"""The SQLite state store: one WAL-mode connection, one transaction per worker-thread hop.

SQLite allows one writer at a time, so a single connection guarded by a Trio lock is both the
simplest and the fastest arrangement; each public method runs its whole transaction in one
``trio.to_thread.run_sync`` call, which keeps the event loop free while SQLite fsyncs.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

import trio

from connectors.base import Record, RemoteWrite, WebhookEvent, WriteResult
from daemon.store import (
    HeldException,
    HubChanges,
    HubSnapshot,
    InboxItem,
    OrderEntry,
    PendingWrite,
    PushedRow,
    Reservation,
    StockRow,
    StoredRecord,
    StoreError,
    StreamState,
)
from daemon.store.schema import MIGRATIONS

_T = TypeVar("_T")


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat()


def _parse(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


class SqliteStore:
    def __init__(self, connection: sqlite3.Connection) -> None:
        self._db = connection
        self._lock = trio.Lock()

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
        def run() -> _T:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                result = work(self._db)
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
            return result

        async with self._lock:
            return await trio.to_thread.run_sync(run)

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

    async def commit_page(
        self,
        channel: str,
        stream: str,
        records: list[Record],
        cursor: datetime | None,
        at: datetime,
    ) -> None:
        def work(db: sqlite3.Connection) -> None:
            db.executemany(
                "INSERT INTO inbox (channel, source, stream, topic, entity, body, received_at,"
                " updated_at) VALUES (?, 'poll', ?, ?, ?, ?, ?, ?)",
                [
                    (channel, stream, stream, r.key, r.body, _iso(at), _iso(r.updated_at))
                    for r in records
                ],
            )
            db.execute(
                "INSERT INTO cursors (channel, stream, value) VALUES (?, ?, ?)"
                " ON CONFLICT (channel, stream) DO UPDATE SET value = excluded.value",
                (channel, stream, None if cursor is None else _iso(cursor)),
            )

        await self._transaction(work)

    async def record_success(self, channel: str, stream: str, at: datetime) -> None:
        await self._transaction(
            lambda db: db.execute(
                "INSERT INTO cursors (channel, stream, last_success_at) VALUES (?, ?, ?)"
                " ON CONFLICT (channel, stream) DO UPDATE"
                " SET last_success_at = excluded.last_success_at",
                (channel, stream, _iso(at)),
            )
        )

    async def is_paused(self, channel: str) -> bool:
        row = await self._transaction(
            lambda db: db.execute(
                "SELECT paused FROM channel_flags WHERE channel = ?", (channel,)
            ).fetchone()
        )
        return bool(row and row[0])

    async def set_paused(self, channel: str, paused: bool) -> None:
        await self._transaction(
            lambda db: db.execute(
                "INSERT INTO channel_flags (channel, paused) VALUES (?, ?)"
                " ON CONFLICT (channel) DO UPDATE SET paused = excluded.paused",
                (channel, int(paused)),
            )
        )

    async def accept_webhook(self, channel: str, event: WebhookEvent, at: datetime) -> int | None:
        def work(db: sqlite3.Connection) -> int | None:
            inserted = db.execute(
                "INSERT OR IGNORE INTO seen_webhooks (channel, webhook_id, received_at)"
                " VALUES (?, ?, ?)",
                (channel, event.webhook_id, _iso(at)),
            ).rowcount
            if not inserted:
                return None
            cursor = db.execute(
                "INSERT INTO inbox (channel, source, stream, topic, entity, body, received_at)"
                " VALUES (?, 'webhook', ?, ?, ?, ?, ?)",
                (channel, event.stream, event.topic, None, event.body, _iso(at)),
            )
            return cursor.lastrowid

        return await self._transaction(work)

    async def pending_webhooks(self, channel: str) -> list[InboxItem]:
        rows = await self._transaction(
            lambda db: db.execute(
                "SELECT id, stream, topic, body FROM inbox"
                " WHERE channel = ? AND source = 'webhook' AND processed_at IS NULL ORDER BY id",
                (channel,),
            ).fetchall()
        )
        return [InboxItem(id=i, stream=s, topic=t, body=bytes(b)) for i, s, t, b in rows]

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
                "SELECT id, kind, idempotency_key, payload, attempts, caused_at FROM outbox"
                " WHERE channel = ? AND done_at IS NULL AND id > ? ORDER BY id LIMIT ?",
                (channel, after_id, limit),
            ).fetchall()
        )
        return [
            PendingWrite(
                id=i,
                write=RemoteWrite(kind=k, key=key, payload=bytes(p)),
                attempts=a,
                caused_at=_parse(caused),
            )
            for i, k, key, p, a, caused in rows
        ]

    async def begin_write(self, channel: str, pending: PendingWrite, at: datetime) -> None:
        def work(db: sqlite3.Connection) -> None:
            db.execute("UPDATE outbox SET attempts = attempts + 1 WHERE id = ?", (pending.id,))
            _audit(
                db, at, channel, "write.started", pending.write, f"attempt {pending.attempts + 1}"
            )

        await self._transaction(work)

    async def finish_write(
        self, channel: str, pending: PendingWrite, result: WriteResult, at: datetime
    ) -> None:
        def work(db: sqlite3.Connection) -> None:
            db.execute(
                "UPDATE outbox SET done_at = ?, remote_id = ? WHERE id = ?",
                (_iso(at), result.remote_id, pending.id),
            )
            _audit(db, at, channel, "write.done", pending.write, result.summary, result.remote_id)

        await self._transaction(work)

    async def fail_write(
        self, channel: str, pending: PendingWrite, reason: str, at: datetime
    ) -> None:
        def work(db: sqlite3.Connection) -> None:
            db.execute("UPDATE outbox SET done_at = ? WHERE id = ?", (_iso(at), pending.id))
            _audit(db, at, channel, "write.failed", pending.write, reason)

        await self._transaction(work)

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
    ) -> None:
        held = HeldException(channel, stream, entity, reason, detail, payload)
        await self._transaction(lambda db: _record_exception(db, held, at))

    async def open_exceptions(self) -> dict[str, int]:
        rows = await self._transaction(
            lambda db: db.execute(
                "SELECT channel, count(*) FROM exceptions WHERE resolved_at IS NULL"
                " GROUP BY channel"
            ).fetchall()
        )
        return {channel: count for channel, count in rows}

    async def open_write_exceptions(self) -> list[HeldException]:
        return await self._open_exceptions_of(None)

    async def open_stream_exceptions(self, stream: str) -> list[HeldException]:
        return await self._open_exceptions_of(stream)

    async def _open_exceptions_of(self, stream: str | None) -> list[HeldException]:
        """Open exceptions whose stream is ``stream`` (None: writes), oldest first."""
        rows = await self._transaction(
            lambda db: db.execute(
                "SELECT channel, stream, entity, reason, detail, payload FROM exceptions"
                " WHERE resolved_at IS NULL AND stream IS ? ORDER BY id",
                (stream,),
            ).fetchall()
        )
        return [HeldException(*row) for row in rows]

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
            db.executemany(
                "INSERT OR IGNORE INTO outbox (channel, kind, idempotency_key, payload, created_at,"
                " caused_at) VALUES (?, ?, ?, ?, ?, ?)",
                [
                    (
                        q.channel,
                        q.write.kind,
                        q.write.key,
                        q.write.payload,
                        stamp,
                        None if q.caused_at is None else _iso(q.caused_at),
                    )
                    for q in changes.writes
                ],
            )
            # An order decided again, no longer held for a reason: that hold is resolved, not
            # left open (a new reason is recorded below as an exception of its own).
            db.executemany(
                "UPDATE exceptions SET resolved_at = ? WHERE channel = ? AND stream = 'orders'"
                " AND entity = ? AND resolved_at IS NULL AND reason IS NOT ?",
                [
                    (stamp, o.channel, o.store_order_id, o.reason if o.state == "held" else None)
                    for o in changes.orders
                ],
            )
            for held in changes.exceptions:
                _record_exception(db, held, at)
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
        async with self._lock:
            await trio.to_thread.run_sync(self._db.close)


def _audit(
    db: sqlite3.Connection,
    at: datetime,
    channel: str,
    action: str,
    write: RemoteWrite,
    result: str,
    remote_id: str | None = None,
) -> None:
    db.execute(
        "INSERT INTO audit (at, channel, action, entity, idempotency_key, summary, result,"
        " remote_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (_iso(at), channel, action, None, write.key, write.kind, result, remote_id),
    )


def _record_exception(db: sqlite3.Connection, held: HeldException, at: datetime) -> None:
    # The same failure seen again is one exception with more attempts, not a new row.
    updated = db.execute(
        "UPDATE exceptions SET attempts = attempts + 1, last_seen = ?, detail = ?"
        " WHERE channel = ? AND stream IS ? AND entity IS ? AND reason = ?"
        " AND resolved_at IS NULL",
        (_iso(at), held.detail, held.channel, held.stream, held.entity, held.reason),
    ).rowcount
    if not updated:
        db.execute(
            "INSERT INTO exceptions (channel, stream, entity, reason, detail, payload,"
            " first_seen, last_seen) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                held.channel,
                held.stream,
                held.entity,
                held.reason,
                held.detail,
                held.payload,
                _iso(at),
                _iso(at),
            ),
        )


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
