"""The supervisor: one channel actor per enabled channel, restarted one-for-one when it crashes.

Restart intensity works as in OTP: more than ``max_restarts`` crashes within ``restart_window``
and the channel is marked failed instead of restarted. Unlike OTP, a failed channel never takes
the supervisor down: one broken store must not stop the others. A failed channel stays down
until the config is reloaded or an operator resumes it. Between restarts the supervisor waits
with capped exponential backoff and full jitter, so a channel that crashes at once does not
spin, and many that crashed together do not restart in lockstep.

Each channel has a :class:`ChannelSlot` that outlives its actor instances: the mailbox, the
restart count and the last error survive a restart, so messages sent while an actor was down
are delivered to the next one.
"""

from __future__ import annotations

import enum
import traceback
from collections import deque
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path

import httpx
import structlog
import trio

from actors.channel import ChannelActor
from actors.messages import Message, Resume, Stop
from actors.retry import RetryPolicy
from daemon.config import Channel, DaemonConfig
from daemon.exceptions import single_cause
from daemon.logs import redact
from daemon.store import ChannelStart, StateStore
from metrics import Metrics

log = structlog.get_logger("shelfsync.supervisor")

CRASH_FRAMES = 4
"""Frames of a crash's traceback its log line names (``where``)."""


class ChannelState(enum.StrEnum):
    STARTING = "starting"
    RUNNING = "running"
    BACKOFF = "backoff"
    FAILED = "failed"
    STOPPED = "stopped"


class RestartIntensity:
    """At most ``max_restarts`` crashes within ``window`` seconds, as a sliding window."""

    def __init__(self, max_restarts: int, window: float) -> None:
        self.max_restarts = max_restarts
        self.window = window
        self._crashes: deque[float] = deque()

    def crash(self, at: float) -> bool:
        """Record a crash at clock time ``at``; True if the channel may restart."""
        self._crashes.append(at)
        while self._crashes and self._crashes[0] <= at - self.window:
            self._crashes.popleft()
        return len(self._crashes) <= self.max_restarts

    @property
    def recent(self) -> int:
        return len(self._crashes)

    def reset(self) -> None:
        self._crashes.clear()


class ChannelSlot:
    def __init__(
        self,
        channel: Channel,
        mailbox_size: int,
        intensity: RestartIntensity,
        start: ChannelStart | None = None,
    ) -> None:
        """``start``: what the store held for the channel, for its first actor (one started
        again after a crash reads what the store holds then)."""
        self.channel = channel
        self.start = start
        self.send, self.receive = trio.open_memory_channel[Message](mailbox_size)
        self.intensity = intensity
        self._state = ChannelState.STARTING
        self._state_changed = trio.Event()
        self.restarts = 0
        self.last_error: str | None = None
        self.actor: ChannelActor | None = None
        self.cancel_scope = trio.CancelScope()
        self.settled = trio.Event()
        """Set once the first start has either succeeded or failed."""
        self.done = trio.Event()
        self.revive = trio.Event()

    @property
    def name(self) -> str:
        return self.channel.name

    @property
    def state(self) -> ChannelState:
        return self._state

    @state.setter
    def state(self, state: ChannelState) -> None:
        self._state = state
        self._state_changed.set()
        self._state_changed = trio.Event()

    async def wait_state(self, state: ChannelState) -> None:
        """Return once the channel is in ``state`` (at once if it already is)."""
        while self._state is not state:
            await self._state_changed.wait()

    @property
    def mailbox_depth(self) -> int:
        return self.send.statistics().current_buffer_used


class Supervisor:
    def __init__(
        self,
        *,
        store: StateStore,
        metrics: Metrics,
        settings: DaemonConfig,
        now: Callable[[], datetime],
        http_client: Callable[[], httpx.AsyncClient],
        records_stored: Callable[[], None] = lambda: None,
    ) -> None:
        """``records_stored`` is called by any actor after it stored read records (the hub's
        doorbell)."""
        self._store = store
        self._metrics = metrics
        self._records_stored = records_stored
        self._settings = settings
        self._now = now
        self._http_client = http_client
        self._slots: dict[str, ChannelSlot] = {}
        self._nursery: trio.Nursery | None = None

    def slots(self) -> Iterator[ChannelSlot]:
        return iter(list(self._slots.values()))

    def slot(self, name: str) -> ChannelSlot | None:
        return self._slots.get(name)

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Supervise channels until cancelled; channels are added with :meth:`start_channel`."""
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            task_status.started()
            await trio.sleep_forever()

    def update_settings(self, settings: DaemonConfig) -> None:
        """New restart and mailbox settings apply to the channels started after this."""
        self._settings = settings

    def start_channel(self, channel: Channel, start: ChannelStart | None = None) -> ChannelSlot:
        """Start supervising ``channel``; its first actor starts from ``start`` if given
        (:meth:`~daemon.store.StateStore.channel_starts`), else reads it from the store."""
        assert self._nursery is not None, "Supervisor.run must be started first"
        settings = self._settings
        slot = ChannelSlot(
            channel,
            settings.mailbox_size,
            RestartIntensity(settings.max_restarts, settings.restart_window.seconds),
            start,
        )
        self._slots[channel.name] = slot
        self._nursery.start_soon(self._supervise, slot, name=f"channel:{channel.name}")
        return slot

    async def stop_channel(self, name: str, grace: float) -> None:
        """Ask the channel's actor to stop, cancel it after ``grace`` seconds, forget the slot."""
        slot = self._slots.pop(name, None)
        if slot is None:
            return
        try:
            slot.send.send_nowait(Stop())
        except trio.WouldBlock:
            slot.cancel_scope.cancel()  # a mailbox that full has no attention left to give
        if slot.state is not ChannelState.RUNNING:
            slot.cancel_scope.cancel()
        with trio.move_on_after(grace):
            await slot.done.wait()
        slot.cancel_scope.cancel()
        await slot.done.wait()

    async def stop_all(self, grace: float) -> None:
        async with trio.open_nursery() as nursery:
            for name in list(self._slots):
                nursery.start_soon(self.stop_channel, name, grace)

    async def deliver(self, name: str, message: Message, patience: float = 5.0) -> bool:
        """Put ``message`` in the channel's mailbox, waiting up to ``patience`` seconds for room.

        A Resume also revives a failed channel. Returns False when the channel is unknown or
        its mailbox stayed full.
        """
        slot = self._slots.get(name)
        if slot is None:
            return False
        if isinstance(message, Resume) and slot.state is ChannelState.FAILED:
            slot.revive.set()
        with trio.move_on_after(patience):
            await slot.send.send(message)
            return True
        return False

    async def _supervise(self, slot: ChannelSlot) -> None:
        try:
            with slot.cancel_scope:
                await self._keep_running(slot)
        finally:
            slot.state = ChannelState.STOPPED
            slot.settled.set()
            slot.done.set()

    async def _keep_running(self, slot: ChannelSlot) -> None:
        backoff = RetryPolicy(
            attempts=slot.intensity.max_restarts + 1,
            base=self._settings.restart_backoff.seconds,
            cap=self._settings.restart_backoff_max.seconds,
        )
        logger = log.bind(channel=slot.name)
        while True:
            slot.state = ChannelState.STARTING
            try:
                await self._run_actor(slot)
                return  # a clean exit: the actor was told to stop
            except Exception as exc:
                slot.last_error = redact(_describe(exc))
                logger.error("actor_crashed", error=slot.last_error, where=_where(exc))
            slot.settled.set()
            if not slot.intensity.crash(trio.current_time()):
                slot.state = ChannelState.FAILED
                logger.error(
                    "channel_failed",
                    crashes=slot.intensity.recent,
                    window_seconds=slot.intensity.window,
                )
                await slot.revive.wait()
                slot.revive = trio.Event()
                slot.intensity.reset()
                logger.info("channel_revived")
            else:
                slot.state = ChannelState.BACKOFF
                await trio.sleep(backoff.delay(slot.intensity.recent))
            slot.restarts += 1
            self._metrics.actor_restarts.labels(slot.name).inc()

    async def _run_actor(self, slot: ChannelSlot) -> None:
        actor = ChannelActor(
            slot.channel,
            mailbox=slot.receive,
            store=self._store,
            metrics=self._metrics,
            now=self._now,
            http_client=self._http_client,
            request_timeout=self._settings.request_timeout.seconds,
            records_stored=self._records_stored,
            start=slot.start,
        )
        slot.start = None
        slot.actor = actor
        try:
            async with trio.open_nursery() as nursery:
                await nursery.start(actor.run)
                slot.state = ChannelState.RUNNING
                slot.settled.set()
                log.info("actor_running", channel=slot.name)
        finally:
            slot.actor = None


def _where(exc: BaseException) -> list[str]:
    """Where the innermost error was raised: its last :data:`CRASH_FRAMES` frames as ``file:line
    function``, innermost last. They name code only (no message, no variable), so they cannot
    carry a secret into the log, and they tell a bug report where to look."""
    frames = traceback.extract_tb(single_cause(exc).__traceback__)[-CRASH_FRAMES:]
    return [f"{Path(frame.filename).name}:{frame.lineno} {frame.name}" for frame in frames]


def _describe(exc: BaseException) -> str:
    """One line for the operator: the innermost error, without the group wrappers trio adds."""
    cause = single_cause(exc)
    return f"{type(cause).__name__}: {cause}"
