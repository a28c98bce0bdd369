"""The way merchants sync stock without shelfsync: a cron script (or a plugin) that walks the
SKUs one at a time, reads what the store shows, writes the quantity it should show, one call
after the other, and sleeps when the platform says it is over its limit.

It is deliberately naive, as such scripts are: no batching, no concurrency, no pacing but the
platform's refusals, and every quantity written whether or not it changed.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import partial
from typing import TypeVar

import httpx
import msgspec
import trio

from connectors.sandbox_play import OneAtATime, Throttled

T = TypeVar("T")


class PollerRun(msgspec.Struct):
    calls: int = 0
    throttled: int = 0
    unlisted: int = 0
    """SKUs the store does not list (read, nothing written)."""
    seconds: float = 0.0


async def poll(store: OneAtATime, http: httpx.AsyncClient, targets: dict[str, int]) -> PollerRun:
    """Bring every SKU of ``targets`` (SKU → units) to its units at ``store``, one call at a
    time, in SKU order; the calls it made, the refusals it slept on, and how long it took."""
    run = PollerRun()
    started = trio.current_time()
    for sku in sorted(targets):
        found = await _patiently(run, partial(store.read_one, http, sku))
        if found is None:
            run.unlisted += 1
            continue
        item, _shown = found  # a script writes the quantity whatever the store shows
        await _patiently(run, partial(store.write_one, http, item, targets[sku]))
    run.seconds = trio.current_time() - started
    return run


async def _patiently(run: PollerRun, call: Callable[[], Awaitable[T]]) -> T:
    """``call()``, again after the wait the platform asks for, as long as it is throttled."""
    while True:
        run.calls += 1
        try:
            return await call()
        except Throttled as refused:
            run.throttled += 1
            await trio.sleep(max(refused.wait, 0.05))
