"""The orders stream's merge of its per-status reads: pages in order, nothing skipped."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.base import Record
from connectors.shipstation.connector import merged_pages

EPOCH = datetime(2026, 1, 1, tzinfo=UTC)
reads = st.lists(
    st.tuples(
        st.lists(st.integers(0, 50), max_size=12).map(sorted),
        st.integers(1, 4),
    ),
    min_size=1,
    max_size=3,
)


async def pages_of(stamps: list[int], size: int, tag: int) -> AsyncIterator[list[Record]]:
    records = [
        Record(key=f"{tag}-{n}", updated_at=EPOCH + timedelta(seconds=s), body=b"{}")
        for n, s in enumerate(stamps)
    ]
    for start in range(0, len(records), size):
        yield records[start : start + size]


@settings(max_examples=100, deadline=None)
@given(reads)
async def test_merged_pages_are_sorted_complete_and_never_go_back(
    spec: list[tuple[list[int], int]],
) -> None:
    sources = [pages_of(stamps, size, tag) for tag, (stamps, size) in enumerate(spec)]
    pages = [page async for page in merged_pages(sources)]
    merged = [r for page in pages for r in page]
    assert sorted(r.key for r in merged) == sorted(
        f"{tag}-{n}" for tag, (stamps, _) in enumerate(spec) for n in range(len(stamps))
    )
    assert all(page for page in pages)
    stamps = [r.updated_at for r in merged]
    # Sorted overall: promoting the cursor to a page's last stamp skips nothing later.
    assert stamps == sorted(stamps)
