"""Reading BigCommerce lists in modification order without skipping: keyset pages and a merge.

Page numbers over a list sorted by modification time shift when a record is edited during
the read (it moves to the end, and the record after it moves onto the page already read).
:func:`keyset_pages` asks each page from the last time read instead, and :func:`merged` joins
several such reads (v2 takes one order status per call) into one order.
"""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol, TypeVar


class _Stamp(Protocol):
    @property
    def id(self) -> int: ...
    @property
    def date_modified(self) -> datetime: ...


S = TypeVar("S", bound=_Stamp)
Fetch = Callable[[datetime | None, int | None], Awaitable[list[tuple[S, bytes]]]]
"""``fetch(floor, after_id)``: with ``after_id`` None, the first page of the records modified
at or after ``floor``, oldest change first; with an id, the first page of those modified
within ``floor``'s second whose id is greater, by id."""


async def keyset_pages(
    fetch: Fetch[S], since: datetime | None, limit: int
) -> AsyncGenerator[list[tuple[S, bytes]], None]:
    """Every record modified from ``since`` on, oldest change first, ``limit`` a page.

    After a full page the floor moves to its last record's time and the ids already seen at
    that time are skipped when they come again. A page all at the floor means one second
    holds more than a page: that second is walked by id (a record edited meanwhile leaves it
    without shifting the others), then the floor moves to the next second.
    """
    floor, seen = since, set[int]()
    while True:
        batch = await fetch(floor, None)
        fresh = [(s, r) for s, r in batch if not (s.date_modified == floor and s.id in seen)]
        if fresh:
            yield fresh
        if len(batch) < limit:
            return
        last = batch[-1][0].date_modified
        if floor is None or last > floor:
            floor, seen = last, {s.id for s, _ in batch if s.date_modified == last}
            continue
        second, after = last.replace(microsecond=0), 0
        while True:
            batch = await fetch(second, after)
            fresh = [(s, r) for s, r in batch if s.id not in seen]
            if fresh:
                yield fresh
            if len(batch) < limit:
                break
            after = batch[-1][0].id
        floor, seen = second + timedelta(seconds=1), set()


T = TypeVar("T")


async def merged(
    sources: Sequence[AsyncIterator[list[T]]], key: Callable[[T], Any]
) -> AsyncGenerator[T, None]:
    """The items of several sorted sources of batches, in one sorted order; each source is
    asked for its next batch only once its buffer is empty and its head is next."""
    buffers: list[deque[T]] = [deque() for _ in sources]
    live = set(range(len(sources)))

    async def fill(index: int) -> None:
        while not buffers[index] and index in live:
            try:
                buffers[index].extend(await anext(sources[index]))
            except StopAsyncIteration:
                live.discard(index)

    for index in range(len(sources)):
        await fill(index)
    while True:
        ready = [i for i, buffer in enumerate(buffers) if buffer]
        if not ready:
            return
        index = min(ready, key=lambda i: key(buffers[i][0]))
        yield buffers[index].popleft()
        await fill(index)
