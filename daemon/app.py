"""The daemon process: state store, supervisor, HTTP server, control socket and signals, wired.

:meth:`Daemon.run` is the whole life of the process. Shutdown (SIGTERM, SIGINT or
:meth:`Daemon.request_stop`) stops taking webhooks and control requests, lets every actor
finish the unit of work in hand for up to ``shutdown_grace``, then cancels what is left; work
cancelled there was not committed and is picked up again on the next start.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import signal
import ssl
import urllib.request
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime, timedelta
from importlib.metadata import PackageNotFoundError, version
from typing import NamedTuple

import httpx
import msgspec
import structlog
import trio

from actors.channel import StreamStatus as ActorStreamStatus
from actors.hub import Hub, ReplayFailed
from actors.messages import (
    DrainOutbox,
    FetchOutcome,
    FetchRecords,
    InboundEvent,
    Message,
    Pause,
    Resume,
    SyncNow,
)
from actors.pool import order_number
from connectors.errors import InvalidSignature, RecordError
from connectors.model import Order
from connectors.reasons import MEANINGS, RETRYABLE
from daemon import control
from daemon.config import Channel, Config, ConfigError, load_config
from daemon.control import (
    ChannelStatus,
    ControlRequest,
    ControlResponse,
    ExceptionView,
    StreamStatus,
)
from daemon.http import HttpApp, WebhookAnswer, serve_http
from daemon.http_transport import Transport
from daemon.logs import redact, register_secrets
from daemon.store import (
    AuditNote,
    AuditQuery,
    ExceptionEntry,
    ExceptionQuery,
    HeldException,
    OrderEntry,
    StateStore,
    open_store,
)
from daemon.supervisor import ChannelSlot, ChannelState, Supervisor
from daemon.systemd import Notifier
from metrics import ChannelGaugeState, Metrics, StreamGaugeState

log = structlog.get_logger("shelfsync.daemon")

HEARTBEAT_SECONDS = 10.0
"""How often the store is checked (and the exception gauge refreshed) without a watchdog."""

AUDIT_PRUNE_SECONDS = 3600.0
"""How often audit entries past ``audit_retention_days`` are deleted."""

HUB_KINDS = frozenset({"order", "sku", "stock", "record"})
"""Exception kinds the hub replays (see :meth:`actors.hub.Hub.replay`)."""


def shelfsync_version() -> str:
    try:
        return version("shelfsync")
    except PackageNotFoundError:
        return "unknown"


def wall_clock() -> datetime:
    return datetime.now(UTC)


@functools.cache
def tls_context() -> ssl.SSLContext:
    """The one TLS context of the process, with the certifi trust store httpx would load.

    Every channel's client shares it: a context of its own would load and parse the whole
    trust store again, tens of milliseconds and a few hundred kilobytes per channel, which
    with a thousand channels is most of the start-up time and of the memory."""
    return httpx.create_ssl_context()


def default_http_client(timeout: float = 30.0) -> httpx.AsyncClient:
    """The client each channel's actor talks to its platform with: every phase of a request
    (connect, write, read) bounded by ``timeout`` seconds, over the shared :func:`tls_context`
    and the daemon's own :class:`~daemon.http_transport.Transport`, unless the environment
    names a proxy: httpx reaches one only through its own transport."""
    proxies = urllib.request.getproxies()
    proxied = any(scheme in proxies for scheme in ("http", "https", "all"))
    return httpx.AsyncClient(
        timeout=httpx.Timeout(timeout),
        verify=tls_context(),
        transport=None if proxied else Transport(tls_context()),
    )


class Daemon:
    def __init__(
        self,
        config: Config,
        *,
        now: Callable[[], datetime] = wall_clock,
        http_client: Callable[[], httpx.AsyncClient] | None = None,
        notifier: Notifier | None = None,
    ) -> None:
        """``http_client`` makes each actor's client; by default :func:`default_http_client`
        with the config's ``request_timeout``."""
        self.config = config
        self._now = now
        self._http_client = http_client or (
            lambda: default_http_client(self.config.daemon.request_timeout.seconds)
        )
        self._notifier = notifier or Notifier()
        self.metrics = Metrics(shelfsync_version())
        self.metrics.watch(self)
        self._store: StateStore | None = None
        self._supervisor: Supervisor | None = None
        self._hub: Hub | None = None
        self._stop = trio.Event()
        self._paused: dict[str, bool] = {}
        register_secrets(_secret_values(config))

    # -- life cycle -------------------------------------------------------------------------

    async def run(
        self, *, task_status: trio.TaskStatus[list[str]] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Run until asked to stop; ``started`` hands back the HTTP server's bound URLs."""
        settings = self.config.daemon
        async with open_store(settings.state, synchronous=settings.sqlite_synchronous) as store:
            self._store = store
            hub = Hub(
                self.config,
                store=store,
                metrics=self.metrics,
                now=self._now,
                notify=self._drain_outbox_of,
            )
            self._hub = hub
            supervisor = Supervisor(
                store=store,
                metrics=self.metrics,
                settings=settings,
                now=self._now,
                http_client=self._http_client,
                records_stored=hub.ring,
            )
            self._supervisor = supervisor
            http_shutdown = trio.Event()
            async with trio.open_nursery() as nursery:
                await nursery.start(hub.run)
                await nursery.start(supervisor.run)
                # Before any channel: once they read, the store is theirs for a while, and
                # this pass would wait its turn behind every page of every first read.
                await nursery.start(self._keep_audit_retention)
                await self._start_channels(self.config.enabled_channels)
                if not self.config.enabled_channels:
                    log.warning("no_channels", config=self.config.source)
                app = HttpApp(self, self.metrics.registry, settings.webhook_max_bytes)
                urls = await nursery.start(
                    lambda task_status: serve_http(
                        app,
                        settings.listen,
                        grace=settings.shutdown_grace.seconds,
                        shutdown=http_shutdown,
                        task_status=task_status,
                    )
                )
                control_scope = trio.CancelScope()
                await nursery.start(self._serve_control, control_scope)
                nursery.start_soon(self._take_signals)
                for slot in supervisor.slots():
                    await slot.settled.wait()
                log.info("serving", listen=urls, control_socket=settings.control_socket)
                self._notifier.ready(self._summary())
                nursery.start_soon(self._heartbeat)
                task_status.started(urls)

                await self._stop.wait()
                log.info("stopping", grace_seconds=settings.shutdown_grace.seconds)
                self._notifier.stopping()
                with trio.move_on_after(settings.shutdown_grace.seconds):
                    http_shutdown.set()
                    control_scope.cancel()
                    await supervisor.stop_all(settings.shutdown_grace.seconds)
                nursery.cancel_scope.cancel()
        log.info("stopped")

    def request_stop(self) -> None:
        self._stop.set()

    @property
    def hub(self) -> Hub:
        if self._hub is None:
            raise RuntimeError("the daemon is not running")
        return self._hub

    @property
    def supervisor(self) -> Supervisor:
        if self._supervisor is None:
            raise RuntimeError("the daemon is not running")
        return self._supervisor

    async def _serve_control(
        self, scope: trio.CancelScope, *, task_status: trio.TaskStatus[None]
    ) -> None:
        with scope:
            await control.serve_control(
                self.config.daemon.control_socket, self.handle_control, task_status=task_status
            )

    async def _take_signals(self) -> None:
        watched = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2)
        with trio.open_signal_receiver(*watched) as signals:
            async for signum in signals:
                log.info("signal", signal=signal.Signals(signum).name)
                if signum in (signal.SIGTERM, signal.SIGINT):
                    self.request_stop()
                elif signum == signal.SIGHUP:
                    await self.reload()
                elif signum == signal.SIGUSR1:
                    await self._for_channels(None, self._sync)
                elif signum == signal.SIGUSR2:
                    pause = not all(self._paused.get(n, False) for n in self._channel_names())
                    await self._for_channels(None, self._pause if pause else self._resume)

    async def _heartbeat(self) -> None:
        # WATCHDOG=1 only after the store has answered: a wedged database should get the
        # process restarted, not kept alive by a timer that knows nothing about it.
        assert self._store is not None
        interval = self._notifier.watchdog_interval or HEARTBEAT_SECONDS
        while True:
            await self.refresh_exception_gauge()
            self._notifier.watchdog()
            await trio.sleep(interval)

    async def refresh_exception_gauge(self) -> None:
        """Set ``shelfsync_exceptions_open{channel,reason}`` from the store: a pair with no
        open exception left disappears."""
        assert self._store is not None
        counts = await self._store.open_exceptions()
        gauge = self.metrics.exceptions_open
        gauge.clear()
        for (channel, reason), count in counts.items():
            gauge.labels(channel, reason).set(count)

    async def _keep_audit_retention(self, *, task_status: trio.TaskStatus[None]) -> None:
        # The first pass runs before the daemon reports ready: a start-up never serves an
        # audit log longer than its retention.
        await self._prune_audit()
        task_status.started()
        while True:
            await trio.sleep(AUDIT_PRUNE_SECONDS)
            await self._prune_audit()

    async def _prune_audit(self) -> None:
        assert self._store is not None
        days = self.config.daemon.audit_retention_days
        if days:
            pruned = await self._store.prune_audit(self._now() - timedelta(days=days))
            if pruned:
                log.info("audit_pruned", entries=pruned, retention_days=days)

    async def reload(self) -> bool:
        """Re-read the config file and apply channel changes; keep the old config if it is bad."""
        assert self._supervisor is not None
        self._notifier.reloading()
        try:
            new = load_config(self.config.source)
        except ConfigError as exc:
            log.error("reload_rejected", problems=exc.problems)
            self._notifier.ready(f"reload rejected, old config kept; {self._summary()}")
            return False
        register_secrets(_secret_values(new))
        old_channels = {c.name: c for c in self.config.enabled_channels}
        new_channels = {c.name: c for c in new.enabled_channels}
        for key in ("state", "listen", "control_socket", "sqlite_synchronous", "log_level"):
            if getattr(new.daemon, key) != getattr(self.config.daemon, key):
                log.warning("restart_needed", key=f"daemon.{key}")
        grace = new.daemon.shutdown_grace.seconds
        for name, channel in old_channels.items():
            if new_channels.get(name) != channel:
                await self._supervisor.stop_channel(name, grace)
                self._paused.pop(name, None)
                if name not in new_channels:
                    self.metrics.forget_channel(name)
                    log.info("channel_removed", channel=name)
        self._supervisor.update_settings(new.daemon)
        self.config = new
        if self._hub is not None:
            self._hub.reconfigure(new)
        changed = [c for name, c in new_channels.items() if old_channels.get(name) != c]
        await self._start_channels(changed)
        for channel in changed:
            log.info(
                "channel_started" if channel.name not in old_channels else "channel_restarted",
                channel=channel.name,
            )
        self._notifier.ready(self._summary())
        return True

    def _drain_outbox_of(self, channel: str) -> None:
        slot = None if self._supervisor is None else self._supervisor.slot(channel)
        if slot is not None:
            # A full mailbox already has work queued; the actor drains its outbox after every
            # sync run as well, so a write queued now is never left waiting for a message.
            with contextlib.suppress(trio.WouldBlock):
                slot.send.send_nowait(DrainOutbox())

    async def _start_channels(self, channels: list[Channel]) -> None:
        assert self._store is not None and self._supervisor is not None
        # Read for every channel at once: a thousand channels would otherwise wait for a
        # thousand turns at the store, behind the first reads of those already started.
        starts = await self._store.channel_starts([channel.name for channel in channels])
        for channel in channels:
            start = starts[channel.name]
            self._paused[channel.name] = channel.config.paused or start.paused
            self._supervisor.start_channel(channel, start)

    # -- what HTTP asks -----------------------------------------------------------------------

    def readiness(self) -> str | None:
        if self._store is None or self._supervisor is None:
            return "starting"
        down = [
            f"{slot.name} is {slot.state}" + (f" ({slot.last_error})" if slot.last_error else "")
            for slot in self._supervisor.slots()
            if slot.state is not ChannelState.RUNNING
        ]
        return "; ".join(down) or None

    def knows_channel(self, channel: str) -> bool:
        return self._enabled_channel(channel) is not None

    def _enabled_channel(self, name: str) -> Channel | None:
        return next((c for c in self.config.enabled_channels if c.name == name), None)

    async def receive_webhook(
        self, channel_name: str, headers: Mapping[str, str], body: bytes
    ) -> WebhookAnswer:
        assert self._store is not None and self._supervisor is not None
        channel = self._enabled_channel(channel_name)
        if channel is None:  # removed by a reload while its request was in flight
            return WebhookAnswer(404, f"no channel named {channel_name!r}")
        counter = self.metrics.webhooks
        try:
            event = channel.spec.verify_webhook(channel.settings, channel.secrets, headers, body)
        except InvalidSignature as exc:
            counter.labels(channel_name, "rejected").inc()
            log.warning("webhook_rejected", channel=channel_name, reason=str(exc))
            return WebhookAnswer(401, "signature check failed")
        except RecordError as exc:
            # Authentic but not the shape we know: keep it for an operator, and acknowledge,
            # since the platform re-sending the same bytes would not help.
            counter.labels(channel_name, "invalid").inc()
            # One exception per body: the same body again counts as another attempt of it, a
            # different one is kept beside it (not folded into the first one).
            entity = f"{exc.entity or 'webhook'} sha256:{hashlib.sha256(body).hexdigest()[:16]}"
            held = HeldException(channel_name, None, entity, exc.reason, str(exc), body, "webhook")
            await self._store.record_exception(held, self._now())
            return WebhookAnswer(200, "held for review: " + str(exc))
        inbox_id = await self._store.accept_webhook(channel_name, event, self._now())
        if inbox_id is None:
            counter.labels(channel_name, "duplicate").inc()
            return WebhookAnswer(200, "duplicate")
        counter.labels(channel_name, "accepted").inc()
        slot = self._supervisor.slot(channel_name)
        if slot is not None and event.streams:  # one naming no stream is stored processed
            try:
                slot.send.send_nowait(InboundEvent(inbox_id, event.streams, event.entity))
            except trio.WouldBlock:
                # Durable already: the actor picks it up on its next sync of those streams.
                log.info("mailbox_full", channel=channel_name)
        return WebhookAnswer(200, "")  # kept as it came: nothing to add to the status

    # -- what the control socket asks -----------------------------------------------------------

    async def handle_control(self, request: ControlRequest) -> ControlResponse:
        # The exception queue and the audit log are the store's: they also show channels a
        # reload removed.
        reads_store = request.verb in ("exceptions", "audit")
        if (
            request.channel is not None
            and not reads_store
            and request.channel not in self._channel_names()
        ):
            return ControlResponse(
                ok=False, lines=[f"no enabled channel named {request.channel!r}"]
            )
        match request.verb:
            case "status":
                return ControlResponse(ok=True, channels=await self.status(request.channel))
            case "pause":
                return await self._for_channels(request.channel, self._pause)
            case "resume":
                return await self._for_channels(request.channel, self._resume)
            case "sync":
                stream = request.stream
                return await self._for_channels(
                    request.channel, lambda slot: self._sync(slot, stream)
                )
            case "import":
                return await self.import_orders(request.channel, request.orders)
            case "exceptions":
                return await self.exceptions(request)
            case "audit":
                assert self._store is not None
                query = AuditQuery(request.channel, request.entity, request.since, request.limit)
                return ControlResponse(ok=True, audit=await self._store.audit_entries(query))

    async def exceptions(self, request: ControlRequest) -> ControlResponse:
        """``ctl exceptions``: list, show, replay or discard."""
        assert self._store is not None
        if request.action == "list":
            query = ExceptionQuery(
                request.channel, request.reason, request.include_resolved, request.limit
            )
            entries = await self._store.exceptions(query)
            return ControlResponse(ok=True, exceptions=[_view(e, payload=False) for e in entries])
        if request.action == "replay" and request.all_retryable:
            wanted = [
                entry
                for entry in await self._open_exceptions(request.channel)
                if entry.reason in RETRYABLE
            ]
            if not wanted:
                return ControlResponse(ok=True, lines=["no open retryable exception"])
            return await self._replay(wanted)
        entry = None
        if request.exception_id is not None:
            entry = await self._store.exception(request.exception_id)
        if entry is None:
            return ControlResponse(ok=False, lines=[f"no exception {request.exception_id}"])
        if request.action == "show":
            return ControlResponse(ok=True, exceptions=[_view(entry, payload=True)])
        if entry.resolved_at is not None:
            return ControlResponse(
                ok=False, lines=[f"exception {entry.id}: already {entry.resolution}"]
            )
        if request.action == "discard":
            await self._store.discard_exception(entry.id, self._now())
            await self.refresh_exception_gauge()
            return ControlResponse(ok=True, lines=[f"exception {entry.id}: discarded"])
        return await self._replay([entry])

    async def _open_exceptions(self, channel: str | None) -> list[ExceptionEntry]:
        """Every open exception (of ``channel``), page after page, oldest first."""
        assert self._store is not None
        found: list[ExceptionEntry] = []
        while page := await self._store.exceptions(
            ExceptionQuery(channel=channel, after_id=found[-1].id if found else 0)
        ):
            found += page
        return found

    async def _replay(self, entries: list[ExceptionEntry]) -> ControlResponse:
        """Replay open exceptions; what each kind's replay does is in README ("Exceptions")."""
        outcomes: dict[int, Outcome] = {}
        by_hub = [e for e in entries if e.kind in HUB_KINDS]
        if by_hub:
            try:
                lines, ok = await self.hub.replay(by_hub), True
            except ReplayFailed as exc:
                lines, ok = [f"not replayed: {exc}"] * len(by_hub), False
            outcomes |= {e.id: Outcome(ok, line) for e, line in zip(by_hub, lines, strict=True)}
        for entry in entries:
            if entry.kind not in HUB_KINDS:
                outcomes[entry.id] = await self._replay_outside_hub(entry)
        await self.refresh_exception_gauge()
        return ControlResponse(
            ok=all(outcome.ok for outcome in outcomes.values()),
            lines=[
                f"exception {e.id} ({e.kind} {e.reason} on {e.channel}): {outcomes[e.id].line}"
                for e in entries
            ],
        )

    async def _replay_outside_hub(self, entry: ExceptionEntry) -> Outcome:
        """A write is queued again under its idempotency key; a read, or a webhook that could
        not be understood (it only says that something changed), is a sync of the stream or
        the channel now."""
        assert self._store is not None
        slot = self.supervisor.slot(entry.channel)
        if slot is None:
            return Outcome(False, f"channel {entry.channel} is not enabled: not replayed")
        if entry.kind == "write":
            if not await self._store.requeue_write(entry.id, self._now()):
                return Outcome(False, "its write is no longer in the outbox: not replayed")
            self._drain_outbox_of(entry.channel)
            return Outcome(True, f"queued again as {entry.entity}; closes once written")
        synced = await self._sync(slot, entry.stream)
        if not synced.ok:
            return synced
        if entry.kind == "webhook":
            note = AuditNote(
                entry.channel, "exception.replayed", entry.entity, entry.summary, "synced"
            )
            await self._store.resolve_exception(entry.id, "replayed", note, self._now())
            return Outcome(True, "its channel's streams are read again")
        return Outcome(True, f"{entry.stream} is read again; closes on its next clean run")

    async def _for_channels(
        self, name: str | None, action: Callable[[ChannelSlot], Awaitable[Outcome]]
    ) -> ControlResponse:
        assert self._supervisor is not None
        outcomes = [
            await action(slot)
            for slot in self._supervisor.slots()
            if name is None or slot.name == name
        ]
        return ControlResponse(
            ok=all(outcome.ok for outcome in outcomes),
            lines=[outcome.line for outcome in outcomes] or ["no channels"],
        )

    async def _pause(self, slot: ChannelSlot) -> Outcome:
        assert self._store is not None
        # Told first: a request refused for a full mailbox changes nothing, stored flag included.
        if not await self._tell(slot, Pause()):
            return Outcome(False, f"{slot.name}: mailbox full, not paused")
        await self._store.set_paused(slot.name, True)
        self._paused[slot.name] = True
        log.info("paused", channel=slot.name)
        return Outcome(True, f"{slot.name}: paused")

    async def _resume(self, slot: ChannelSlot) -> Outcome:
        assert self._store is not None
        config_paused = slot.channel.config.paused
        if not config_paused and not await self._tell(slot, Resume()):
            return Outcome(False, f"{slot.name}: mailbox full, not resumed")
        # Cleared even when the config pauses the channel: removing ``paused = true`` later
        # then resumes it.
        await self._store.set_paused(slot.name, False)
        if config_paused:
            return Outcome(False, f"{slot.name}: still paused by its config (paused = true)")
        self._paused[slot.name] = False
        log.info("resumed", channel=slot.name)
        return Outcome(True, f"{slot.name}: resumed")

    async def _sync(self, slot: ChannelSlot, stream: str | None = None) -> Outcome:
        if stream is not None and stream not in slot.channel.spec.stream_names:
            known = ", ".join(slot.channel.spec.stream_names)
            return Outcome(False, f"{slot.name}: no stream {stream!r}, expected one of: {known}")
        if not await self._tell(slot, SyncNow(stream=stream)):
            return Outcome(False, f"{slot.name}: mailbox full, sync not queued")
        return Outcome(True, f"{slot.name}: sync of {stream or 'all streams'} queued")

    async def import_orders(self, channel: str | None, orders: list[str]) -> ControlResponse:
        """Read the named orders of ``channel`` now and say, per order (its store id or order
        number), what the hub decided: imported, already imported, or the filter or hold that
        stopped it.

        A platform whose connector fetches orders by key (``ConnectorSpec.fetches``) has the
        named orders read from the store whatever the cursor, which stays where it is; one
        the store does not have is "not found in the store". Any other platform's orders
        stream is read from its cursor, and an order it does not return is not found. A
        paused channel makes no call: the answer says so. ``ok`` holds when every order was
        found and decided (whatever the decision), so the command fails only for an order
        not found, a fetch that failed, or a request it refused.
        """
        slot = None if channel is None else self.supervisor.slot(channel)
        if slot is None or slot.actor is None:
            return ControlResponse(ok=False, lines=["import needs a running channel"])
        if "orders" not in slot.channel.streams:
            return ControlResponse(ok=False, lines=[f"{slot.name}: its orders stream is off"])
        if not orders:
            return ControlResponse(ok=False, lines=["import needs at least one order id"])
        # The daemon's flag is set the moment ``ctl pause`` answers, before the actor has
        # taken the Pause from its mailbox.
        if self._paused.get(slot.name, False) or slot.actor.statistics().paused:
            return ControlResponse(
                ok=False, lines=[f"{slot.name}: paused, it makes no calls; resume it to import"]
            )
        before = {order: self._decision(slot.channel, order) for order in orders}
        fetched: set[str] = set()
        if "orders" in slot.channel.spec.fetches:
            outcome = await self._fetch_and_settle(slot, "orders", orders)
            if outcome.error is not None:
                return ControlResponse(
                    ok=False, lines=[f"{slot.name}: the orders could not be read: {outcome.error}"]
                )
            fetched, missing = set(outcome.keys), "not found in the store"
        else:
            await self.sync_and_settle(slot.name, "orders")
            missing = "not found: the store's orders stream did not return it"
        lines, ok = [], True
        for order in orders:
            entry = self._decision(slot.channel, order)
            ok &= entry is not None
            if entry is None and order in fetched:
                # Read, but the hub made nothing of it: its record was held as an exception.
                lines.append(f"{order}: read from the store, but not decided (see the exceptions)")
            else:
                lines.append(f"{order}: {_describe(entry, before[order], missing)}")
        return ControlResponse(ok=ok, lines=lines)

    async def _fetch_and_settle(
        self, slot: ChannelSlot, stream: str, keys: list[str]
    ) -> FetchOutcome:
        """Have ``slot``'s actor fetch the records of ``stream`` that ``keys`` name, and return
        once they are stored and the hub has decided them; at most ``IMPORT_WAIT_SECONDS``."""
        outcome = FetchOutcome()
        if not await self._tell(slot, FetchRecords(stream, tuple(keys), outcome)):
            outcome.fail("mailbox full, fetch not queued")
            return outcome
        with trio.move_on_after(IMPORT_WAIT_SECONDS):
            await outcome.done.wait()
            # The actor rang the hub before it answered: busy until it has decided them.
            while self.hub.busy:
                await self.hub.changed.wait()
        if not outcome.done.is_set():
            paused = slot.actor is not None and slot.actor.statistics().paused
            outcome.fail(
                "paused before the fetch was made"
                if paused
                else f"no answer within {IMPORT_WAIT_SECONDS:g} seconds"
            )
        return outcome

    async def sync_and_settle(self, channel: str, stream: str) -> None:
        """Run a sync of ``channel``'s ``stream`` now, and return once a run that began after
        the request has ended (well or not) and the hub has taken what it read; at most
        ``IMPORT_WAIT_SECONDS``."""
        slot = self.supervisor.slot(channel)
        if slot is None or slot.actor is None:
            return
        actor = slot.actor
        registry = self.metrics.registry

        def runs() -> float:
            return sum(
                registry.get_sample_value(
                    "shelfsync_sync_runs_total",
                    {"channel": channel, "stream": stream, "outcome": outcome},
                )
                or 0.0
                for outcome in ("ok", "failed")
            )

        def done(started: float) -> bool:
            # A run under way when asked ends first; the request then waits in ``pending``
            # (once taken from the mailbox) until the next run takes it.
            stats = actor.statistics()
            return (
                slot.mailbox_depth == 0
                and runs() > started
                and stream not in stats.pending
                and not stats.reading
            )

        started = runs()
        await self._tell(slot, SyncNow(stream=stream))
        with trio.move_on_after(IMPORT_WAIT_SECONDS):
            while not done(started):
                await actor.worked.wait()
            while self.hub.busy:
                await self.hub.changed.wait()

    def _decision(self, channel: Channel, order: str) -> OrderEntry | None:
        """The hub's decision about ``channel``'s order named by its id or its number."""
        pool = self.hub.pool
        if channel.origin is not None and (found := pool.order(channel.origin, order)) is not None:
            return found
        return pool.imported_numbers.get((channel.name, order_number(order))) or next(
            (
                entry
                for entry in pool.orders.values()
                if entry.channel == channel.name
                and order_number(_number_of(entry)) == order_number(order)
            ),
            None,
        )

    async def _tell(self, slot: ChannelSlot, message: Message) -> bool:
        assert self._supervisor is not None
        return await self._supervisor.deliver(slot.name, message)

    async def quiet(self) -> bool:
        """Whether nothing is in hand: no actor busy or with work requested, the hub idle, and
        no write waiting in any channel's outbox."""
        assert self._store is not None and self._supervisor is not None
        if self.hub.busy:
            return False
        for slot in self._supervisor.slots():
            if slot.actor is not None:
                stats = slot.actor.statistics()
                if stats.busy or stats.pending or stats.fetches_waiting:
                    return False
            if await self._store.pending_writes(slot.name, 1):
                return False
        return True

    async def held_writes(self) -> list[HeldException]:
        """The writes waiting in the exception queue (refused by their platform, or out of
        retries), with their payloads."""
        assert self._store is not None
        return await self._store.open_write_exceptions()

    async def held_records(self, stream: str) -> list[HeldException]:
        """The records of ``stream`` waiting in the exception queue (for ``orders``: every
        order held, with its reason)."""
        assert self._store is not None
        return await self._store.open_stream_exceptions(stream)

    async def status(self, only: str | None = None) -> list[ChannelStatus]:
        assert self._store is not None and self._supervisor is not None
        counts: dict[str, int] = {}
        for (name, _), count in (await self._store.open_exceptions()).items():
            counts[name] = counts.get(name, 0) + count
        now = self._now()
        result = []
        for slot in self._supervisor.slots():
            if only is not None and slot.name != only:
                continue
            # A running actor knows its streams best; a channel that is down has the store's.
            if slot.actor is not None:
                known = slot.actor.statistics().streams
            else:
                stored = await self._store.stream_states(slot.name)
                known = [
                    ActorStreamStatus(s.stream, s.cursor, s.last_success_at, last_error=None)
                    for s in stored.values()
                ]
            streams = [
                StreamStatus(
                    stream=s.stream,
                    last_success_at=s.last_success_at,
                    cursor=s.cursor,
                    cursor_lag_seconds=_lag(now, s.cursor),
                    last_error=redact(s.last_error) if s.last_error else None,
                )
                for s in known
            ]
            result.append(
                ChannelStatus(
                    channel=slot.name,
                    platform=slot.channel.spec.platform,
                    state=str(slot.state),
                    paused=self._paused.get(slot.name, False),
                    restarts=slot.restarts,
                    open_exceptions=counts.get(slot.name, 0),
                    last_error=slot.last_error,
                    mailbox_depth=slot.mailbox_depth,
                    streams=streams,
                )
            )
        return result

    # -- what /metrics reads at scrape time -----------------------------------------------------

    def channel_gauges(self) -> list[ChannelGaugeState]:
        if self._supervisor is None:
            return []
        now = self._now()
        gauges = []
        for slot in self._supervisor.slots():
            actor = slot.actor
            streams = [
                StreamGaugeState(stream=s.stream, cursor_lag_seconds=_lag(now, s.cursor))
                for s in (actor.statistics().streams if actor else [])
            ]
            gauges.append(
                ChannelGaugeState(
                    channel=slot.name,
                    up=slot.state is ChannelState.RUNNING,
                    paused=self._paused.get(slot.name, False),
                    mailbox_depth=slot.mailbox_depth,
                    streams=streams,
                )
            )
        return gauges

    def _channel_names(self) -> list[str]:
        return [c.name for c in self.config.enabled_channels]

    def _summary(self) -> str:
        if self._supervisor is None:
            return "starting"
        states = [str(slot.state) for slot in self._supervisor.slots()]
        running = states.count(str(ChannelState.RUNNING))
        return f"{running} of {len(states)} channels running"


IMPORT_WAIT_SECONDS = 120.0
"""How long ``ctl import`` waits for the orders read and the hub's decisions."""


def _number_of(entry: OrderEntry) -> str:
    return msgspec.json.decode(entry.body, type=Order).reference_id


def _describe(entry: OrderEntry | None, before: OrderEntry | None, missing: str) -> str:
    """What ``ctl import`` says of an order the hub decided as ``entry`` (``before`` the
    import); ``missing`` when it has no decision."""
    if entry is None:
        return missing
    if entry.state == "imported":
        already = before is not None and before.state == "imported"
        return "already imported" if already else "imported"
    if entry.state == "cancelled":
        return "cancelled in the store (its fulfillment order is cancelled)"
    return f"{entry.state}: {entry.reason} ({entry.detail})"


def _view(entry: ExceptionEntry, *, payload: bool) -> ExceptionView:
    shown = msgspec.Raw(b"null")
    if payload and entry.payload is not None:
        try:
            msgspec.json.decode(entry.payload)
            shown = msgspec.Raw(entry.payload)
        except msgspec.DecodeError:
            shown = msgspec.Raw(msgspec.json.encode(entry.payload.decode(errors="replace")))
    return ExceptionView(
        id=entry.id,
        channel=entry.channel,
        kind=entry.kind,
        stream=entry.stream,
        entity=entry.entity,
        reason=entry.reason,
        meaning=MEANINGS[entry.reason],
        retryable=entry.reason in RETRYABLE,
        detail=redact(entry.detail),
        attempts=entry.attempts,
        first_seen=entry.first_seen,
        last_seen=entry.last_seen,
        resolved_at=entry.resolved_at,
        resolution=entry.resolution,
        payload=shown,
    )


class Outcome(NamedTuple):
    ok: bool
    line: str


def _lag(now: datetime, cursor: datetime | None) -> float | None:
    return None if cursor is None else max(0.0, (now - cursor).total_seconds())


def _secret_values(config: Config) -> list[str]:
    return [secret.reveal() for c in config.channels for secret in c.secrets.values()]
