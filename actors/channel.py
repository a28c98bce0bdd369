"""The channel actor: the one task that talks to a channel's platform.

It owns the channel's connector, rate limiter, retry policy, cursors, schedules and paused
state, and takes its orders from a mailbox (:mod:`actors.messages`). Three kinds of task run
inside it:

- the mailbox loop, which turns messages into requested work and pause/resume;
- one schedule per stream, which requests a sync of its stream every interval;
- the worker, which performs requested work one unit at a time: a sync of one stream, or a
  drain of the outbox.

Work requests are a set, so a burst of "sync orders" becomes one run. Pausing closes the call
gate that every outbound request passes through, so a paused actor keeps its requests and
makes no call until resumed. A sync commits each page together with the cursor it reaches, so
a crash, a kill or a cancel loses at most the page in flight, which the next run reads again.

Errors: :class:`~connectors.errors.Retryable` is retried with backoff, then recorded as an
exception; :class:`~connectors.errors.RecordError` is recorded and the actor goes on; anything
else (including :class:`~connectors.errors.ChannelFatal`) ends the actor, and the supervisor
decides what happens next.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextlib import aclosing
from datetime import datetime
from typing import TypeVar

import httpx
import msgspec
import structlog
import trio
from prometheus_client import Gauge

from actors.messages import DrainOutbox, InboundEvent, Message, Pause, Resume, Stop, SyncNow
from actors.observed import observe_calls
from actors.ratelimit import RateLimiter, RateLimiterStatistics
from actors.retry import RetryPolicy
from actors.rules.cursor import advance, read_from
from connectors.base import Connector, ConnectorContext, RateSignal
from connectors.errors import RateLimited, RecordError, Retryable
from daemon.config import Channel
from daemon.store import PendingWrite, StateStore
from metrics import Metrics

log = structlog.get_logger("shelfsync.actor")
_T = TypeVar("_T")
OUTBOX_BATCH = 100


class StreamStatus(msgspec.Struct, frozen=True):
    stream: str
    cursor: datetime | None
    last_success_at: datetime | None
    last_error: str | None


class ActorStatistics(msgspec.Struct, frozen=True):
    paused: bool
    busy: bool
    pending: list[str]
    streams: list[StreamStatus]
    limiter: RateLimiterStatistics


class CallGate:
    """The door every outbound call goes through: closed while paused, paced by the limiter."""

    def __init__(
        self, limiter: RateLimiter, *, paused: bool, remaining_ratio: Gauge | None = None
    ) -> None:
        """``remaining_ratio``, when given, shows the share of the platform's budget it last
        reported."""
        self._limiter = limiter
        self._remaining_ratio = remaining_ratio
        self._open = trio.Event()
        if not paused:
            self._open.set()

    @property
    def paused(self) -> bool:
        return not self._open.is_set()

    def pause(self) -> None:
        if self._open.is_set():
            self._open = trio.Event()

    def resume(self) -> None:
        self._open.set()

    async def wait_open(self) -> None:
        await self._open.wait()

    async def before_call(self, cost: float = 1.0) -> None:
        while True:
            await self._open.wait()
            await self._limiter.acquire(cost)
            if self._open.is_set():  # not paused while we waited for tokens
                return

    def observe(self, signal: RateSignal) -> None:
        self._limiter.observe(signal)
        if self._remaining_ratio is not None and signal.remaining is not None and signal.limit:
            self._remaining_ratio.set(max(signal.remaining, 0.0) / signal.limit)


class ChannelActor:
    def __init__(
        self,
        channel: Channel,
        *,
        mailbox: trio.MemoryReceiveChannel[Message],
        store: StateStore,
        metrics: Metrics,
        now: Callable[[], datetime],
        http_client: Callable[[], httpx.AsyncClient],
        records_stored: Callable[[], None] = lambda: None,
    ) -> None:
        self.channel = channel
        self._records_stored = records_stored
        self.name = channel.name
        self._mailbox = mailbox
        self._store = store
        self._metrics = metrics
        self._now = now
        self._http_client = http_client
        config = channel.config
        self._retry = RetryPolicy(
            attempts=config.retry_attempts,
            base=config.retry_backoff.seconds,
            cap=config.retry_backoff_max.seconds,
        )
        self._limiter = RateLimiter(channel.requests_per_second, channel.burst)
        self._gate = CallGate(
            self._limiter,
            paused=config.paused,
            remaining_ratio=metrics.rate_limit_remaining.labels(channel.name),
        )
        self._streams = channel.streams
        self._cursors: dict[str, datetime | None] = {}
        self._last_success: dict[str, datetime | None] = {}
        self._last_error: dict[str, str | None] = {}
        self._pending: dict[str, None] = {}  # an ordered set of streams to sync
        self._outbox_requested = True  # writes left by a previous run are finished first
        self._webhooks_waiting: dict[str, list[int]] = {}
        self._wake = trio.Event()
        self.worked = trio.Event()
        """Set when a unit of work (a sync run, an outbox drain) has ended, well or not (then
        replaced by a fresh event): lets a caller wait for the actor's next step without
        polling."""
        self._busy = False
        self._stopping = False
        self._worker_done = trio.Event()

    def statistics(self) -> ActorStatistics:
        return ActorStatistics(
            paused=self._gate.paused,
            busy=self._busy,
            pending=list(self._pending),
            streams=[
                StreamStatus(
                    stream=stream,
                    cursor=self._cursors.get(stream),
                    last_success_at=self._last_success.get(stream),
                    last_error=self._last_error.get(stream),
                )
                for stream in self._streams
            ],
            limiter=self._limiter.statistics(),
        )

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Run until a Stop message (or the mailbox closing); ready once ``started``.

        On Stop the unit of work in hand is finished; the caller bounds how long that may take
        by cancelling, which is always safe (see the module docstring).
        """
        states = await self._store.stream_states(self.name)
        for stream in self._streams:
            state = states.get(stream)
            self._cursors[stream] = state.cursor if state else None
            self._last_success[stream] = state.last_success_at if state else None
        if await self._store.is_paused(self.name):
            self._gate.pause()
        for item in await self._store.pending_webhooks(self.name):
            await self._take_event(InboundEvent(inbox_id=item.id, stream=item.stream))
        async with self._http_client() as http:
            observe_calls(http, self.name, self._metrics)
            connector = self.channel.spec.create(
                ConnectorContext(
                    channel=self.name,
                    settings=self.channel.settings,
                    secrets=self.channel.secrets,
                    http=http,
                    gate=self._gate,
                    now=self._now,
                )
            )
            try:
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(self._work, connector)
                    for stream in self._streams:
                        nursery.start_soon(self._keep_schedule, stream)
                    task_status.started()
                    await self._serve_mailbox()
                    await self._finish_work_in_hand()
                    nursery.cancel_scope.cancel()
            finally:
                with trio.CancelScope(shield=True):
                    await connector.aclose()

    async def _serve_mailbox(self) -> None:
        async for message in self._mailbox:
            match message:
                case SyncNow(stream=None):
                    for stream in self._streams:
                        self._request(stream)
                case SyncNow(stream=stream) if stream is not None:
                    self._request(stream)
                case Pause():
                    self._gate.pause()
                case Resume():
                    self._gate.resume()
                case InboundEvent():
                    await self._take_event(message)
                case DrainOutbox():
                    self._outbox_requested = True
                    self._wake.set()
                case Stop():
                    return

    async def _finish_work_in_hand(self) -> None:
        self._stopping = True
        self._wake.set()
        if self._gate.paused:
            return  # work parked at the closed gate has no call in flight: nothing to finish
        await self._worker_done.wait()

    async def _take_event(self, event: InboundEvent) -> None:
        # A webhook means "this changed": re-reading its stream acts on it, and the event
        # counts as processed once that read has been committed.
        if event.stream in self._streams:
            self._webhooks_waiting.setdefault(event.stream, []).append(event.inbox_id)
            self._request(event.stream)
        else:
            await self._store.mark_processed([event.inbox_id], self._now())

    def _request(self, stream: str) -> None:
        self._pending[stream] = None
        self._wake.set()

    async def _keep_schedule(self, stream: str) -> None:
        interval = self.channel.schedule_seconds(stream)
        due = trio.current_time()
        while True:
            self._request(stream)
            due += interval
            # After a long pause, skip the missed runs rather than firing them back to back.
            due = max(due, trio.current_time())
            await trio.sleep_until(due)

    async def _work(self, connector: Connector) -> None:
        try:
            while not self._stopping:
                if not self._pending and not self._outbox_requested:
                    self._wake = trio.Event()
                    await self._wake.wait()
                    continue
                # Take work only while open: requests made while paused stay in the set, so a
                # stream asked for many times during a pause runs once on resume.
                await self._gate.wait_open()
                self._busy = True
                if self._outbox_requested:
                    self._outbox_requested = False
                    await self._drain_outbox(connector)
                else:
                    stream = next(iter(self._pending))
                    del self._pending[stream]
                    await self._sync(connector, stream)
                    # Writes the hub queued while this ran may have found the mailbox full.
                    self._outbox_requested = True
                self._busy = False
                self.worked.set()
                self.worked = trio.Event()
        finally:
            self._worker_done.set()

    async def _sync(self, connector: Connector, stream: str) -> None:
        started = trio.current_time()
        run_started = self._now()
        covered = self._webhooks_waiting.pop(stream, [])
        labels = (self.name, stream)
        try:
            await self._with_retries(lambda: self._read_stream(connector, stream, run_started))
        except (Retryable, RecordError) as exc:
            # Not done: the webhooks this run covered wait for the next one.
            self._webhooks_waiting.setdefault(stream, [])[:0] = covered
            self._last_error[stream] = str(exc)
            await self._hold(stream, exc)
            self._metrics.sync_runs.labels(*labels, "failed").inc()
            log.warning("sync_failed", channel=self.name, stream=stream, error=str(exc))
            return
        finally:
            self._metrics.sync_duration.labels(*labels).observe(trio.current_time() - started)
        finished = self._now()
        if covered:
            await self._store.mark_processed(covered, finished)
        await self._store.record_success(self.name, stream, finished)
        self._last_success[stream] = finished
        self._last_error[stream] = None
        self._metrics.sync_runs.labels(*labels, "ok").inc()
        self._metrics.last_sync_success.labels(*labels).set(finished.timestamp())
        log.info("sync_done", channel=self.name, stream=stream, webhooks=len(covered))

    async def _read_stream(self, connector: Connector, stream: str, run_started: datetime) -> None:
        cursor = self._cursors.get(stream)
        async with aclosing(connector.read(stream, read_from(cursor))) as pages:
            async for page in pages:
                cursor = advance(cursor, (r.updated_at for r in page.records), run_started)
                await self._store.commit_page(self.name, stream, page.records, cursor, self._now())
                self._cursors[stream] = cursor
                if page.records:
                    self._records_stored()

    async def _drain_outbox(self, connector: Connector) -> None:
        after = 0
        while batch := await self._store.pending_writes(self.name, OUTBOX_BATCH, after_id=after):
            for pending in batch:
                after = pending.id
                await self._write(connector, pending)

    async def _write(self, connector: Connector, pending: PendingWrite) -> None:
        # Audited before and after: a crash in between leaves "started" without "done", and
        # the entry stays in the outbox to be written again under the same idempotency key.
        await self._store.begin_write(self.name, pending, self._now())
        try:
            result = await self._with_retries(lambda: connector.write(pending.write))
        except Retryable as exc:
            # Still in the outbox: the next drain tries it again.
            await self._hold(None, exc, entity=pending.write.key, payload=pending.write.payload)
            return
        except RecordError as exc:
            # The platform refused this write as it is: trying it again cannot help, and would
            # hold up every drain. It leaves the outbox and waits in the exception queue.
            await self._hold(None, exc, entity=pending.write.key, payload=pending.write.payload)
            await self._store.fail_write(self.name, pending, str(exc), self._now())
            return
        finished = self._now()
        await self._store.finish_write(self.name, pending, result, finished)
        self._metrics.records_synced.labels(self.name, pending.write.kind, "out").inc()
        if result.drift_units:
            self._metrics.inventory_drift.labels(self.name).inc(result.drift_units)
        if pending.caused_at is not None:
            self._metrics.propagation.observe((finished - pending.caused_at).total_seconds())

    async def _with_retries(self, attempt: Callable[[], Awaitable[_T]]) -> _T:
        failures = 0
        while True:
            try:
                return await attempt()
            except Retryable as exc:
                if isinstance(exc, RateLimited):
                    self._metrics.throttled.labels(self.name).inc()
                failures += 1
                if self._retry.exhausted(failures):
                    raise
                await trio.sleep(self._retry.delay(failures, exc.retry_after))

    async def _hold(
        self,
        stream: str | None,
        exc: Retryable | RecordError,
        *,
        entity: str | None = None,
        payload: bytes | None = None,
    ) -> None:
        if isinstance(exc, RecordError):
            reason, entity = exc.reason, exc.entity
        else:
            reason = "retries_exhausted"
        await self._store.record_exception(
            self.name,
            stream=stream,
            entity=entity,
            reason=reason,
            detail=str(exc),
            payload=payload,
            at=self._now(),
        )
