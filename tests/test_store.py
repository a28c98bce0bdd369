"""The SQLite state store, over real database files.

Each test opens the store the way the daemon does (``open_store`` with a ``sqlite:///`` URL)
and, where the question is what is on disk, looks with a separate plain sqlite3 connection.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Awaitable, Callable, Iterator
from contextlib import closing, contextmanager
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.testing

from connectors.base import Record, RemoteWrite, WebhookEvent, WriteResult
from connectors.model import BundleComponent
from connectors.reasons import ExceptionKind, ExceptionReason
from daemon.store import (
    AuditQuery,
    ChannelStart,
    ExceptionQuery,
    HeldException,
    HubChanges,
    InboxItem,
    PendingWrite,
    ProductDigest,
    ProviderBundle,
    QueuedWrite,
    StoreError,
    StreamState,
    open_store,
)
from daemon.store.schema import MIGRATIONS
from daemon.store.sqlite import SqliteStore

T0 = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)


def url(path: Path) -> str:
    # "sqlite:///" + "/abs/path" gives four slashes: the absolute form.
    return "sqlite:///" + str(path)


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "state" / "shelfsync.db"


@contextmanager
def raw(path: Path) -> Iterator[sqlite3.Connection]:
    """A separate, plain connection to look at the file."""
    with closing(sqlite3.connect(path)) as db:
        yield db


def query(path: Path, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    with raw(path) as db:
        return db.execute(sql, params).fetchall()


def record(key: str, at: datetime, body: bytes | None = b"{}") -> Record:
    return Record(key=key, updated_at=at, body=body)  # type: ignore[arg-type]


def webhook(
    webhook_id: str,
    *,
    streams: tuple[str, ...] = ("orders",),
    body: bytes = b"{}",
    entity: str | None = None,
) -> WebhookEvent:
    return WebhookEvent(
        webhook_id=webhook_id, topic="orders/create", streams=streams, body=body, entity=entity
    )


def write(key: str, payload: bytes = b'{"qty": 1}', kind: str = "inventory.set") -> RemoteWrite:
    return RemoteWrite(kind=kind, key=key, payload=payload)


# -- opening, schema, migrations --------------------------------------------------------------


async def test_the_url_uses_four_slashes_for_an_absolute_path(db_path: Path) -> None:
    assert db_path.is_absolute()
    assert url(db_path).startswith("sqlite:////")
    async with open_store(url(db_path)):
        pass
    assert db_path.exists()  # the missing parent directory was created too


async def test_migration_sets_user_version_and_wal(db_path: Path) -> None:
    async with open_store(url(db_path)):
        # Looked at while the store is open: WAL lets another connection read.
        assert query(db_path, "PRAGMA user_version") == [(len(MIGRATIONS),)]
        assert query(db_path, "PRAGMA journal_mode") == [("wal",)]
    assert query(db_path, "PRAGMA user_version") == [(len(MIGRATIONS),)]
    assert query(db_path, "PRAGMA journal_mode") == [("wal",)]
    tables = {
        name for (name,) in query(db_path, "SELECT name FROM sqlite_master WHERE type = 'table'")
    }
    assert {
        "cursors",
        "channel_flags",
        "seen_webhooks",
        "inbox",
        "outbox",
        "exceptions",
        "audit",
    } <= tables


async def test_reopening_does_not_migrate_again(db_path: Path) -> None:
    async with open_store(url(db_path)):
        pass
    async with open_store(url(db_path)):
        pass
    assert query(db_path, "PRAGMA user_version") == [(len(MIGRATIONS),)]


async def test_a_database_newer_than_this_build_is_refused(db_path: Path) -> None:
    db_path.parent.mkdir(parents=True)
    newer = len(MIGRATIONS) + 1
    with raw(db_path) as db:
        db.execute("CREATE TABLE from_the_future (x INTEGER)")
        db.execute(f"PRAGMA user_version = {newer}")
        db.commit()

    with pytest.raises(StoreError, match="newer"):
        async with open_store(url(db_path)):
            pytest.fail("a newer database was opened")

    # Refused, not migrated: the version and the tables are as they were.
    assert query(db_path, "PRAGMA user_version") == [(newer,)]
    tables = {
        name for (name,) in query(db_path, "SELECT name FROM sqlite_master WHERE type = 'table'")
    }
    assert tables == {"from_the_future"}


def open_files_under(directory: Path) -> list[str]:
    """This process's open file descriptors on files under ``directory`` (Linux)."""
    found = []
    for fd in Path("/proc/self/fd").iterdir():
        try:
            target = fd.readlink()
        except OSError:  # the fd used to list the directory is gone by now
            continue
        if target.is_relative_to(directory):
            found.append(target.name)
    return sorted(found)


def newer_database(path: Path) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    newer = len(MIGRATIONS) + 1
    with raw(path) as db:
        db.execute(f"PRAGMA user_version = {newer}")
    return newer


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc/self/fd")
async def test_a_refused_database_is_closed(db_path: Path) -> None:
    newer_database(db_path)
    with pytest.raises(StoreError, match="newer"):
        async with open_store(url(db_path)):
            pytest.fail("a newer database was opened")
    assert open_files_under(db_path.parent) == []


async def test_a_refused_database_is_not_modified(db_path: Path) -> None:
    newer = newer_database(db_path)
    assert query(db_path, "PRAGMA journal_mode") == [("delete",)]
    with pytest.raises(StoreError, match="newer"):
        async with open_store(url(db_path)):
            pytest.fail("a newer database was opened")
    assert query(db_path, "PRAGMA user_version") == [(newer,)]
    assert query(db_path, "PRAGMA journal_mode") == [("delete",)]


async def test_a_failing_migration_is_rolled_back_whole(db_path: Path) -> None:
    # A stray table named like one the first migration creates: the migration fails midway,
    # after it has already created the tables before that one.
    db_path.parent.mkdir(parents=True)
    with raw(db_path) as db:
        db.execute("CREATE TABLE inbox (stray INTEGER)")
        db.commit()

    with pytest.raises(StoreError, match="cannot open"):
        async with open_store(url(db_path)):
            pytest.fail("opened")

    assert query(db_path, "PRAGMA user_version") == [(0,)]
    tables = {
        name for (name,) in query(db_path, "SELECT name FROM sqlite_master WHERE type = 'table'")
    }
    assert tables == {"inbox"}


async def test_an_unsupported_url_is_refused(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="unsupported"):
        async with open_store("postgresql://localhost/shelfsync"):
            pytest.fail("opened")


async def test_an_unopenable_file_is_a_store_error(tmp_path: Path) -> None:
    not_a_db = tmp_path / "garbage.db"
    not_a_db.write_bytes(b"this is not a sqlite database, not even close" * 100)
    with pytest.raises(StoreError):
        async with open_store(url(not_a_db)):
            pytest.fail("opened")


# -- cursors, pause flag, last success --------------------------------------------------------


async def test_a_new_store_is_empty(db_path: Path) -> None:
    async with open_store(url(db_path)) as store:
        assert await store.stream_states("shop") == {}
        assert await store.channel_starts(["shop"]) == {
            "shop": ChannelStart(streams={}, paused=False, webhooks=[])
        }
        assert await store.pending_webhooks("shop") == []
        assert await store.pending_writes("shop", 10) == []
        assert await store.open_exceptions() == {}


async def test_reopening_keeps_cursors_paused_flag_and_last_success(db_path: Path) -> None:
    cursor = datetime(2026, 2, 28, 23, 59, 59, 123456, tzinfo=timezone(timedelta(hours=2)))
    async with open_store(url(db_path)) as store:
        await store.commit_page("shop", "orders", [record("1", cursor)], cursor, T0)
        await store.commit_page("shop", "products", [], None, T0)
        await store.record_success("shop", "orders", T0)
        await store.set_paused("shop", True)
        await store.set_paused("other", False)

    async with open_store(url(db_path)) as store:
        states = await store.stream_states("shop")
        assert states == {
            "orders": StreamState(stream="orders", cursor=cursor, last_success_at=T0),
            "products": StreamState(stream="products", cursor=None, last_success_at=None),
        }
        orders = states["orders"]
        assert orders.cursor is not None and orders.cursor.utcoffset() is not None
        starts = await store.channel_starts(["shop", "other"])
        assert (starts["shop"].paused, starts["other"].paused) == (True, False)
        assert await store.stream_states("other") == {}

        await store.set_paused("shop", False)
    async with open_store(url(db_path)) as store:
        assert (await store.channel_starts(["shop"]))["shop"].paused is False


async def test_channel_starts_reads_every_named_channel_at_once(db_path: Path) -> None:
    async with open_store(url(db_path)) as store:
        await store.commit_page("a", "orders", [], T0, T0)
        await store.record_success("b", "products", T0)
        await store.set_paused("b", True)
        first = await store.accept_webhook("a", webhook("wh-1", body=b'{"n": 1}'), T0)
        second = await store.accept_webhook("a", webhook("wh-2", streams=("products",)), T0)
        done = await store.accept_webhook("b", webhook("wh-3"), T0)
        unnamed = await store.accept_webhook("c", webhook("wh-4"), T0)
        assert None not in (first, second, done, unnamed)
        assert done is not None
        await store.mark_processed([done], T0)

        starts = await store.channel_starts(["a", "b", "new"])

        assert starts == {
            "a": ChannelStart(
                streams={"orders": StreamState("orders", cursor=T0, last_success_at=None)},
                paused=False,
                webhooks=await store.pending_webhooks("a"),
            ),
            "b": ChannelStart(
                streams={"products": StreamState("products", cursor=None, last_success_at=T0)},
                paused=True,
                webhooks=[],
            ),
            "new": ChannelStart(streams={}, paused=False, webhooks=[]),
        }
        assert [item.id for item in starts["a"].webhooks] == [first, second]
        assert await store.channel_starts([]) == {}


async def test_commit_page_and_record_success_keep_each_others_columns(db_path: Path) -> None:
    async with open_store(url(db_path)) as store:
        await store.record_success("shop", "orders", T0)
        assert (await store.stream_states("shop"))["orders"] == StreamState(
            stream="orders", cursor=None, last_success_at=T0
        )
        await store.commit_page("shop", "orders", [], T0 - timedelta(hours=1), T0)
        await store.record_success("shop", "orders", T0 + timedelta(hours=1))
        assert (await store.stream_states("shop"))["orders"] == StreamState(
            stream="orders",
            cursor=T0 - timedelta(hours=1),
            last_success_at=T0 + timedelta(hours=1),
        )


async def test_cursors_are_per_channel_and_stream(db_path: Path) -> None:
    async with open_store(url(db_path)) as store:
        await store.commit_page("a", "orders", [], T0, T0)
        await store.commit_page("a", "products", [], T0 + timedelta(seconds=1), T0)
        await store.commit_page("b", "orders", [], T0 + timedelta(seconds=2), T0)
        a = await store.stream_states("a")
        b = await store.stream_states("b")
    assert {s: st.cursor for s, st in a.items()} == {
        "orders": T0,
        "products": T0 + timedelta(seconds=1),
    }
    assert {s: st.cursor for s, st in b.items()} == {"orders": T0 + timedelta(seconds=2)}


# -- commit_page: inbox rows and cursor in one transaction ------------------------------------


async def test_commit_page_writes_inbox_rows_and_the_cursor(db_path: Path) -> None:
    page = [record("o-1", T0, b'{"id": 1}'), record("o-2", T0 + timedelta(minutes=1), b'{"id": 2}')]
    async with open_store(url(db_path)) as store:
        await store.commit_page("shop", "orders", page, T0 + timedelta(minutes=1), T0)
        # Committed when it returns: visible to another connection while the store is open.
        rows = query(
            db_path,
            "SELECT channel, source, stream, topic, entity, body, processed_at FROM inbox"
            " ORDER BY id",
        )
        assert rows == [
            ("shop", "poll", "orders", "orders", "o-1", b'{"id": 1}', None),
            ("shop", "poll", "orders", "orders", "o-2", b'{"id": 2}', None),
        ]
        assert query(db_path, "SELECT channel, stream, value FROM cursors") == [
            ("shop", "orders", (T0 + timedelta(minutes=1)).isoformat())
        ]
        # Polled records are not webhooks.
        assert await store.pending_webhooks("shop") == []


async def test_a_record_read_again_unchanged_is_not_stored_again(db_path: Path) -> None:
    first = [record("o-1", T0, b'{"v": 1}'), record("o-2", T0, b'{"v": 1}')]
    # The overlap window reads o-1 again as it was, and o-2 changed; a snapshot read gives
    # o-1 a new replication value with the same body: still the same version.
    again = [record("o-1", T0 + timedelta(minutes=1), b'{"v": 1}'), record("o-2", T0, b'{"v": 2}')]
    back = [record("o-2", T0, b'{"v": 1}')]
    async with open_store(url(db_path)) as store:
        assert await store.commit_page("shop", "orders", first, T0, T0) == 2
        assert await store.commit_page("shop", "orders", again, T0, T0) == 1
        # Changed back to an earlier body: a new version, since the newest stored differs.
        assert await store.commit_page("shop", "orders", back, T0, T0) == 1
        # The same body on another channel or stream is its own record.
        assert await store.commit_page("shop", "products", first[:1], T0, T0) == 1
        assert await store.commit_page("shop2", "orders", first[:1], T0, T0) == 1
        # A fetch is always stored: an operator who names an order wants it decided again.
        assert await store.commit_fetched("shop", "orders", first[:1], T0) == 1
    assert query(db_path, "SELECT channel, stream, entity, body FROM inbox ORDER BY id") == [
        ("shop", "orders", "o-1", b'{"v": 1}'),
        ("shop", "orders", "o-2", b'{"v": 1}'),
        ("shop", "orders", "o-2", b'{"v": 2}'),
        ("shop", "orders", "o-2", b'{"v": 1}'),
        ("shop", "products", "o-1", b'{"v": 1}'),
        ("shop2", "orders", "o-1", b'{"v": 1}'),
        ("shop", "orders", "o-1", b'{"v": 1}'),
    ]


async def test_a_failing_commit_page_writes_nothing(db_path: Path) -> None:
    old_cursor = T0
    async with open_store(url(db_path)) as store:
        await store.commit_page("shop", "orders", [record("o-1", T0)], old_cursor, T0)
        # The second record's NULL body violates inbox.body NOT NULL: the insert fails midway,
        # after the first record of the page has been inserted.
        bad_page = [
            record("o-2", T0 + timedelta(minutes=1)),
            record("o-3", T0 + timedelta(minutes=2), body=None),
            record("o-4", T0 + timedelta(minutes=3)),
        ]
        with pytest.raises(sqlite3.IntegrityError):
            await store.commit_page("shop", "orders", bad_page, T0 + timedelta(minutes=3), T0)

        assert query(db_path, "SELECT entity FROM inbox ORDER BY id") == [("o-1",)]
        assert (await store.stream_states("shop"))["orders"].cursor == old_cursor

        # The failed transaction was rolled back, not left open: the store still works.
        good_page = [record("o-2", T0 + timedelta(minutes=1))]
        await store.commit_page("shop", "orders", good_page, T0 + timedelta(minutes=1), T0)
        assert (await store.stream_states("shop"))["orders"].cursor == T0 + timedelta(minutes=1)

    assert query(db_path, "SELECT entity FROM inbox ORDER BY id") == [("o-1",), ("o-2",)]


async def test_a_failing_first_commit_page_creates_no_cursor(db_path: Path) -> None:
    async with open_store(url(db_path)) as store:
        bad_page = [record("o-1", T0), record("o-2", T0, body=None)]
        with pytest.raises(sqlite3.IntegrityError):
            await store.commit_page("shop", "orders", bad_page, T0, T0)
        assert await store.stream_states("shop") == {}
    assert query(db_path, "SELECT count(*) FROM inbox") == [(0,)]
    assert query(db_path, "SELECT count(*) FROM cursors") == [(0,)]


async def test_transactions_waiting_together_commit_as_one_group_each_with_its_outcome(
    db_path: Path,
) -> None:
    store = await SqliteStore.open(str(db_path))
    commits: list[str] = []
    store._db.set_trace_callback(  # the store's own connection: its statements, as run
        lambda statement: commits.append(statement) if statement == "COMMIT" else None
    )
    outcomes: dict[str, object] = {}

    async def run(name: str, transaction: Callable[[], Awaitable[object]]) -> None:
        try:
            outcomes[name] = await transaction()
        except sqlite3.IntegrityError as exc:
            outcomes[name] = exc

    bad_page = [record("o-2", T0), record("o-3", T0, body=None)]
    try:
        async with trio.open_nursery() as nursery:
            # The first commits alone; the others wait for it and then commit together.
            nursery.start_soon(
                run, "first", lambda: store.accept_webhook("shop", webhook("wh-0"), T0)
            )
            nursery.start_soon(
                run,
                "good page",
                lambda: store.commit_page("shop", "orders", [record("o-1", T0)], T0, T0),
            )
            nursery.start_soon(
                run, "bad page", lambda: store.commit_page("bc", "orders", bad_page, T0, T0)
            )
            nursery.start_soon(
                run, "webhook", lambda: store.accept_webhook("shop", webhook("wh-1"), T0)
            )
    finally:
        await store.aclose()

    assert len(commits) == 2
    assert outcomes["good page"] == 1
    assert isinstance(outcomes["bad page"], sqlite3.IntegrityError)
    assert isinstance(outcomes["webhook"], int)
    # Only the failed transaction was undone: nothing of its page, not even its first record.
    assert query(db_path, "SELECT channel, entity FROM inbox WHERE source = 'poll'") == [
        ("shop", "o-1")
    ]
    assert query(db_path, "SELECT channel FROM cursors") == [("shop",)]
    assert query(db_path, "SELECT count(*) FROM inbox WHERE source = 'webhook'") == [(2,)]


async def test_a_caller_cancelled_before_its_group_begins_leaves_nothing_done(
    db_path: Path,
) -> None:
    async with open_store(url(db_path)) as store:
        with raw(db_path) as other_writer:
            # Another writer holds the database: the first caller's group waits in its thread.
            other_writer.execute("BEGIN IMMEDIATE")
            async with trio.open_nursery() as nursery:
                nursery.start_soon(store.commit_page, "shop", "orders", [record("o-1", T0)], T0, T0)
                await trio.testing.wait_all_tasks_blocked()
                with trio.move_on_after(0) as waited:
                    await store.commit_page("shop", "orders", [record("o-2", T0)], T0, T0)
                other_writer.rollback()
        assert waited.cancelled_caught
        # The store goes on as before.
        await store.commit_page("shop", "orders", [record("o-3", T0)], T0, T0)
    assert query(db_path, "SELECT entity FROM inbox ORDER BY id") == [("o-1",), ("o-3",)]


# -- webhooks ---------------------------------------------------------------------------------


async def test_accept_webhook_stores_once_per_webhook_id(db_path: Path) -> None:
    async with open_store(url(db_path)) as store:
        event = webhook("wh-1", body=b'{"n": 1}', entity="o-1")
        first = await store.accept_webhook("shop", event, T0)
        assert isinstance(first, int)
        again = await store.accept_webhook("shop", webhook("wh-1", body=b'{"n": 2}'), T0)
        assert again is None

        assert await store.pending_webhooks("shop") == [
            InboxItem(id=first, streams=("orders",), entity="o-1")
        ]
        assert query(db_path, "SELECT topic, body FROM inbox") == [("orders/create", b'{"n": 1}')]
        assert query(db_path, "SELECT count(*) FROM inbox") == [(1,)]
        assert query(db_path, "SELECT count(*) FROM seen_webhooks") == [(1,)]

    # Still a redelivery after a restart.
    async with open_store(url(db_path)) as store:
        assert await store.accept_webhook("shop", webhook("wh-1"), T0) is None
        assert len(await store.pending_webhooks("shop")) == 1


async def test_webhooks_arriving_together_are_stored_in_one_group_commit(db_path: Path) -> None:
    store = await SqliteStore.open(str(db_path))
    commits: list[str] = []
    store._db.set_trace_callback(  # the store's own connection: its statements, as run
        lambda statement: commits.append(statement) if statement == "COMMIT" else None
    )
    got: dict[str, list[int | None]] = {}

    async def deliver(webhook_id: str) -> None:
        inbox_id = await store.accept_webhook("shop", webhook(webhook_id), T0)
        got.setdefault(webhook_id, []).append(inbox_id)

    try:
        async with trio.open_nursery() as nursery:
            # wh-3 twice in the same burst: a redelivery that overtook nothing.
            for webhook_id in ["wh-0", "wh-1", "wh-2", "wh-3", "wh-3", "wh-4", "wh-5"]:
                nursery.start_soon(deliver, webhook_id)
    finally:
        await store.aclose()

    stored = [i for ids in got.values() for i in ids if i is not None]
    assert len(stored) == len(set(stored)) == 6
    assert sorted(got["wh-3"], key=lambda i: i is None)[1] is None
    # The first caller commits alone; the six that came while it did, together.
    assert len(commits) == 2
    assert query(db_path, "SELECT count(*) FROM inbox") == [(6,)]


async def test_a_caller_cancelled_while_its_group_commits_leaves_the_others_answered(
    db_path: Path,
) -> None:
    async with open_store(url(db_path)) as store:
        answered: list[int | None] = []

        async def gives_up(webhook_id: str) -> None:
            with trio.move_on_after(0):
                await store.accept_webhook("shop", webhook(webhook_id), T0)

        async def waits(webhook_id: str) -> None:
            answered.append(await store.accept_webhook("shop", webhook(webhook_id), T0))

        async with trio.open_nursery() as nursery:
            nursery.start_soon(gives_up, "wh-0")
            for n in range(1, 4):
                nursery.start_soon(waits, f"wh-{n}")
        assert len(answered) == 3 and None not in answered
        # What was stored stays stored: a redelivery of the one that gave up is a duplicate,
        # or stored now if it never was.
        redelivered = await store.accept_webhook("shop", webhook("wh-0"), T0)
        assert query(db_path, "SELECT count(*) FROM inbox") == [(4,)]
        assert redelivered is None or redelivered not in answered


async def test_webhook_ids_are_per_channel(db_path: Path) -> None:
    async with open_store(url(db_path)) as store:
        a = await store.accept_webhook("a", webhook("wh-1"), T0)
        b = await store.accept_webhook("b", webhook("wh-1"), T0)
        assert a is not None and b is not None and a != b
        assert [item.id for item in await store.pending_webhooks("a")] == [a]
        assert [item.id for item in await store.pending_webhooks("b")] == [b]


async def test_a_webhook_may_name_several_streams(db_path: Path) -> None:
    async with open_store(url(db_path)) as store:
        both = await store.accept_webhook("shop", webhook("wh-1", streams=("a", "b")), T0)
        assert both is not None
        assert await store.pending_webhooks("shop") == [InboxItem(id=both, streams=("a", "b"))]


async def test_a_webhook_naming_no_stream_is_stored_processed(db_path: Path) -> None:
    # Nothing is to be read for it: no actor need be told, nor mark it processed later.
    async with open_store(url(db_path)) as store:
        none = await store.accept_webhook("shop", webhook("wh-1", streams=()), T0)
        assert none is not None
        assert await store.pending_webhooks("shop") == []
        assert await store.accept_webhook("shop", webhook("wh-1", streams=()), T0) is None


async def test_pending_webhooks_in_order_and_mark_processed(db_path: Path) -> None:
    async with open_store(url(db_path)) as store:
        ids = [await store.accept_webhook("shop", webhook(f"wh-{n}"), T0) for n in range(4)]
        assert all(isinstance(i, int) for i in ids)
        int_ids = [i for i in ids if i is not None]
        assert [item.id for item in await store.pending_webhooks("shop")] == int_ids

        await store.mark_processed([int_ids[0], int_ids[2]], T0 + timedelta(seconds=5))
        assert [item.id for item in await store.pending_webhooks("shop")] == [
            int_ids[1],
            int_ids[3],
        ]
        processed = query(
            db_path, "SELECT id, processed_at FROM inbox WHERE processed_at IS NOT NULL ORDER BY id"
        )
        assert processed == [
            (int_ids[0], (T0 + timedelta(seconds=5)).isoformat()),
            (int_ids[2], (T0 + timedelta(seconds=5)).isoformat()),
        ]

        await store.mark_processed([], T0)  # nothing to do is fine
        await store.mark_processed([int_ids[1], int_ids[3]], T0)
        assert await store.pending_webhooks("shop") == []

        # A processed webhook's id is still remembered.
        assert await store.accept_webhook("shop", webhook("wh-0"), T0) is None


# -- outbox: enqueue, pending, begin, finish --------------------------------------------------


async def test_enqueue_write_is_idempotent_by_key(db_path: Path) -> None:
    async with open_store(url(db_path)) as store:
        first = await store.enqueue_write("shop", write("k-1", b"first"), T0)
        second = await store.enqueue_write("shop", write("k-1", b"second"), T0 + timedelta(days=1))
        assert first == second
        assert await store.pending_writes("shop", 10) == [
            PendingWrite(id=first, write=write("k-1", b"first"), attempts=0)
        ]
        other = await store.enqueue_write("shop", write("k-2"), T0)
        assert other != first
        # Keys are per channel.
        elsewhere = await store.enqueue_write("other", write("k-1"), T0)
        assert elsewhere not in (first, other)
    assert query(db_path, "SELECT count(*) FROM outbox") == [(3,)]


async def test_enqueue_write_returns_the_existing_id_after_a_restart(db_path: Path) -> None:
    async with open_store(url(db_path)) as store:
        first = await store.enqueue_write("shop", write("k-1"), T0)
    async with open_store(url(db_path)) as store:
        assert await store.enqueue_write("shop", write("k-1"), T0) == first


async def test_pending_writes_oldest_first_with_limit_and_after_id(db_path: Path) -> None:
    async with open_store(url(db_path)) as store:
        ids = [await store.enqueue_write("shop", write(f"k-{n}"), T0) for n in range(5)]
        await store.enqueue_write("other", write("k-x"), T0)
        assert ids == sorted(ids)

        everything = await store.pending_writes("shop", 100)
        assert [p.id for p in everything] == ids
        assert [p.write.key for p in everything] == [f"k-{n}" for n in range(5)]

        assert [p.id for p in await store.pending_writes("shop", 2)] == ids[:2]
        assert [p.id for p in await store.pending_writes("shop", 2, after_id=ids[1])] == ids[2:4]
        assert [p.id for p in await store.pending_writes("shop", 10, after_id=ids[3])] == ids[4:]
        assert await store.pending_writes("shop", 10, after_id=ids[4]) == []
        assert await store.pending_writes("shop", 0) == []


async def test_begin_and_finish_write_audit_and_mark_done(db_path: Path) -> None:
    async with open_store(url(db_path)) as store:
        wid = await store.enqueue_write("shop", write("k-1", b"payload"), T0)
        other = await store.enqueue_write("shop", write("k-2"), T0)
        [pending, _] = await store.pending_writes("shop", 10)
        assert pending.id == wid and pending.attempts == 0

        await store.begin_write("shop", pending, T0 + timedelta(seconds=1))
        [again, _] = await store.pending_writes("shop", 10)
        assert again.id == wid and again.attempts == 1  # counted, still pending

        await store.begin_write("shop", again, T0 + timedelta(seconds=2))
        await store.finish_write(
            "shop",
            again,
            WriteResult(remote_id="R-9", summary="set to 1"),
            T0 + timedelta(seconds=3),
        )
        assert [p.id for p in await store.pending_writes("shop", 10)] == [other]

        assert query(
            db_path,
            "SELECT attempts, done_at IS NOT NULL, remote_id FROM outbox WHERE id = ?",
            (wid,),
        ) == [(2, 1, "R-9")]
        audit = query(
            db_path,
            "SELECT channel, action, idempotency_key, remote_id FROM audit ORDER BY id",
        )
        assert audit == [
            ("shop", "write.started", "k-1", None),
            ("shop", "write.started", "k-1", None),
            ("shop", "write.done", "k-1", "R-9"),
        ]
        results = [r for (r,) in query(db_path, "SELECT result FROM audit ORDER BY id")]
        assert results == ["attempt 1", "attempt 2", "set to 1"]

    # Done survives a restart.
    async with open_store(url(db_path)) as store:
        assert [p.id for p in await store.pending_writes("shop", 10)] == [other]


async def test_a_write_done_without_a_remote_id(db_path: Path) -> None:
    async with open_store(url(db_path)) as store:
        await store.enqueue_write("shop", write("k-1"), T0)
        [pending] = await store.pending_writes("shop", 10)
        await store.begin_write("shop", pending, T0)
        await store.finish_write("shop", pending, WriteResult(remote_id=None, summary="ok"), T0)
        assert await store.pending_writes("shop", 10) == []
    assert query(db_path, "SELECT action, remote_id FROM audit ORDER BY id") == [
        ("write.started", None),
        ("write.done", None),
    ]


# -- exceptions -------------------------------------------------------------------------------


def held(
    entity: str | None = "o-1",
    reason: ExceptionReason = "schema",
    *,
    channel: str = "shop",
    stream: str | None = "orders",
    kind: ExceptionKind = "record",
    detail: str = "d",
    payload: bytes | None = None,
) -> HeldException:
    return HeldException(channel, stream, entity, reason, detail, payload, kind)


async def test_record_exception_merges_repeats(db_path: Path) -> None:
    async with open_store(url(db_path)) as store:
        for n in range(3):
            fault = held(detail=f"bad field, try {n}", payload=b"{}")
            await store.record_exception(fault, T0 + timedelta(minutes=n))
        assert await store.open_exceptions() == {("shop", "schema"): 1}

    rows = query(
        db_path,
        "SELECT channel, kind, stream, entity, reason, detail, attempts, first_seen, last_seen"
        " FROM exceptions",
    )
    assert rows == [
        (
            "shop",
            "record",
            "orders",
            "o-1",
            "schema",
            "bad field, try 2",
            3,
            T0.isoformat(),
            (T0 + timedelta(minutes=2)).isoformat(),
        )
    ]


async def test_record_exception_merges_repeats_without_stream_or_entity(db_path: Path) -> None:
    # NULL stream and entity must still match themselves (IS, not =).
    async with open_store(url(db_path)) as store:
        for _ in range(2):
            await store.record_exception(held(None, stream=None, kind="webhook"), T0)
        assert await store.open_exceptions() == {("shop", "schema"): 1}
    assert query(db_path, "SELECT attempts, payload FROM exceptions") == [(2, None)]


async def test_open_exceptions_of_writes_and_of_a_stream_are_listed_apart(
    db_path: Path,
) -> None:
    async with open_store(url(db_path)) as store:
        await store.record_exception(held("o-1", payload=b"o-1"), T0)
        await store.record_exception(held(None, stream=None, kind="webhook", payload=b"w"), T0)
        for key in ("shipment:9", "stock:1"):
            fault = held(key, "remote_validation", stream=None, kind="write", payload=key.encode())
            await store.record_exception(fault, T0)
        writes = await store.open_write_exceptions()
        orders = await store.open_stream_exceptions("orders")
        products = await store.open_stream_exceptions("products")
    assert [(h.channel, h.kind, h.entity, h.payload) for h in writes] == [
        ("shop", "write", "shipment:9", b"shipment:9"),
        ("shop", "write", "stock:1", b"stock:1"),
    ]
    assert [(h.stream, h.entity, h.reason) for h in orders] == [("orders", "o-1", "schema")]
    assert products == []


async def test_open_exceptions_counts_distinct_failures_per_channel_and_reason(
    db_path: Path,
) -> None:
    async with open_store(url(db_path)) as store:
        await store.record_exception(held("o-1"), T0)
        await store.record_exception(held("o-1"), T0)  # repeat: merged
        await store.record_exception(held("o-2"), T0)  # another entity
        await store.record_exception(held("o-1", "too_many_lines"), T0)  # another reason
        await store.record_exception(held(None), T0)  # no entity
        await store.record_exception(held("o-1", channel="b"), T0)  # another channel
        expected = {("shop", "schema"): 3, ("shop", "too_many_lines"): 1, ("b", "schema"): 1}
        assert await store.open_exceptions() == expected

    async with open_store(url(db_path)) as store:
        assert await store.open_exceptions() == expected


async def test_a_resolved_exception_is_not_merged_into(db_path: Path) -> None:
    async with open_store(url(db_path)) as store:
        await store.record_exception(held("o-1"), T0)
        [entry] = await store.exceptions(ExceptionQuery())
        assert await store.discard_exception(entry.id, T0) == entry
        assert await store.discard_exception(entry.id, T0) is None  # closed already
        assert await store.open_exceptions() == {}
        await store.record_exception(held("o-1"), T0)
        assert await store.open_exceptions() == {("shop", "schema"): 1}
        every = await store.exceptions(ExceptionQuery(include_resolved=True))
    assert [(e.attempts, e.resolution) for e in every] == [(1, "discarded"), (1, None)]


async def test_exceptions_are_listed_by_channel_and_reason_and_shown_with_every_field(
    db_path: Path,
) -> None:
    async with open_store(url(db_path)) as store:
        await store.record_exception(held("o-1", payload=b'{"a": 1}'), T0)
        await store.record_exception(held("o-2", "too_many_lines"), T0 + timedelta(seconds=1))
        await store.record_exception(held("o-3", channel="b"), T0 + timedelta(seconds=2))
        by_channel = await store.exceptions(ExceptionQuery(channel="shop"))
        by_reason = await store.exceptions(ExceptionQuery(reason="schema"))
        first = await store.exception(by_channel[0].id)
        assert await store.exception(999) is None
    assert [e.entity for e in by_channel] == ["o-1", "o-2"]
    assert [e.entity for e in by_reason] == ["o-1", "o-3"]
    assert first is not None
    assert (first.kind, first.payload, first.first_seen, first.resolved_at) == (
        "record",
        b'{"a": 1}',
        T0,
        None,
    )


async def test_a_failed_write_is_requeued_under_its_key_and_resolved_once_done(
    db_path: Path,
) -> None:
    async with open_store(url(db_path)) as store:
        await store.enqueue_write("shop", write("k-1"), T0)
        [pending] = await store.pending_writes("shop", 10)
        await store.begin_write("shop", pending, T0)
        refused = held("k-1", "remote_validation", stream=None, kind="write")
        await store.record_exception(refused, T0)
        await store.fail_write("shop", pending, "refused", T0)
        assert await store.pending_writes("shop", 10) == []
        [entry] = await store.exceptions(ExceptionQuery())
        assert await store.requeue_write(entry.id, T0 + timedelta(seconds=1))
        [again] = await store.pending_writes("shop", 10)
        assert (again.id, again.attempts, again.write) == (pending.id, 0, pending.write)
        assert await store.open_exceptions() == {("shop", "remote_validation"): 1}
        result = WriteResult(remote_id="r-1", summary="ok")
        await store.finish_write("shop", again, result, T0 + timedelta(seconds=2))
        [closed] = await store.exceptions(ExceptionQuery(include_resolved=True))
        actions = [a.action for a in await store.audit_entries(AuditQuery(entity="k-1"))]
    assert closed.resolution == "resolved"
    assert actions == [
        "write.started",
        "write.failed",
        "exception.replayed",
        "write.done",
    ]


@contextmanager
def at_version_2(db_path: Path) -> Iterator[sqlite3.Connection]:
    """A state file as shelfsync left it before migration 3, open for a test to fill."""
    db_path.parent.mkdir(parents=True)
    with raw(db_path) as db:
        for script in MIGRATIONS[:2]:
            db.executescript(script)
        db.execute("PRAGMA user_version = 2")
        yield db


async def test_a_webhook_stored_before_streams_were_a_list_keeps_its_stream(
    db_path: Path,
) -> None:
    with at_version_2(db_path) as db:
        rows = [("wh", "orders", "orders/create"), ("wh", None, "app/uninstalled")]
        db.executemany(
            "INSERT INTO inbox (channel, source, stream, topic, body, received_at)"
            " VALUES ('shop', ?, ?, ?, X'7B7D', '2026-03-01T12:00:00+00:00')",
            [("webhook", stream, topic) for _, stream, topic in rows],
        )
        db.commit()
    async with open_store(url(db_path)) as store:
        assert [i.streams for i in await store.pending_webhooks("shop")] == [("orders",), ()]


async def test_exceptions_held_before_they_had_kinds_are_given_the_kind_their_replay_needs(
    db_path: Path,
) -> None:
    with at_version_2(db_path) as db:
        for key in ("shipment:9", "stock:1"):
            db.execute(
                "INSERT INTO outbox (channel, kind, idempotency_key, payload, created_at)"
                " VALUES ('shop', 'k', ?, X'7B7D', '2026-03-01T12:00:00+00:00')",
                (key,),
            )
        rows = [
            (None, "shipment:9", "remote_validation", b"{}"),
            (None, "stock:1", "retries_exhausted", b"{}"),
            (None, "order", "schema", b"{}"),  # a webhook of the wrong shape
            ("orders", None, "retries_exhausted", None),  # a read out of retries
            ("orders", "o-1", "schema", b"{}"),  # a record of the wrong shape
            ("orders", "o-2", "oversell", b"{}"),
            (None, "SKU-1", "review_threshold", b"{}"),
        ]
        db.executemany(
            "INSERT INTO exceptions (channel, stream, entity, reason, detail, payload,"
            " first_seen, last_seen) VALUES ('shop', ?, ?, ?, 'd', ?, ?, ?)",
            [(*row, "2026-03-01T12:00:00+00:00", "2026-03-01T12:00:00+00:00") for row in rows],
        )
        db.commit()
    async with open_store(url(db_path)) as store:
        kinds = {
            e.reason + " " + (e.entity or "-"): e.kind
            for e in await store.exceptions(ExceptionQuery())
        }
    assert kinds == {
        "remote_validation shipment:9": "write",
        "retries_exhausted stock:1": "stock",
        "schema order": "webhook",
        "retries_exhausted -": "read",
        "schema o-1": "record",
        "oversell o-2": "order",
        "review_threshold SKU-1": "sku",
    }


async def test_a_stock_write_not_begun_takes_in_a_newer_one_and_one_begun_never(
    db_path: Path,
) -> None:
    later = T0 + timedelta(minutes=5)
    async with open_store(url(db_path)) as store:
        first = QueuedWrite("shop", write("k-1", b"first"), caused_at=later)
        await store.apply_hub_changes(HubChanges(writes=[first]), T0)
        waiting = await store.unsent_write("shop", "inventory.set")
        assert waiting is not None and waiting.write == first.write
        assert await store.unsent_write("shop", "fulfillment.create") is None
        assert await store.unsent_write("elsewhere", "inventory.set") is None

        # Folded in: the entry keeps its key and place, and takes the payload and cause.
        both = QueuedWrite("shop", write("k-2", b"both"), caused_at=T0, replaces=waiting.id)
        await store.apply_hub_changes(HubChanges(writes=[both]), T0)
        [pending] = await store.pending_writes("shop", 10)
        assert (pending.id, pending.write.key, pending.write.payload) == (
            waiting.id,
            "k-1",
            b"both",
        )
        assert pending.caused_at == T0

        # What a drain begins is what is stored then, even if it read the entry before.
        assert await store.begin_write("shop", waiting, T0) == write("k-1", b"both")
        assert await store.unsent_write("shop", "inventory.set") is None

        # Begun: never changed again; the newer write is queued after it.
        third = QueuedWrite("shop", write("k-3", b"third"), replaces=waiting.id)
        await store.apply_hub_changes(HubChanges(writes=[third]), T0)
        assert [(p.write.key, p.write.payload) for p in await store.pending_writes("shop", 10)] == [
            ("k-1", b"both"),
            ("k-3", b"third"),
        ]
        newest = await store.unsent_write("shop", "inventory.set")
        assert newest is not None and newest.write.key == "k-3"
        audit = query(db_path, "SELECT action, idempotency_key, result FROM audit")
        assert audit == [("write.started", "k-1", "attempt 1")]


# -- the hub's catalog -------------------------------------------------------------------------


async def test_digests_and_provider_bundles_survive_a_reopen(db_path: Path) -> None:
    kit = [BundleComponent("A", 2), BundleComponent("B", 1)]
    async with open_store(url(db_path)) as store:
        first = HubChanges(
            digests=[ProductDigest("web", "A", "d1", 0), ProductDigest("outlet", "A", "d9", 0)],
            bundles=[ProviderBundle("KIT", kit), ProviderBundle("BOX", kit)],
        )
        await store.apply_hub_changes(first, T0)
        # One batch that changes a digest, redefines one bundle and undoes the other.
        second = HubChanges(
            digests=[ProductDigest("web", "A", "d2", 1)],
            bundles=[
                ProviderBundle("KIT", kit[:1]),
                ProviderBundle("BOX", kit[1:]),
                ProviderBundle("BOX", []),
            ],
        )
        await store.apply_hub_changes(second, T0 + timedelta(seconds=1))
    async with open_store(url(db_path)) as store:
        snapshot = await store.hub_snapshot()
    assert sorted(snapshot.digests, key=lambda d: d.channel) == [
        ProductDigest("outlet", "A", "d9", 0),
        ProductDigest("web", "A", "d2", 1),
    ]
    assert snapshot.bundles == [ProviderBundle("KIT", [BundleComponent("A", 2)])]


async def test_a_clean_run_of_a_stream_resolves_its_read_exception(db_path: Path) -> None:
    async with open_store(url(db_path)) as store:
        await store.record_exception(held(None, "retries_exhausted", kind="read"), T0)
        await store.record_exception(held("o-1"), T0)  # a record of that stream: stays open
        await store.record_success("shop", "orders", T0)
        assert await store.open_exceptions() == {("shop", "schema"): 1}


# -- audit ------------------------------------------------------------------------------------


async def test_holds_are_audited_once_when_they_open(db_path: Path) -> None:
    async with open_store(url(db_path)) as store:
        for _ in range(2):
            order_hold = held("o-1", "unmapped_ship_method", kind="order", detail="no map")
            await store.record_exception(order_hold, T0)
        await store.record_exception(held("o-2"), T0)  # not a hold: not audited
        entries = await store.audit_entries(AuditQuery())
    assert [(e.action, e.entity, e.summary, e.result) for e in entries] == [
        ("hold", "o-1", "unmapped_ship_method", "no map")
    ]


async def test_audit_is_filtered_by_channel_entity_and_time_newest_kept(db_path: Path) -> None:
    async with open_store(url(db_path)) as store:
        for n, (channel, key) in enumerate(
            [("a", "order:shopify:x:gid://O/1"), ("a", "shipment:77"), ("b", "product:SKU_1")]
        ):
            await store.enqueue_write(channel, write(key), T0)
            [pending] = await store.pending_writes(channel, 10, after_id=n)
            await store.begin_write(channel, pending, T0 + timedelta(hours=n))

        async def keys(**query: Any) -> list[str | None]:
            return [e.idempotency_key for e in await store.audit_entries(AuditQuery(**query))]

        assert await keys(channel="a") == ["order:shopify:x:gid://O/1", "shipment:77"]
        # An id is matched as a key's last part; a LIKE wildcard in it is taken literally.
        assert await keys(entity="gid://O/1") == ["order:shopify:x:gid://O/1"]
        assert await keys(entity="77") == ["shipment:77"]
        assert await keys(entity="SKU_1") == ["product:SKU_1"]
        assert await keys(entity="SKU%") == []
        assert await keys(since=T0 + timedelta(minutes=30)) == ["shipment:77", "product:SKU_1"]
        assert await keys(limit=1) == ["product:SKU_1"]


async def test_prune_audit_deletes_only_older_entries(db_path: Path) -> None:
    async with open_store(url(db_path)) as store:
        for n in range(3):
            await store.record_exception(
                held(f"o-{n}", "oversell", kind="order"), T0 + timedelta(days=n)
            )
        assert await store.prune_audit(T0 + timedelta(days=1)) == 1
        left = await store.audit_entries(AuditQuery())
    assert [e.entity for e in left] == ["o-1", "o-2"]


async def test_discarding_a_write_still_waiting_for_its_next_try_drops_it(db_path: Path) -> None:
    async with open_store(url(db_path)) as store:
        await store.enqueue_write("shop", write("shipment:9"), T0)
        await store.enqueue_write("shop", write("shipment:10"), T0)
        out_of_retries = held("shipment:9", "retries_exhausted", stream=None, kind="write")
        await store.record_exception(out_of_retries, T0)
        [entry] = await store.exceptions(ExceptionQuery())
        assert await store.discard_exception(entry.id, T0) is not None
        assert [p.write.key for p in await store.pending_writes("shop", 10)] == ["shipment:10"]
