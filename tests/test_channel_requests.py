"""How a channel actor turns requests to read into runs: bursts coalesce, a snapshot stream's
reads are spaced by what they cost, and a webhook naming its record is acted on by fetching
that record. Over the supervisor, on virtual time and a real SQLite file, with the fake
platform."""

from __future__ import annotations

import dataclasses
import sqlite3
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Sequence
from contextlib import aclosing
from datetime import datetime
from pathlib import Path

import pytest
import trio

from actors.channel import FETCH_AT_MOST
from actors.messages import DrainOutbox, InboundEvent, SyncNow
from connectors.base import (
    ConnectorContext,
    Page,
    RemoteWrite,
    StreamSpec,
    WebhookEvent,
    WriteResult,
)
from daemon.app import default_http_client, wall_clock
from daemon.config import Channel, DaemonConfig
from daemon.store import StateStore, open_store
from daemon.supervisor import Supervisor
from metrics import Metrics
from tests import fakeplatform
from tests.helpers import RecordingPlatform

FETCH = "fetch"
"""What :class:`TimedPlatform` records for a fetch of named records, in ``began`` and
``held``, beside the streams read."""
WRITE = "write"
"""What :class:`TimedPlatform` records for a write, in ``began`` and ``held``."""


class TimedConnector(fakeplatform.FakeConnector):
    """The fake connector, each read costing ``calls`` calls; a read of a ``held`` stream, a
    fetch when :data:`FETCH` is held, or a write when :data:`WRITE` is, once begun, waits until
    the test sets ``release``."""

    def __init__(self, context: ConnectorContext, platform: TimedPlatform) -> None:
        super().__init__(context)
        self._platform = platform

    async def read(self, stream: str, since: datetime | None) -> AsyncGenerator[Page, None]:
        for _ in range(self._platform.calls - 1):
            # The read's earlier calls: each goes through the gate (its pace is what the tests
            # measure) and brings back nothing they look at.
            async with self.context.gate.call():
                pass
        await self._begin(stream)
        async with aclosing(super().read(stream, since)) as pages:
            async for page in pages:
                yield page

    async def fetch(self, stream: str, keys: Sequence[str], *, as_read: bool = False) -> Page:
        await self._begin(FETCH)
        return await super().fetch(stream, keys, as_read=as_read)

    async def write(self, remote_write: RemoteWrite) -> WriteResult:
        await self._begin(WRITE)
        return await super().write(remote_write)

    async def _begin(self, work: str) -> None:
        self._platform.begin(work)
        if work in self._platform.held:
            await self._platform.release.wait()


class TimedPlatform(RecordingPlatform):
    def __init__(self, *, calls: int = 1, streams: tuple[StreamSpec, ...] | None = None) -> None:
        super().__init__()
        self.calls = calls
        self.began: list[tuple[str, float]] = []
        self.held: set[str] = set()
        self.release = trio.Event()
        self._began_more = trio.Event()
        self.spec = dataclasses.replace(
            self.spec,
            streams=streams or self.spec.streams,
            requests_per_second=1.0,
            burst=100.0,
            fetches=frozenset({"orders"}),
        )

    def _create(self, context: ConnectorContext) -> fakeplatform.FakeConnector:
        connector = TimedConnector(context, self)
        self.connectors.append(connector)
        return connector

    def begin(self, work: str) -> None:
        """Note that ``work`` (a stream's read, or :data:`FETCH`) has begun now."""
        self.began.append((work, trio.current_time()))
        self._began_more.set()
        self._began_more = trio.Event()

    async def until(self, done: Callable[[], bool]) -> None:
        """Until ``done()`` holds, looked at each time some work begins."""
        while not done():
            await self._began_more.wait()

    def reads_of(self, stream: str) -> list[float]:
        return [at for read, at in self.began if read == stream]

    def work(self) -> list[str]:
        """The reads and fetches begun, in order."""
        return [work for work, _ in self.began]


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[StateStore]:
    # Commits without fsync: these tests time the actor on a clock that jumps once every task
    # has waited 50 ms of real time, and a disk's fsync can stall for longer than that (then
    # a commit would look like the next schedule being due). Durability is test_store's.
    async with open_store(f"sqlite:///{tmp_path}/state.db", synchronous="normal") as opened:
        yield opened


async def start(nursery: trio.Nursery, store: StateStore, *, mailbox_size: int = 64) -> Supervisor:
    supervisor = Supervisor(
        store=store,
        metrics=Metrics("test"),
        settings=DaemonConfig(mailbox_size=mailbox_size),
        now=wall_clock,
        http_client=default_http_client,
    )
    await nursery.start(supervisor.run)
    return supervisor


async def started_and_settled(
    nursery: trio.Nursery, store: StateStore, platform: TimedPlatform, *, mailbox_size: int = 64
) -> Supervisor:
    """``platform``'s channel started, once the schedules' first runs (two) are done."""
    supervisor = await start(nursery, store, mailbox_size=mailbox_size)
    supervisor.start_channel(platform.channel("shop"))
    await settled(platform, 2)
    return supervisor


async def webhook(
    store: StateStore, supervisor: Supervisor, n: int, *streams: str, entity: str | None = None
) -> None:
    """A verified webhook naming ``streams`` (and the record ``entity``), stored and handed to
    the actor as the daemon does."""
    event = WebhookEvent(f"wh-{n}", "t", streams, b"{}", entity)
    inbox_id = await store.accept_webhook("shop", event, wall_clock())
    assert inbox_id is not None
    assert await supervisor.deliver("shop", InboundEvent(inbox_id, streams, entity))


async def first_read_held(
    nursery: trio.Nursery, store: StateStore
) -> tuple[TimedPlatform, Supervisor]:
    """A channel just started, its first read (of products) begun and held."""
    platform = TimedPlatform()
    platform.held = {"products"}
    supervisor = await start(nursery, store)
    supervisor.start_channel(platform.channel("shop"))
    await platform.until(lambda: bool(platform.began))
    return platform, supervisor


async def settled(platform: TimedPlatform, reads: int) -> None:
    """Wait until ``reads`` reads have begun, then a minute more for any other to come."""
    await platform.until(lambda: len(platform.began) >= reads)
    await a_minute_for_anything_else()


async def a_minute_for_anything_else() -> None:
    """A minute of the tests' virtual clock (no real time): the actor does all it can, its
    SQLite commits included, before a test says what did not happen."""
    await trio.sleep(60)


async def test_requests_while_a_read_waits_join_it_and_while_it_runs_make_one_more(
    store: StateStore, virtual_clock: trio.abc.Clock, nursery: trio.Nursery
) -> None:
    # Both schedules ask at start: products runs (held), orders waits behind it.
    platform, supervisor = await first_read_held(nursery, store)
    assert platform.began[0][0] == "products"
    for n in range(3):
        await webhook(store, supervisor, n, "orders")
    await supervisor.deliver("shop", SyncNow(stream="orders"))
    # While products runs: a change may come after the part it has read, so one more run.
    for n in range(3, 6):
        await webhook(store, supervisor, n, "products")
    await supervisor.deliver("shop", SyncNow(stream="products"))
    platform.release.set()
    await settled(platform, 3)
    assert [stream for stream, _ in platform.began] == ["products", "orders", "products"]
    assert await store.pending_webhooks("shop") == []


async def test_webhooks_told_to_a_full_mailbox_are_still_acted_on(
    store: StateStore, virtual_clock: trio.abc.Clock, nursery: trio.Nursery
) -> None:
    platform = TimedPlatform()
    supervisor = await started_and_settled(nursery, store, platform, mailbox_size=1)
    platform.held = {"products"}
    assert await supervisor.deliver("shop", SyncNow(stream="products"))
    await platform.until(lambda: len(platform.began) == 3)
    slot = supervisor.slot("shop")
    assert slot is not None
    stored = [
        await store.accept_webhook(
            "shop", WebhookEvent(f"wh-{n}", "t", ("orders",), b"{}"), wall_clock()
        )
        for n in range(4)
    ]
    refused = 0
    for inbox_id in stored:  # told as the daemon tells an actor: never waiting for room
        assert inbox_id is not None
        try:
            slot.send.send_nowait(InboundEvent(inbox_id, ("orders",), None))
        except trio.WouldBlock:
            refused += 1
    assert refused == 2  # one taken by the waiting actor, one in the mailbox of one
    platform.release.set()
    await settled(platform, 4)
    assert "orders" in platform.work()[3:]
    assert await store.pending_webhooks("shop") == []


async def test_a_webhook_naming_two_streams_is_processed_once_both_are_read(
    store: StateStore, virtual_clock: trio.abc.Clock, nursery: trio.Nursery
) -> None:
    platform = TimedPlatform()
    supervisor = await started_and_settled(nursery, store, platform)
    platform.held = {"orders"}
    await webhook(store, supervisor, 1, "products", "orders")
    await platform.until(lambda: len(platform.began) >= 4)
    # products read, orders begun and not done: the event waits for it.
    assert [i.streams for i in await store.pending_webhooks("shop")] == [("products", "orders")]
    platform.release.set()
    await settled(platform, 4)
    assert [stream for stream, _ in platform.began[2:]] == ["products", "orders"]
    assert await store.pending_webhooks("shop") == []


async def test_a_costly_snapshot_read_stretches_its_schedule_and_holds_webhooks_back(
    store: StateStore, virtual_clock: trio.abc.Clock, nursery: trio.Nursery
) -> None:
    # 10 calls a read at 1 call a second: spaced 10 / (0.2 * 1) = 50 s, not the 30 s schedule.
    stock = StreamSpec(name="stock", default_schedule_seconds=30.0, snapshot=True)
    platform = TimedPlatform(calls=10, streams=(stock,))
    supervisor = await start(nursery, store)
    supervisor.start_channel(platform.channel("shop"))
    await trio.sleep(125)
    assert platform.reads_of("stock") == pytest.approx([0, 50, 100], abs=0.5)

    # A webhook 5 s after a read began waits for the spacing; an operator's sync does not.
    await trio.sleep(150 - trio.current_time() + 5)
    await webhook(store, supervisor, 1, "stock")
    await trio.sleep(20)
    assert len(platform.reads_of("stock")) == 4  # the read at 150, no other yet
    await supervisor.deliver("shop", SyncNow(stream="stock"))
    await trio.sleep(1)
    assert platform.reads_of("stock")[-1] == pytest.approx(175, abs=0.5)


async def test_an_incremental_stream_is_not_spaced(
    store: StateStore, virtual_clock: trio.abc.Clock, nursery: trio.Nursery
) -> None:
    platform = TimedPlatform(calls=10)
    supervisor = await start(nursery, store)
    supervisor.start_channel(platform.channel("shop", schedule={"products": "5s"}))
    await trio.sleep(31)
    assert platform.reads_of("products") == pytest.approx([0, 5, 10, 15, 20, 25, 30], abs=0.5)


def fetches(platform: TimedPlatform) -> list[tuple[str, list[str], bool]]:
    return [fetch for connector in platform.connectors for fetch in connector.fetches]


async def started(
    nursery: trio.Nursery, store: StateStore, platform: TimedPlatform, channel: Channel
) -> Supervisor:
    """``channel`` running on ``platform``, its schedules' first runs done."""
    supervisor = await start(nursery, store)
    supervisor.start_channel(channel)
    await settled(platform, 2)
    return supervisor


async def reading_products(platform: TimedPlatform, supervisor: Supervisor) -> None:
    """Until a read of products has begun and is held: what comes now waits for it."""
    platform.held = {"products"}
    await supervisor.deliver("shop", SyncNow(stream="products"))
    await platform.until(lambda: len(platform.began) >= 3)


async def test_webhooks_naming_their_records_are_acted_on_by_fetching_those_records(
    store: StateStore, virtual_clock: trio.abc.Clock, nursery: trio.Nursery, tmp_path: Path
) -> None:
    platform = TimedPlatform()
    supervisor = await started(
        nursery, store, platform, platform.channel("shop", records_per_read=3)
    )
    await reading_products(platform, supervisor)
    # While the actor reads products, three sales arrive: one fetch acts on them all.
    for n in range(3):
        await webhook(store, supervisor, n, "orders", entity=f"orders-{n % 2}")
    platform.release.set()
    await settled(platform, 3)
    assert fetches(platform) == [("orders", ["orders-0", "orders-1"], True)]
    assert platform.reads_of("orders") == [0]  # the stream itself was not read again
    assert await store.pending_webhooks("shop") == []
    # Stored as a read stores them, for the hub.
    with sqlite3.connect(tmp_path / "state.db") as db:
        rows = db.execute("SELECT entity FROM inbox WHERE stream = 'orders' ORDER BY id").fetchall()
    assert rows[-2:] == [("orders-0",), ("orders-1",)]


async def test_a_burst_of_named_records_is_read_with_its_stream_instead(
    store: StateStore, virtual_clock: trio.abc.Clock, nursery: trio.Nursery
) -> None:
    platform = TimedPlatform()
    supervisor = await started(nursery, store, platform, platform.channel("shop"))
    await reading_products(platform, supervisor)
    for n in range(FETCH_AT_MOST + 5):
        await webhook(store, supervisor, n, "orders", entity=f"order-{n}")
    platform.release.set()
    await settled(platform, 4)
    # Fetching each would cost more than one read: the read acts on every one of them.
    assert fetches(platform) == []
    assert len(platform.reads_of("orders")) == 2
    assert await store.pending_webhooks("shop") == []


async def test_a_failed_fetch_of_named_records_falls_back_to_a_read_of_the_stream(
    store: StateStore, virtual_clock: trio.abc.Clock, nursery: trio.Nursery
) -> None:
    platform = TimedPlatform()
    channel = platform.channel("shop", failing_fetches=True)
    supervisor = await started(nursery, store, platform, channel)
    await webhook(store, supervisor, 1, "orders", entity="orders-0")
    await settled(platform, 3)
    tries = channel.config.retry_attempts
    assert [keys for _, keys, _ in fetches(platform)] == [["orders-0"]] * tries
    assert len(platform.reads_of("orders")) == 2
    assert await store.pending_webhooks("shop") == []


async def test_named_records_and_waiting_streams_take_turns(
    store: StateStore, virtual_clock: trio.abc.Clock, nursery: trio.Nursery
) -> None:
    platform = TimedPlatform()
    supervisor = await started(
        nursery, store, platform, platform.channel("shop", records_per_read=2)
    )
    platform.held = {FETCH}
    await webhook(store, supervisor, 1, "orders", entity="orders-0")
    await platform.until(lambda: platform.work()[-1] == FETCH)
    # While that fetch runs, another order's webhook and a sync of products are asked for.
    await webhook(store, supervisor, 2, "orders", entity="orders-1")
    await supervisor.deliver("shop", SyncNow(stream="products"))
    platform.release.set()
    await settled(platform, 5)
    assert platform.work()[2:] == [FETCH, "products", FETCH]
    assert await store.pending_webhooks("shop") == []


async def test_a_webhook_naming_its_record_is_fetched_after_a_restart_too(
    store: StateStore, virtual_clock: trio.abc.Clock, nursery: trio.Nursery
) -> None:
    # Stored while the daemon was down: the actor takes it from the inbox at start.
    event = WebhookEvent("wh-1", "t", ("orders",), b"{}", "orders-0")
    assert await store.accept_webhook("shop", event, wall_clock()) is not None
    platform = TimedPlatform()
    await started(nursery, store, platform, platform.channel("shop"))
    assert fetches(platform) == [("orders", ["orders-0"], True)]
    assert await store.pending_webhooks("shop") == []


def stock_and_orders(*, every: float) -> TimedPlatform:
    """A platform of two streams read ``every`` seconds: ``stock``, a snapshot, and ``orders``."""
    stock = StreamSpec(name="stock", default_schedule_seconds=every, snapshot=True)
    listed = StreamSpec(name="orders", default_schedule_seconds=every)
    return TimedPlatform(streams=(stock, listed))


async def test_a_snapshot_stream_is_stored_each_time_even_unchanged(
    store: StateStore, virtual_clock: trio.abc.Clock, nursery: trio.Nursery, tmp_path: Path
) -> None:
    # A stock read's time ends reservations: unchanged, it is still news for the hub.
    platform = stock_and_orders(every=30.0)
    supervisor = await start(nursery, store)
    supervisor.start_channel(platform.channel("shop"))
    await platform.until(lambda: min(len(platform.reads_of(s)) for s in ("stock", "orders")) >= 3)
    # The next read, once begun, waits: the one before it (the worker's last) is committed.
    platform.held = {"stock", "orders"}
    await platform.until(lambda: len(platform.began) == 7)
    with sqlite3.connect(tmp_path / "state.db") as db:
        rows = db.execute("SELECT stream, count(*) FROM inbox GROUP BY stream").fetchall()
    assert dict(rows) == {"stock": 3, "orders": 1}  # the same order, read again: stored once


async def test_a_write_does_not_wait_behind_a_read_in_hand(
    store: StateStore, virtual_clock: trio.abc.Clock, nursery: trio.Nursery
) -> None:
    # A sale's new stock must not wait for the store's poll of its orders to end.
    platform, supervisor = await first_read_held(nursery, store)
    await store.enqueue_write("shop", RemoteWrite("inventory.set", "stock-1", b"{}"), wall_clock())
    assert await supervisor.deliver("shop", DrainOutbox())
    await platform.until(lambda: WRITE in platform.work())
    assert platform.work() == ["products", WRITE]
    assert not platform.connectors[0].reads  # the read is still in hand
    platform.release.set()
    await platform.until(lambda: platform.work().count("orders") == 1)
    assert await store.pending_writes("shop", 10) == []


async def test_a_read_does_not_wait_behind_a_write_in_hand(
    store: StateStore, virtual_clock: trio.abc.Clock, nursery: trio.Nursery
) -> None:
    platform = TimedPlatform()
    platform.held = {WRITE}
    await store.enqueue_write("shop", RemoteWrite("inventory.set", "stock-1", b"{}"), wall_clock())
    supervisor = await start(nursery, store)
    supervisor.start_channel(platform.channel("shop"))
    # The write left by an earlier run is taken up at start, and the first reads go on.
    await platform.until(lambda: WRITE in platform.work())
    slot = supervisor.slot("shop")
    assert slot is not None and slot.actor is not None
    while not all(stream.last_success_at for stream in slot.actor.statistics().streams):
        await slot.actor.worked.wait()
    assert platform.connectors[0].reads == ["products", "orders"]
    assert platform.connectors[0].writes == []  # still in hand
    assert [p.write.key for p in await store.pending_writes("shop", 10)] == ["stock-1"]
    platform.release.set()
    await supervisor.deliver("shop", SyncNow(stream="orders"))
    await platform.until(lambda: platform.work().count("orders") == 2)
    assert await store.pending_writes("shop", 10) == []


async def test_a_snapshot_read_waits_for_the_drain_in_hand_and_holds_the_next_back(
    store: StateStore, virtual_clock: trio.abc.Clock, nursery: trio.Nursery
) -> None:
    # A stock snapshot pictures the platform after the writes before it: the hub ends an
    # order's reservation only on a stock read begun after the order was created.
    platform = stock_and_orders(every=3600.0)
    supervisor = await started_and_settled(nursery, store, platform)

    async def write(key: str) -> None:
        await store.enqueue_write("shop", RemoteWrite("order.create", key, b"{}"), wall_clock())
        assert await supervisor.deliver("shop", DrainOutbox())

    platform.held = {WRITE}
    await write("order-1")
    await platform.until(lambda: WRITE in platform.work())
    for stream in ("stock", "orders"):
        await supervisor.deliver("shop", SyncNow(stream=stream))
    # Stock was asked first, so it would have begun before orders had it not waited.
    await platform.until(lambda: platform.work().count("orders") == 2)  # not held back
    assert platform.work().count("stock") == 1  # waits for the write to end
    release, platform.release = platform.release, trio.Event()
    platform.held = {"stock"}
    release.set()
    await platform.until(lambda: platform.work().count("stock") == 2)  # begun, and held
    await write("order-2")
    await a_minute_for_anything_else()
    assert platform.work().count(WRITE) == 1  # waits for the read to end
    platform.release.set()
    await platform.until(lambda: platform.work().count(WRITE) == 2)


async def test_a_snapshot_read_held_back_for_a_schedule_interval_goes_between_two_writes(
    store: StateStore, virtual_clock: trio.abc.Clock, nursery: trio.Nursery
) -> None:
    # A flash sale's orders queued for the provider must not keep its stock unread (and every
    # store's shelf stale) until the last of them is written.
    platform = stock_and_orders(every=600.0)
    supervisor = await started_and_settled(nursery, store, platform)
    for n in range(3):
        order = RemoteWrite("order.create", f"order-{n}", b"{}")
        await store.enqueue_write("shop", order, wall_clock())
    platform.held = {WRITE}
    assert await supervisor.deliver("shop", DrainOutbox())
    await platform.until(lambda: WRITE in platform.work())
    assert await supervisor.deliver("shop", SyncNow(stream="stock"))
    await trio.sleep(590)
    assert platform.work().count("stock") == 1  # waits for the drain in hand
    await trio.sleep(20)  # held back for its interval: it now waits for the write in hand only
    assert platform.work().count("stock") == 1
    platform.held = set()
    platform.release.set()
    await platform.until(lambda: platform.work().count(WRITE) == 3)
    writes_and_stock = [work for work in platform.work()[2:] if work != "orders"]
    assert writes_and_stock == [WRITE, "stock", WRITE, WRITE]
    await a_minute_for_anything_else()
    assert await store.pending_writes("shop", 10) == []
