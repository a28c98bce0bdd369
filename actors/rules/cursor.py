"""Cursor rules: where an incremental read starts and how far a committed page moves the cursor.

Pure functions, no I/O. The rules (see DESIGN.md, "Webhooks for speed, reconcile for truth"):

- read with ``updated_at >= cursor - overlap``, so records committed on the platform out of order
  around the cursor are read again rather than skipped (re-reading is harmless: effects are
  idempotent);
- a cursor never moves past the moment its run started, so records changed during the run are
  picked up by the next one;
- a cursor never moves backwards.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

OVERLAP = timedelta(minutes=2)
"""How far before the cursor a read starts again; covers platform clock skew and late commits."""


def read_from(cursor: datetime | None, overlap: timedelta = OVERLAP) -> datetime | None:
    """The ``updated_at`` lower bound (inclusive) for the next read; None means everything."""
    return None if cursor is None else cursor - overlap


def advance(
    cursor: datetime | None, seen: Iterable[datetime], run_started: datetime
) -> datetime | None:
    """The cursor after a page whose records carry the replication values ``seen``."""
    newest = max(seen, default=None)
    if newest is None:
        return cursor
    capped = min(newest, run_started)
    return capped if cursor is None else max(cursor, capped)
