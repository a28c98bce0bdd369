"""The messages a channel actor's mailbox takes: one frozen Struct per kind."""

from __future__ import annotations

import msgspec


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


class DrainOutbox(msgspec.Struct, frozen=True):
    """Remote writes were queued in the outbox: perform them."""


Message = SyncNow | Pause | Resume | Stop | InboundEvent | DrainOutbox
