"""Backpressure and limits: what a full mailbox does to each kind of message, how many requests
a channel has in flight, and how long one may take (on virtual time, against a sandbox)."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest
import trio

from actors.channel import CallGate, ChannelActor
from actors.messages import Message, SyncNow
from actors.outbound import bound_calls
from actors.ratelimit import RateLimiter
from connectors.base import ConnectorContext, WebhookEvent
from connectors.registry import BUILTIN
from daemon.app import wall_clock
from daemon.config import Channel, ChannelConfig
from daemon.control import ControlRequest
from daemon.credentials import Secret
from daemon.durations import Duration
from daemon.store import StateStore, open_store
from daemon.supervisor import ChannelState
from metrics import Metrics
from tests.daemon_process import child_env
from tests.five_platforms import PlatformChannel, platform_channels
from tests.helpers import RecordingPlatform, fake_channel_table
from tests.test_http import start_daemon


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[StateStore]:
    async with open_store(f"sqlite:///{tmp_path}/state.db") as opened:
        yield opened


def shipbob() -> PlatformChannel:
    return next(c for c in platform_channels() if c.platform == "shipbob")


class InFlight:
    """ASGI middleware counting the requests the wrapped app is answering at once."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.now = 0
        self.most = 0

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["path"].startswith("/_sandbox/"):
            await self.app(scope, receive, send)
            return
        self.now += 1
        self.most = max(self.most, self.now)
        try:
            await self.app(scope, receive, send)
        finally:
            self.now -= 1


async def most_in_flight(limit: int, readers: int) -> int:
    """How many requests ShipBob's sandbox (answering each after 50 ms) saw at once while
    ``readers`` inventory reads ran side by side through one channel client bounded to
    ``limit``."""
    channel = shipbob()
    counted = InFlight(channel.app)
    spec = BUILTIN["shipbob"]
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=counted), base_url=channel.settings["base_url"]
    ) as http:
        await http.post("/_sandbox/faults", json={"latency_ms": 50})
        bound_calls(http, limit=limit, timeout=30.0)
        connector = spec.create(
            ConnectorContext(
                channel="shipbob",
                settings=msgspec.convert(channel.settings, spec.settings_type),
                secrets={k: Secret(v) for k, v in channel.secrets.items()},
                http=http,
                gate=CallGate(RateLimiter(1000.0, 1000.0), paused=False),
                now=wall_clock,
            )
        )

        async def read() -> None:
            async for _ in connector.read("inventory", None):
                pass

        async with trio.open_nursery() as nursery:
            for _ in range(readers):
                nursery.start_soon(read)
        await connector.aclose()
    return counted.most


async def test_a_channel_never_has_more_requests_in_flight_than_its_limit(
    virtual_clock: trio.abc.Clock,
) -> None:
    assert await most_in_flight(limit=2, readers=6) == 2
    # The same reads unbounded overlap further: the limit, not the workload, held them at 2.
    assert await most_in_flight(limit=6, readers=6) > 2


def shipbob_channel(sandbox: PlatformChannel) -> Channel:
    spec = BUILTIN["shipbob"]
    config = ChannelConfig(
        name="shipbob",
        platform="shipbob",
        retry_attempts=3,
        retry_backoff=Duration("1s"),
        retry_backoff_max=Duration("2s"),
        streams={"shipments": False, "products": False},
    )
    return Channel(
        config=config,
        spec=spec,
        settings=msgspec.convert(sandbox.settings, spec.settings_type),
        secrets={k: Secret(v) for k, v in sandbox.secrets.items()},
    )


async def test_a_hanging_platform_times_out_and_is_retried_not_waited_for(
    store: StateStore, virtual_clock: trio.abc.Clock, nursery: trio.Nursery
) -> None:
    sandbox = shipbob()
    metrics = Metrics("test")

    def client() -> httpx.AsyncClient:
        return httpx.AsyncClient(
            transport=httpx.ASGITransport(app=sandbox.app), base_url=sandbox.settings["base_url"]
        )

    async with client() as hooks:
        await hooks.post("/_sandbox/faults", json={"timeout_rate": 1.0})  # hangs 120 s a call
    send, receive = trio.open_memory_channel[Message](4)
    actor = ChannelActor(
        shipbob_channel(sandbox),
        mailbox=receive,
        store=store,
        metrics=metrics,
        now=wall_clock,
        http_client=client,
        request_timeout=5.0,
    )
    started = trio.current_time()
    await nursery.start(actor.run)
    await actor.worked.wait()  # the outbox drain at start: nothing in it
    await actor.worked.wait()  # the first inventory read: three tries, each cut at 5 s

    took = trio.current_time() - started
    assert 15 <= took < 30  # 3 x 5 s plus backoff, far from 3 x 120 s
    failed = {"channel": "shipbob", "stream": "inventory", "outcome": "failed"}
    assert metrics.registry.get_sample_value("shelfsync_sync_runs_total", failed) == 1
    status = actor.statistics().streams[0]
    assert status.last_error == "list inventory totals: timed out (TimeoutException)"

    async with client() as hooks:
        await hooks.post("/_sandbox/faults", json={"timeout_rate": 0.0})
    await send.send(SyncNow("inventory"))
    ok = {**failed, "outcome": "ok"}
    while metrics.registry.get_sample_value("shelfsync_sync_runs_total", ok) is None:
        await actor.worked.wait()
    assert actor.statistics().streams[0].last_error is None
    await send.aclose()


async def test_a_webhook_the_mailbox_never_announced_is_acted_on_after_the_next_run(
    store: StateStore, virtual_clock: trio.abc.Clock, nursery: trio.Nursery
) -> None:
    platform = RecordingPlatform()
    send, receive = trio.open_memory_channel[Message](1)
    actor = ChannelActor(
        platform.channel("shop1"),
        mailbox=receive,
        store=store,
        metrics=Metrics("test"),
        now=wall_clock,
        http_client=httpx.AsyncClient,
    )
    await nursery.start(actor.run)
    # The first read of every stream done, and nothing else in hand.
    while (
        actor.statistics().pending
        or actor.statistics().busy
        or any(s.last_success_at is None for s in actor.statistics().streams)
    ):
        await actor.worked.wait()
    reads_before = len(platform.reads)
    # What the daemon does when the mailbox is full: the webhook is stored, no message sent.
    event = WebhookEvent(webhook_id="w1", topic="orders", streams=("orders",), body=b"{}")
    assert await store.accept_webhook("shop1", event, datetime.now(UTC)) is not None

    await send.send(SyncNow("products"))
    with trio.fail_after(60):  # virtual time: a bound on failure (the next schedule is 1h off)
        while await store.pending_webhooks("shop1"):
            await actor.worked.wait()

    assert platform.reads[reads_before:] == ["products", "orders"]
    await send.aclose()


async def test_a_full_mailbox_keeps_webhooks_and_refuses_control_requests_whole(
    tmp_path: Path, virtual_clock: trio.abc.Clock, nursery: trio.Nursery
) -> None:
    # A failed channel reads no mailbox: its messages wait for the next start.
    broken = fake_channel_table("shop1", settings={"crash_on_read": True})
    running = await start_daemon(tmp_path, nursery, [broken], mailbox_size=1, max_restarts=0)
    daemon = running.daemon
    slot = daemon.supervisor.slot("shop1")
    assert slot is not None
    await slot.wait_state(ChannelState.FAILED)
    headers = {"x-fake-signature": child_env()["FAKE_TOKEN"]}

    answers = [
        await daemon.receive_webhook("shop1", headers, b'{"id": "w%d", "topic": "orders"}' % n)
        for n in range(3)
    ]
    sync = await daemon.handle_control(ControlRequest(verb="sync", channel="shop1"))
    pause = await daemon.handle_control(ControlRequest(verb="pause", channel="shop1"))

    assert [(a.status, a.body) for a in answers] == [(200, "")] * 3
    with sqlite3.connect(tmp_path / "state.db") as db:
        stored = db.execute("SELECT count(*) FROM inbox WHERE processed_at IS NULL").fetchone()
    assert stored == (3,)
    assert slot.mailbox_depth == 1
    assert (sync.ok, sync.lines) == (False, ["shop1: mailbox full, sync not queued"])
    assert (pause.ok, pause.lines) == (False, ["shop1: mailbox full, not paused"])
    status = await daemon.handle_control(ControlRequest(verb="status"))
    assert status.channels[0].paused is False
    daemon.request_stop()
