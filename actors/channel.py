"""The channel actor: the one task that talks to a channel's platform.

It owns the channel's connector, rate limiter, retry policy, cursors, schedules and paused
state, and takes its orders from a mailbox (:mod:`actors.messages`). Three kinds of task run
inside it:

- the mailbox loop, which turns messages into requested work and pause/resume;
- one schedule per stream, which requests a sync of its stream every interval;
- two workers, each performing its requested work one unit at a time: the writer drains the
  outbox; the reader fetches records an operator named (:class:`~actors.messages.FetchRecords`),
  then fetches records webhooks named or syncs one stream, those two taking turns. A write
  does not wait behind a read (a sale's new stock would wait for a store's order poll), nor a
  read behind a write; both share the channel's call gate, so its pace and its limit on calls
  in flight hold for the two together. A snapshot stream's read is the exception: it never
  overlaps a write, so that it pictures the platform after the writes before it (the hub
  ends an order's stock reservation only on a read begun after the order was created). It
  waits for the drain in hand, other reads going first meanwhile, for at most its stream's
  schedule interval; then it goes between two writes of the drain, so that a backlog of
  writes (a flash sale's orders at the provider) does not keep the stock unread until the
  last of them is written.

Work requests are a set, so a burst of "sync orders" becomes one run: a request made while its
stream's run is queued joins that run, and requests made while it runs become one run after
it (which a change made during a run needs: the run may have read past it). A webhook that
names its record, on a stream the connector fetches by key, is acted on by fetching that
record alone, together with the others named meanwhile: a sale then costs one call instead of
a read of the stream's overlap window. Past :data:`FETCH_AT_MOST` of them (a flash sale), or
when the fetch fails, one read of the stream acts on them all instead. A snapshot
stream's reads are spaced by what the last one cost (:mod:`actors.rules.pacing`), except when
an operator asks (``SyncNow``). Pausing closes the call gate that every outbound request
passes through, so a paused actor keeps its requests and makes no call until resumed. A sync
commits each page together with the cursor it reaches, so a crash, a kill or a cancel loses at
most the page in flight, which the next run reads again.

Errors: :class:`~connectors.errors.Retryable` is retried with backoff, then recorded as an
exception (``retries_exhausted``): a read is tried again at its next run, a write at the next
drain, until ``write_attempts`` drains have failed, when it leaves the outbox and waits in the
exception queue for a replay; :class:`~connectors.errors.RecordError` is recorded and the
actor goes on (a write it refused leaves the outbox at once); anything
else (including :class:`~connectors.errors.ChannelFatal`) ends the actor, and the supervisor
decides what happens next.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import aclosing, asynccontextmanager
from datetime import datetime
from typing import TypeVar

import httpx
import msgspec
import structlog
import trio
from prometheus_client import Gauge

from actors.messages import (
    DrainOutbox,
    FetchRecords,
    InboundEvent,
    Message,
    Pause,
    Resume,
    Stop,
    SyncNow,
)
from actors.observed import observe_calls
from actors.outbound import bound_calls
from actors.ratelimit import RateLimiter, RateLimiterStatistics, SentCall, shaped_limiter
from actors.retry import RetryPolicy
from actors.rules.cursor import advance, read_from
from actors.rules.pacing import snapshot_spacing
from connectors.base import (
    CallReport,
    Connector,
    ConnectorContext,
    Fetcher,
    RateSignal,
    RemoteWrite,
)
from connectors.errors import RateLimited, RecordError, Retryable
from connectors.reasons import ExceptionKind, ExceptionReason
from daemon.config import Channel
from daemon.store import ChannelStart, HeldException, InboxItem, PendingWrite, StateStore
from metrics import Metrics

log = structlog.get_logger("shelfsync.actor")
_T = TypeVar("_T")
OUTBOX_BATCH = 100
FETCH_AT_MOST = 50
"""Records named by webhooks that are fetched together at most; more waiting for a fetch are
read with their stream instead, in fewer calls than fetching each."""


class StreamStatus(msgspec.Struct, frozen=True):
    stream: str
    cursor: datetime | None
    last_success_at: datetime | None
    last_error: str | None


class ActorStatistics(msgspec.Struct, frozen=True):
    paused: bool
    busy: bool
    """Whether a unit of work (a read, a fetch, a drain of the outbox) is in hand."""
    reading: bool
    """Whether a read or a fetch is in hand."""
    pending: list[str]
    """Streams requested and not yet read."""
    fetches_waiting: int
    """Records webhooks named that wait for their fetch, plus the operator's fetch requests
    not yet made."""
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
        self.spent = 0.0
        """The cost of every call let through so far (calls, or the platform's units)."""
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

    @asynccontextmanager
    async def call(self, cost: float = 1.0) -> AsyncIterator[CallReport]:
        while True:
            await self._open.wait()
            await self._limiter.acquire(cost)
            if self._open.is_set():  # not paused while we waited for tokens
                break
        self.spent += cost
        with self._limiter.sent(cost) as sent:
            yield _ReportedCall(sent, self._remaining_ratio)


class _ReportedCall:
    """A call through the gate: what its answer says goes to the limiter, and the share of
    the budget left to the gauge."""

    __slots__ = ("_remaining_ratio", "_sent")

    def __init__(self, sent: SentCall, remaining_ratio: Gauge | None) -> None:
        self._sent = sent
        self._remaining_ratio = remaining_ratio

    def observe(self, signal: RateSignal) -> None:
        self._sent.observe(signal)
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
        request_timeout: float = 30.0,
        records_stored: Callable[[], None] = lambda: None,
        start: ChannelStart | None = None,
    ) -> None:
        """``request_timeout`` bounds each outbound request (:func:`actors.outbound.bound_calls`),
        as the channel's ``max_concurrent_requests`` bounds how many are in flight. ``start``
        is what the store held for the channel, when the caller read it for many channels at
        once; without it the actor reads its own when it starts."""
        self._start = start
        self.channel = channel
        self._request_timeout = request_timeout
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
        self._limiter = shaped_limiter(
            channel.requests_per_second,
            channel.burst,
            sliding_window=channel.spec.sliding_window,
        )
        self._gate = CallGate(
            self._limiter,
            paused=config.paused,
            remaining_ratio=metrics.rate_limit_remaining.labels(channel.name),
        )
        self._streams = channel.streams
        self._snapshot_streams = {s.name for s in channel.spec.streams if s.snapshot}
        self._cursors: dict[str, datetime | None] = {}
        self._last_success: dict[str, datetime | None] = {}
        self._last_error: dict[str, str | None] = {}
        self._pending: dict[str, bool] = {}
        """Streams to sync, in the order first asked, each with whether an operator asked
        (then it runs without waiting for its spacing)."""
        self._spaced_until: dict[str, float] = {}
        """Per snapshot stream, the Trio time before which its next read may not start."""
        self._outbox_requested = True  # writes left by a previous run are taken up at once
        self._fetches: list[FetchRecords] = []
        self._webhooks_waiting: dict[int, set[str]] = {}
        """Inbox id of each webhook not yet processed → the streams still to be read for it."""
        self._named: dict[str, dict[int, str]] = {}
        """Per stream fetched by key, the webhooks acted on by fetching the record each names:
        inbox id → the record's key."""
        self._fetched_last = False
        """Whether the last unit was a fetch of named records: then a stream waiting runs
        next, so that a steady flow of webhooks does not keep the channel's other streams
        waiting."""
        self._wake = trio.Event()
        """Wakes the reader: a stream was requested, records named or a fetch asked, or the
        actor is stopping."""
        self._wake_writer = trio.Event()
        """Wakes the writer: a drain of the outbox was asked, or the actor is stopping."""
        self.worked = trio.Event()
        """Set when a unit of work (a sync run, a fetch, an outbox drain) has ended, well or
        not (then replaced by a fresh event): lets a caller wait for the actor's next step
        without polling."""
        self._units_in_hand = 0
        self._reading = False
        self._write_or_snapshot = trio.Lock()
        """Held by each remote write, and by a read of a snapshot stream. Trio's locks are
        fair: a snapshot read waiting for it goes before the drain's next write."""
        self._draining = False
        self._held_for_drain: dict[str, float] = {}
        """Per snapshot stream held back for a drain in hand, the Trio time it first was."""
        self._stopping = False
        self._workers_done = trio.Event()

    def statistics(self) -> ActorStatistics:
        return ActorStatistics(
            paused=self._gate.paused,
            busy=self._units_in_hand > 0,
            reading=self._reading,
            pending=list(self._pending),
            fetches_waiting=sum(map(len, self._named.values())) + len(self._fetches),
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

        On Stop the units of work in hand (a read or fetch, a drain) are finished, and no other
        begins; the caller bounds how long that may take by cancelling, which is always safe
        (see the module docstring).
        """
        start = self._start or (await self._store.channel_starts([self.name]))[self.name]
        for stream in self._streams:
            state = start.streams.get(stream)
            self._cursors[stream] = state.cursor if state else None
            self._last_success[stream] = state.last_success_at if state else None
        if start.paused:
            self._gate.pause()
        await self._adopt_webhooks(start.webhooks)
        async with self._http_client() as http:
            observe_calls(http, self.name, self._metrics)
            bound_calls(
                http,
                limit=self.channel.config.max_concurrent_requests,
                timeout=self._request_timeout,
            )
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
                    # Every stream's first run is asked for now, in the configured order (the
                    # schedules' tasks would ask in whatever order Trio starts them).
                    for stream in self._streams:
                        self._request(stream)
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
                        self._request(stream, by_operator=True)
                case SyncNow(stream=stream) if stream is not None:
                    self._request(stream, by_operator=True)
                case Pause():
                    self._gate.pause()
                case Resume():
                    self._gate.resume()
                case InboundEvent():
                    await self._take_event(message)
                case DrainOutbox():
                    self._request_drain()
                case FetchRecords():
                    self._fetches.append(message)
                    self._wake.set()
                case Stop():
                    return

    async def _finish_work_in_hand(self) -> None:
        self._stopping = True
        self._wake.set()
        self._wake_writer.set()
        if self._gate.paused:
            return  # work parked at the closed gate has no call in flight: nothing to finish
        await self._workers_done.wait()

    async def _adopt_stored_webhooks(self) -> None:
        """Take the inbox's unprocessed webhooks that no message announced: those stored
        before this actor started, and those that found the mailbox full (a webhook is
        stored before the actor is told, so a full mailbox delays it, never drops it)."""
        await self._adopt_webhooks(await self._store.pending_webhooks(self.name))

    async def _adopt_webhooks(self, items: list[InboxItem]) -> None:
        for item in items:
            await self._take_event(InboundEvent(item.id, item.streams, item.entity))

    async def _take_event(self, event: InboundEvent) -> None:
        # A webhook means "this changed": re-reading its streams acts on it, and the event
        # counts as processed once a read of each has been committed.
        if event.inbox_id in self._webhooks_waiting:
            return  # adopted from the inbox before its message arrived
        streams = {stream for stream in event.streams if stream in self._streams}
        if not streams:
            await self._store.mark_processed([event.inbox_id], self._now())
            return
        self._webhooks_waiting[event.inbox_id] = streams
        (stream, *others) = streams
        if (
            event.entity is not None
            and not others
            and stream in self.channel.spec.fetches
            and stream not in self._pending  # the read asked for will act on it
        ):
            named = self._named.setdefault(stream, {})
            named[event.inbox_id] = event.entity
            if len(named) > FETCH_AT_MOST:
                del self._named[stream]
                self._request(stream)
            self._wake.set()
            return
        for stream in sorted(streams, key=self._streams.index):
            self._request(stream)

    def _request(self, stream: str, *, by_operator: bool = False) -> None:
        self._pending[stream] = self._pending.get(stream, False) or by_operator
        self._wake.set()

    def _request_drain(self) -> None:
        self._outbox_requested = True
        self._wake_writer.set()

    def _next_stream(self) -> str | None:
        """The first requested stream that may run now."""
        now = trio.current_time()
        return next(
            (
                stream
                for stream, by_operator in self._pending.items()
                if (by_operator or self._spaced_until.get(stream, now) <= now)
                and not self._waits_for_the_drain(stream, now)
            ),
            None,
        )

    def _spacing_ends(self) -> float:
        """When the first requested stream held back by its spacing, or by a drain, may run."""
        spaced = [
            self._spaced_until[s]
            for s in self._pending
            if s in self._spaced_until and s not in self._held_for_drain
        ]
        held = [
            since + self.channel.schedule_seconds(stream)
            for stream, since in self._held_for_drain.items()
        ]
        return min(spaced + held, default=math.inf)

    def _waits_for_the_drain(self, stream: str, now: float) -> bool:
        """Whether ``stream`` is a snapshot held back for the drain in hand; noted the first
        time, as it is held back for one schedule interval at most."""
        if stream not in self._snapshot_streams or not self._draining:
            return False
        since = self._held_for_drain.setdefault(stream, now)
        return now < since + self.channel.schedule_seconds(stream)

    async def _keep_schedule(self, stream: str) -> None:
        """Ask for a run of ``stream`` every interval after its first (asked at start)."""
        interval = self.channel.schedule_seconds(stream)
        due = trio.current_time()
        while True:
            due += interval
            # After a long pause, skip the missed runs rather than firing them back to back.
            due = max(due, trio.current_time())
            await trio.sleep_until(due)
            self._request(stream)

    async def _work(self, connector: Connector) -> None:
        try:
            async with trio.open_nursery() as workers:
                workers.start_soon(self._writer, connector)
                workers.start_soon(self._reader, connector)
        finally:
            self._workers_done.set()

    async def _writer(self, connector: Connector) -> None:
        """Drain the outbox whenever asked, until stopping."""
        while not self._stopping:
            if not self._outbox_requested:
                self._wake_writer = trio.Event()
                await self._wake_writer.wait()
                continue
            await self._gate.wait_open()
            self._outbox_requested = False
            self._draining = True
            try:
                async with self._unit_of_work(reading=False):
                    await self._drain_outbox(connector)
            finally:
                self._draining = False
                self._held_for_drain.clear()
            self._wake.set()  # a snapshot read may be waiting for this drain to end

    async def _reader(self, connector: Connector) -> None:
        """Fetch and sync what was asked, one unit at a time, until stopping."""
        while not self._stopping:
            self._wake = trio.Event()  # set by what is asked from now on
            stream = self._next_stream()
            if stream is None and not self._fetches and not self._named:
                with trio.move_on_at(self._spacing_ends()):
                    await self._wake.wait()
                continue
            # Take work only while open: requests made while paused stay in the set, so a
            # stream asked for many times during a pause runs once on resume.
            await self._gate.wait_open()
            async with self._unit_of_work(reading=True):
                if self._fetches:
                    await self._fetch(connector, self._fetches.pop(0))
                    continue
                # Named records and waiting streams take turns.
                fetch_now = bool(self._named) and (stream is None or not self._fetched_last)
                self._fetched_last = fetch_now
                if fetch_now:
                    await self._fetch_named(connector)
                elif stream in self._snapshot_streams:
                    # Not while a write is in hand: until the read begins, requests of the
                    # stream still join it.
                    if not await self._snapshot_turn():
                        continue
                    try:
                        if self._stopping:
                            return
                        del self._pending[stream]
                        self._held_for_drain.pop(stream, None)
                        await self._sync(connector, stream)
                    finally:
                        self._write_or_snapshot.release()
                elif stream is not None:
                    del self._pending[stream]
                    await self._sync(connector, stream)
                # Writes the hub queued, and webhooks stored, while this ran may have found
                # the mailbox full.
                self._request_drain()
                await self._adopt_stored_webhooks()

    async def _snapshot_turn(self) -> bool:
        """Take the lock for a snapshot read, once the write in hand has ended; or give way
        (False, the lock not taken) if the reader is asked for more since it chose the read:
        what was asked may go first."""
        async with trio.open_nursery() as racing:

            async def give_way() -> None:
                await self._wake.wait()
                racing.cancel_scope.cancel()

            racing.start_soon(give_way)
            await self._write_or_snapshot.acquire()
            racing.cancel_scope.cancel()
        return self._write_or_snapshot.statistics().owner is trio.lowlevel.current_task()

    @asynccontextmanager
    async def _unit_of_work(self, *, reading: bool) -> AsyncIterator[None]:
        """Counts the actor busy (and ``reading``, for the reader's units) while a unit runs,
        and tells who waits once it has ended."""
        self._units_in_hand += 1
        self._reading = self._reading or reading
        try:
            yield
        finally:
            self._units_in_hand -= 1
            if reading:
                self._reading = False
            self.worked.set()
            self.worked = trio.Event()

    async def _sync(self, connector: Connector, stream: str) -> None:
        started = trio.current_time()
        spent = self._gate.spent
        run_started = self._now()
        # The webhooks that came before this run began: a later one may have been missed.
        covered = [i for i, streams in self._webhooks_waiting.items() if stream in streams]
        labels = (self.name, stream)
        try:
            await self._with_retries(lambda: self._read_stream(connector, stream, run_started))
        except (Retryable, RecordError) as exc:
            # Not done: the webhooks this run covered wait for the next one.
            self._last_error[stream] = str(exc)
            await self._hold(stream, exc)
            self._metrics.sync_runs.labels(*labels, "failed").inc()
            log.warning("sync_failed", channel=self.name, stream=stream, error=str(exc))
            return
        finally:
            self._metrics.sync_duration.labels(*labels).observe(trio.current_time() - started)
            if stream in self._snapshot_streams:
                cost, rate = self._gate.spent - spent, self.channel.requests_per_second
                self._spaced_until[stream] = started + snapshot_spacing(cost, rate)
        finished = self._now()
        await self._acted_on(stream, covered, finished)
        await self._store.record_success(self.name, stream, finished)
        self._last_success[stream] = finished
        self._last_error[stream] = None
        self._metrics.sync_runs.labels(*labels, "ok").inc()
        self._metrics.last_sync_success.labels(*labels).set(finished.timestamp())
        log.info("sync_done", channel=self.name, stream=stream, webhooks=len(covered))

    async def _acted_on(self, stream: str, inbox_ids: list[int], at: datetime) -> None:
        """``stream`` has been read for the webhooks ``inbox_ids`` (or the records they name
        fetched): those with no other stream left to read are processed."""
        named = self._named.get(stream, {})
        processed = []
        for inbox_id in inbox_ids:
            # A read of the stream also acts on what webhooks waiting for a fetch name.
            named.pop(inbox_id, None)
            remaining = self._webhooks_waiting.get(inbox_id)
            if remaining is None:
                continue  # processed meanwhile (an event adopted and then delivered again)
            remaining.discard(stream)
            if not remaining:
                del self._webhooks_waiting[inbox_id]
                processed.append(inbox_id)
        if not named:
            self._named.pop(stream, None)
        if processed:
            await self._store.mark_processed(processed, at)

    async def _read_stream(self, connector: Connector, stream: str, run_started: datetime) -> None:
        cursor = self._cursors.get(stream)
        async with aclosing(connector.read(stream, read_from(cursor))) as pages:
            async for page in pages:
                cursor = advance(cursor, (r.updated_at for r in page.records), run_started)
                stored = await self._store.commit_page(
                    self.name,
                    stream,
                    page.records,
                    cursor,
                    self._now(),
                    changed_only=stream not in self._snapshot_streams,
                )
                self._cursors[stream] = cursor
                if stored:
                    self._records_stored()

    async def _fetch(self, connector: Connector, request: FetchRecords) -> None:
        stream = request.stream
        if stream not in self.channel.spec.fetches or not isinstance(connector, Fetcher):
            request.outcome.fail(f"{self.channel.spec.platform} cannot fetch {stream} by key")
            return
        try:
            page = await self._with_retries(lambda: connector.fetch(stream, request.keys))
        except (Retryable, RecordError) as exc:
            # The operator who asked is told; nothing is left to retry on its own.
            log.warning("fetch_failed", channel=self.name, stream=stream, error=str(exc))
            request.outcome.fail(str(exc))
            return
        # No cursor moves: the records are older or newer than it, and neither says how far
        # the stream has been read.
        if await self._store.commit_fetched(self.name, stream, page.records, self._now()):
            self._records_stored()
        log.info("fetch_done", channel=self.name, stream=stream, records=len(page.records))
        request.outcome.succeed([record.key for record in page.records])

    async def _fetch_named(self, connector: Connector) -> None:
        """Fetch the records webhooks named on one stream, as its read would return them; if
        that fails, a read of the stream acts on those webhooks instead."""
        stream = next(iter(self._named))
        named = self._named.pop(stream)
        keys = sorted(set(named.values()))
        if not isinstance(connector, Fetcher):
            self._request(stream)
            return
        try:
            page = await self._with_retries(lambda: connector.fetch(stream, keys, as_read=True))
        except (Retryable, RecordError) as exc:
            log.warning("webhook_fetch_failed", channel=self.name, stream=stream, error=str(exc))
            self._request(stream)
            return
        fetched = self._now()
        if await self._store.commit_fetched(self.name, stream, page.records, fetched):
            self._records_stored()
        await self._acted_on(stream, list(named), fetched)
        log.info("webhook_fetch_done", channel=self.name, stream=stream, records=len(page.records))

    async def _drain_outbox(self, connector: Connector) -> None:
        after = 0
        held_back: set[str] = set()
        """Kinds of write of which one failed for now in this drain: the later ones wait."""
        while batch := await self._store.pending_writes(self.name, OUTBOX_BATCH, after_id=after):
            for pending in batch:
                after = pending.id
                if pending.write.kind in held_back:
                    continue
                async with self._write_or_snapshot:
                    if not await self._write(connector, pending):
                        held_back.add(pending.write.kind)

    async def _write(self, connector: Connector, pending: PendingWrite) -> bool:
        """Perform one outbox entry; False if it failed for now and stays in the outbox.

        Then the later writes of its kind wait behind it until the next drain, so that each
        kind is written in the order it was queued (a stock write sent after a newer one
        would leave the store showing the older quantities), while the others go on: one
        failing write does not hold up the rest of the channel."""
        # Audited before and after: a crash in between leaves "started" without "done", and
        # the entry stays in the outbox to be written again under the same idempotency key.
        # What is written is the entry as stored when begun: the hub may have folded newer
        # stock into it since this batch was read, and changes it no more from here on.
        write = await self._store.begin_write(self.name, pending, self._now())
        pending = msgspec.structs.replace(pending, write=write)
        try:
            result = await self._with_retries(lambda: connector.write(pending.write))
        except Retryable as exc:
            await self._hold_write(pending.write, exc)
            attempts = pending.attempts + 1
            if attempts >= self.channel.config.write_attempts:
                # Out of the outbox, so that it stops costing every drain its backoff; the
                # exception keeps it for a replay under the same idempotency key.
                reason = f"gave up after {attempts} attempts: {exc}"
                await self._store.fail_write(self.name, pending, reason, self._now())
                return True
            return False  # still in the outbox: the next drain tries it again, first
        except RecordError as exc:
            # The platform refused this write as it is: trying it again cannot help, and would
            # hold up every drain. It leaves the outbox and waits in the exception queue.
            await self._hold_write(pending.write, exc)
            await self._store.fail_write(self.name, pending, str(exc), self._now())
            return True
        finished = self._now()
        await self._store.finish_write(self.name, pending, result, finished)
        self._metrics.records_synced.labels(self.name, pending.write.kind, "out").inc()
        if result.drift_units:
            self._metrics.inventory_drift.labels(self.name).inc(result.drift_units)
        if pending.caused_at is not None:
            self._metrics.propagation.observe((finished - pending.caused_at).total_seconds())
        return True

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

    async def _hold(self, stream: str, exc: Retryable | RecordError) -> None:
        """Record a read of ``stream`` that failed in the exception queue."""
        reason, entity = _reason_of(exc), exc.entity if isinstance(exc, RecordError) else None
        held = HeldException(self.name, stream, entity, reason, str(exc), None, "read")
        await self._store.record_exception(held, self._now())

    async def _hold_write(self, write: RemoteWrite, exc: Retryable | RecordError) -> None:
        """Record a write that failed in the exception queue, under its idempotency key. A
        stock write is of its own kind: replaying it writes the current quantities, which may
        have moved since it was queued, not the ones it held."""
        kind: ExceptionKind = "stock" if write.kind == "inventory.set" else "write"
        held = HeldException(
            self.name, None, write.key, _reason_of(exc), str(exc), write.payload, kind
        )
        await self._store.record_exception(held, self._now())


def _reason_of(exc: Retryable | RecordError) -> ExceptionReason:
    """The exception queue's reason for ``exc``: a retryable failure got there by running out
    of retries."""
    return exc.reason if isinstance(exc, RecordError) else "retries_exhausted"
