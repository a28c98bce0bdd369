"""How far apart the reads of a snapshot stream must be to stay within their share of the
budget.

A snapshot stream (``StreamSpec.snapshot``, such as ShipBob's ``inventory``) returns everything
on every read, so a read costs the same however little changed: for ShipBob, the totals pages
and the location pages, ``2 * ceil(SKUs / 250)`` calls. Read on a short schedule, and again on
every webhook that moves stock, a large catalog would spend the whole rate budget on reading
it and starve orders and tracking. So the next read of such a stream never starts sooner after
the last one began than that read's cost allows at :data:`SNAPSHOT_BUDGET_SHARE` of the
channel's request rate: a schedule shorter than that is stretched to it, and a webhook waits
for it.
"""

from __future__ import annotations

SNAPSHOT_BUDGET_SHARE = 0.2
"""The share of a channel's request rate that the reads of one snapshot stream may take."""


def snapshot_spacing(
    cost: float, requests_per_second: float, share: float = SNAPSHOT_BUDGET_SHARE
) -> float:
    """Seconds from the start of a read that cost ``cost`` (calls, or the platform's cost
    units) to the earliest start of the next read of its stream, at ``share`` of a budget of
    ``requests_per_second``."""
    return cost / (share * requests_per_second)
