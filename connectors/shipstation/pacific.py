"""ShipStation V1's clock: its timestamps and date filters are US Pacific wall time, no offset.

ShipStation serves ``modifyDate`` and the other stamps as ``2025-06-01T08:46:27.0000000`` and
takes filters as ``2025-06-01 08:46:27``, both in Pacific time (PST or PDT by the date), the
zone its docs ask requests to be submitted in. :func:`aware` reads a stamp as that zone;
:func:`filter_value` writes an instant back as a filter that never starts after it, whichever
way ShipStation reads a wall time that occurs twice.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

PACIFIC = ZoneInfo("America/Los_Angeles")
FILTER_FORMAT = "%Y-%m-%d %H:%M:%S"


def aware(stamp: datetime) -> datetime:
    """``stamp`` as an aware UTC datetime: a naive stamp is Pacific wall time (at the hour
    that occurs twice when clocks fall back, the first, daylight, reading), an aware one is
    kept as it says."""
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=PACIFIC)
    return stamp.astimezone(UTC)


def wall(instant: datetime) -> datetime:
    """The naive Pacific wall time of the aware ``instant`` (as ShipStation would serve it)."""
    return instant.astimezone(PACIFIC).replace(tzinfo=None, fold=0)


def _ambiguous(local: datetime) -> bool:
    return local.replace(fold=0).utcoffset() != local.replace(fold=1).utcoffset()


def filter_value(instant: datetime) -> str:
    """``instant`` (aware) as a ShipStation date filter, ``YYYY-MM-DD HH:MM:SS`` Pacific.

    Seconds are truncated, so an inclusive start filter still returns ``instant`` itself. A
    wall time that occurs twice (the hour after clocks fall back) could be read by
    ShipStation as either instant; then the filter is written an hour earlier, so that both
    readings are at or before ``instant``: a start filter re-reads a little, never skips.
    """
    local = instant.astimezone(PACIFIC)
    if _ambiguous(local):
        local = (instant - timedelta(hours=1)).astimezone(PACIFIC)
    return local.strftime(FILTER_FORMAT)
