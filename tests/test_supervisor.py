"""The supervisor and channel actors in one process, on virtual time and a real SQLite file."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import trio

from actors.messages import DrainOutbox, Pause, Resume, SyncNow
from connectors.base import RemoteWrite
from daemon.app import default_http_client, wall_clock
from daemon.config import DaemonConfig
from daemon.durations import Duration
from daemon.store import AuditQuery, ExceptionQuery, StateStore, open_store
from daemon.supervisor import ChannelState, RestartIntensity, Supervisor
from metrics import Metrics
from tests.helpers import RecordingPlatform

SETTINGS = DaemonConfig(
    max_restarts=3,
    restart_window=Duration("1h"),
    restart_backoff=Duration("1s"),
    restart_backoff_max=Duration("10s"),
)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[StateStore]:
    # Without fsync, as in test_channel_requests: an fsync stall would read as virtual time.
    async with open_store(f"sqlite:///{tmp_path}/state.db", synchronous="normal") as opened:
        yield opened


@pytest.fixture
def metrics() -> Metrics:
    return Metrics("test")


async def start_supervisor(
    nursery: trio.Nursery, store: StateStore, metrics: Metrics
) -> Supervisor:
    supervisor = Supervisor(
        store=store,
        metrics=metrics,
        settings=SETTINGS,
        now=wall_clock,
        http_client=default_http_client,
    )
    await nursery.start(supervisor.run)
    return supervisor


def sample(metrics: Metrics, name: str, **labels: str) -> float:
    value = metrics.registry.get_sample_value(name, labels)
    return 0.0 if value is None else value


async def test_crash_restarts_one_actor_until_failed_while_another_keeps_syncing(
    store: StateStore, metrics: Metrics, virtual_clock: trio.abc.Clock, nursery: trio.Nursery
) -> None:
    platform = RecordingPlatform()
    supervisor = await start_supervisor(nursery, store, metrics)
    good = supervisor.start_channel(platform.channel("good", schedule={"products": "1m"}))
    bad = supervisor.start_channel(platform.channel("bad", crash_on_read=True))

    await bad.wait_state(ChannelState.FAILED)

    # Intensity 3: the first start and exactly three restarts, then no more.
    bad_starts = [c for c in platform.connectors if c.context.channel == "bad"]
    assert len(bad_starts) == SETTINGS.max_restarts + 1
    assert bad.restarts == SETTINGS.max_restarts
    assert sample(metrics, "shelfsync_actor_restarts_total", channel="bad") == 3
    assert bad.last_error is not None
    assert bad.last_error.startswith("RuntimeError: fake platform exploded reading ")
    assert good.state is ChannelState.RUNNING and good.restarts == 0

    ok_before = sample(
        metrics, "shelfsync_sync_runs_total", channel="good", stream="products", outcome="ok"
    )
    await trio.sleep(10 * 60)
    ok_after = sample(
        metrics, "shelfsync_sync_runs_total", channel="good", stream="products", outcome="ok"
    )
    assert ok_after - ok_before >= 9  # every minute, for ten minutes
    assert bad.state is ChannelState.FAILED
    assert len([c for c in platform.connectors if c.context.channel == "bad"]) == 4


async def test_resume_revives_a_failed_channel(
    store: StateStore, metrics: Metrics, virtual_clock: trio.abc.Clock, nursery: trio.Nursery
) -> None:
    platform = RecordingPlatform()
    supervisor = await start_supervisor(nursery, store, metrics)
    bad = supervisor.start_channel(platform.channel("bad", crash_on_read=True))
    await bad.wait_state(ChannelState.FAILED)

    assert await supervisor.deliver("bad", Resume())
    await bad.wait_state(ChannelState.RUNNING)
    await bad.wait_state(ChannelState.FAILED)
    assert len(platform.connectors) == 2 * (SETTINGS.max_restarts + 1)


def test_restart_intensity_is_a_sliding_window() -> None:
    intensity = RestartIntensity(max_restarts=1, window=10.0)
    assert intensity.crash(0.0)
    assert not intensity.crash(5.0)  # two crashes within 10 s: over the limit
    intensity.reset()
    assert intensity.crash(100.0)
    assert intensity.crash(110.0)  # the crash at 100 s has left the window
    assert intensity.crash(120.5)
    assert intensity.recent == 1


async def test_paused_actor_makes_no_call_and_resumes_where_it_left_off(
    store: StateStore, metrics: Metrics, virtual_clock: trio.abc.Clock, nursery: trio.Nursery
) -> None:
    platform = RecordingPlatform()
    await store.set_paused("shop", True)
    supervisor = await start_supervisor(nursery, store, metrics)
    slot = supervisor.start_channel(platform.channel("shop", schedule={"orders": "30m"}))
    await slot.wait_state(ChannelState.RUNNING)
    assert await supervisor.deliver("shop", SyncNow(stream="orders"))

    await trio.sleep(2 * 3600)
    assert platform.reads == []
    assert slot.actor is not None
    assert slot.actor.statistics().paused

    assert await supervisor.deliver("shop", Resume())
    await trio.sleep(1)
    # The queued work ran once per stream, not once per missed schedule.
    assert sorted(platform.reads) == ["orders", "products"]
    states = await store.stream_states("shop")
    assert states["orders"].cursor is not None
    assert states["orders"].last_success_at is not None

    assert await supervisor.deliver("shop", Pause())
    await trio.sleep(3600)
    assert sorted(platform.reads) == ["orders", "products"]


async def test_retryable_errors_back_off_then_succeed(
    store: StateStore, metrics: Metrics, virtual_clock: trio.abc.Clock, nursery: trio.Nursery
) -> None:
    platform = RecordingPlatform()
    supervisor = await start_supervisor(nursery, store, metrics)
    start = trio.current_time()
    slot = supervisor.start_channel(
        platform.channel("shop", retryable_failures=3, retry_after=20.0)
    )
    await slot.wait_state(ChannelState.RUNNING)
    while not sum(
        sample(metrics, "shelfsync_sync_runs_total", channel="shop", stream=s, outcome="ok")
        for s in ("products", "orders")
    ):
        await trio.sleep(1)
    # Three failures, each honouring Retry-After 20 s (jitter never waits less).
    assert trio.current_time() - start >= 60
    first = platform.reads[0]
    assert platform.reads[:4] == [first] * 4  # the same run, retried
    assert await store.open_exceptions() == {}


async def test_retries_exhausted_become_an_exception_and_the_actor_goes_on(
    store: StateStore, metrics: Metrics, virtual_clock: trio.abc.Clock, nursery: trio.Nursery
) -> None:
    platform = RecordingPlatform()
    supervisor = await start_supervisor(nursery, store, metrics)
    slot = supervisor.start_channel(platform.channel("shop", retryable_failures=5))
    await slot.wait_state(ChannelState.RUNNING)
    while not sum(
        sample(metrics, "shelfsync_sync_runs_total", channel="shop", stream=s, outcome="failed")
        for s in ("products", "orders")
    ):
        await trio.sleep(1)
    assert await store.open_exceptions() == {("shop", "retries_exhausted"): 1}
    assert slot.state is ChannelState.RUNNING
    assert slot.actor is not None
    errors = [s.last_error for s in slot.actor.statistics().streams if s.last_error]
    assert errors == ["fake platform answered 503"]


async def test_outbox_writes_are_performed_once_and_audited(
    store: StateStore,
    metrics: Metrics,
    virtual_clock: trio.abc.Clock,
    nursery: trio.Nursery,
    tmp_path: Path,
) -> None:
    platform = RecordingPlatform()
    now = wall_clock()
    writes = [RemoteWrite(kind="inventory.set", key=f"sku-{i}", payload=b"{}") for i in range(3)]
    for write in writes:
        await store.enqueue_write("shop", write, now)
    await store.enqueue_write("shop", writes[0], now)  # the same key again: still one write
    await store.set_paused("shop", True)

    supervisor = await start_supervisor(nursery, store, metrics)
    slot = supervisor.start_channel(platform.channel("shop"))
    await slot.wait_state(ChannelState.RUNNING)
    await trio.sleep(60)
    assert platform.connectors[0].writes == []  # paused: queued, not written
    assert len(await store.pending_writes("shop", 10)) == 3

    assert await supervisor.deliver("shop", Resume())
    while await store.pending_writes("shop", 10):
        await trio.sleep(1)
    assert platform.connectors[0].writes == writes
    assert await supervisor.deliver("shop", DrainOutbox())
    await trio.sleep(60)
    assert platform.connectors[0].writes == writes  # done writes are never repeated
    with sqlite3.connect(tmp_path / "state.db") as db:
        audit = db.execute("SELECT action, idempotency_key, remote_id FROM audit ORDER BY id")
        rows = audit.fetchall()
    assert rows == [
        (action, f"sku-{i}", f"fake-sku-{i}" if action == "write.done" else None)
        for i in range(3)
        for action in ("write.started", "write.done")
    ]


async def test_a_write_that_failed_for_now_holds_back_the_writes_queued_after_it(
    store: StateStore, metrics: Metrics, virtual_clock: trio.abc.Clock, nursery: trio.Nursery
) -> None:
    # Two stock writes to one store: were the newer one sent while the older waited for its
    # retry, the older would land last and the store would show stale quantities.
    older = RemoteWrite(kind="inventory.set", key="stock-1", payload=b'{"SKU-1": 4}')
    tracking = RemoteWrite(kind="fulfillment.create", key="shipment-1", payload=b"{}")
    newer = RemoteWrite(kind="inventory.set", key="stock-2", payload=b'{"SKU-1": 3}')
    for write in (older, tracking, newer):
        await store.enqueue_write("shop", write, wall_clock())
    supervisor = await start_supervisor(nursery, store, metrics)
    platform = RecordingPlatform()
    channel = platform.channel("shop", failing_writes=True, write_attempts=2)
    slot = supervisor.start_channel(channel)
    await slot.wait_state(ChannelState.RUNNING)
    tries = channel.config.retry_attempts
    [connector] = platform.connectors
    assert slot.actor is not None
    while len(connector.writes) < 2 * tries:
        await slot.actor.worked.wait()
    # A write of another kind is not held up by it.
    assert connector.writes == [older] * tries + [tracking] * tries
    assert [p.attempts for p in await store.pending_writes("shop", 10)] == [1, 1, 0]

    # Once the older one is given up, the drain goes on to the next one of its kind.
    assert await supervisor.deliver("shop", DrainOutbox())
    while len(connector.writes) < 5 * tries:
        await slot.actor.worked.wait()
    assert (
        connector.writes
        == ([older] * tries + [tracking] * tries + [older] * tries + [tracking] * tries)
        + [newer] * tries
    )


async def test_a_write_out_of_retries_is_tried_at_each_drain_then_leaves_the_outbox(
    store: StateStore, metrics: Metrics, virtual_clock: trio.abc.Clock, nursery: trio.Nursery
) -> None:
    platform = RecordingPlatform()
    write = RemoteWrite(kind="fulfillment.create", key="shipment-1", payload=b"{}")
    await store.enqueue_write("shop", write, wall_clock())
    supervisor = await start_supervisor(nursery, store, metrics)
    channel = platform.channel("shop", failing_writes=True, write_attempts=3)
    slot = supervisor.start_channel(channel)
    await slot.wait_state(ChannelState.RUNNING)
    tries = channel.config.retry_attempts
    while await store.pending_writes("shop", 10):
        assert await supervisor.deliver("shop", DrainOutbox())
        await trio.sleep(60)
    # Three drains of five tries each; then it waits for a replay, counted as one exception.
    assert platform.connectors[0].writes == [write] * (3 * tries)
    [held] = await store.exceptions(ExceptionQuery())
    assert (held.kind, held.entity, held.reason, held.attempts) == (
        "write",
        "shipment-1",
        "retries_exhausted",
        3,
    )
    [failed] = [e for e in await store.audit_entries(AuditQuery()) if e.action == "write.failed"]
    assert failed.result == "gave up after 3 attempts: fake platform answered 503 to a write"
    assert await store.requeue_write(held.id, wall_clock())
    assert len(await store.pending_writes("shop", 10)) == 1
