"""The messages a channel actor's mailbox takes: one frozen Struct per kind."""

from __future__ import annotations

import msgspec
import trio


class SyncNow(msgspec.Struct, frozen=True):
    """Run a sync of ``stream`` (every stream if None) as soon as the actor is free: an
    operator asked, so a snapshot stream's spacing does not hold it back."""

    stream: str | None = None


class Pause(msgspec.Struct, frozen=True):
    """Stop making outbound calls; queued and scheduled work waits for Resume."""


class Resume(msgspec.Struct, frozen=True):
    """Make outbound calls again; a failed channel is also started again."""


class Stop(msgspec.Struct, frozen=True):
    """Finish the unit of work in hand, then exit."""


class InboundEvent(msgspec.Struct, frozen=True):
    """A verified webhook, already persisted in the inbox under ``inbox_id``."""

    inbox_id: int
    streams: tuple[str, ...]
    """The streams whose read acts on it; processed once each of them has been read."""
    entity: str | None = None
    """The record it names, which a fetch of it alone acts on where its stream is fetched by
    key (:attr:`connectors.base.WebhookEvent.entity`)."""


class DrainOutbox(msgspec.Struct, frozen=True):
    """Remote writes were queued in the outbox: perform them."""


class FetchOutcome:
    """Where the actor answers a :class:`FetchRecords`: ``done`` is set once it has."""

    def __init__(self) -> None:
        self.done = trio.Event()
        self.keys: list[str] = []
        """The keys of the records fetched and stored (the platform's ids)."""
        self.error: str | None = None
        """Why the fetch failed (after its retries), or None."""

    def succeed(self, keys: list[str]) -> None:
        self.keys = keys
        self.done.set()

    def fail(self, error: str) -> None:
        self.error = error
        self.done.set()


class FetchRecords(msgspec.Struct, frozen=True):
    """Fetch the records of ``stream`` that ``keys`` name (see
    :meth:`connectors.base.Fetcher.fetch`), store them in the inbox as a read would (the
    cursor stays where it is) and ring the hub; then answer in ``outcome``. Performed as a
    unit of work: it waits while the channel is paused."""

    stream: str
    keys: tuple[str, ...]
    outcome: FetchOutcome


Message = SyncNow | Pause | Resume | Stop | InboundEvent | DrainOutbox | FetchRecords
