"""The errors a connector may raise, grouped by what the caller should do about them::

SyncError
├── Retryable            try again later (network trouble, 5xx, timeouts)
│   └── RateLimited      the platform said "slow down"; ``retry_after`` says how long
├── ChannelFatal         nothing will work until a human acts: the actor crashes
│   └── AuthFailed       credentials refused
├── RecordError          this one record is bad; hold it, carry on with the rest
└── InvalidSignature     a webhook that is not from the platform: reject, store nothing
"""

from __future__ import annotations

from connectors.reasons import ExceptionReason


class SyncError(Exception):
    """Base of every error a connector raises."""


class Retryable(SyncError):
    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class RateLimited(Retryable):
    """The platform throttled us; wait ``retry_after`` seconds."""


class ChannelFatal(SyncError):
    """The channel cannot work until a human acts."""


class AuthFailed(ChannelFatal):
    """The platform refused our credentials."""


class RecordError(SyncError):
    """This one record or write is bad as it is; ``reason`` says why (see
    :mod:`connectors.reasons`), ``entity`` names what it is about."""

    def __init__(self, message: str, *, entity: str, reason: ExceptionReason) -> None:
        super().__init__(message)
        self.entity = entity
        self.reason = reason


class InvalidSignature(SyncError):
    """A webhook whose signature does not check out."""
