"""Baseline: ``python -m bench.baseline`` (10,000 SKUs), ``--quick`` for a run within a minute.

The same stock reconcile, done twice on the same sandboxes in one run (the platforms'
standard-plan limits, ``--rate-scale`` to multiply them): every SKU is restocked at the
fulfillment provider, then

- shelfsync, started again on the state it learned the catalog in, brings the Shopify store
  (and the others) to the new quantities; its calls to the Shopify sandbox are counted and the
  time until it has nothing left in hand;
- every SKU is restocked once more, and :mod:`bench.baseline_poller` brings the same store to
  the new quantities the way a cron script does: one SKU at a time.

Both are reported: API calls, wall time, throttled answers; ``calls_ratio`` and ``speedup``
are the poller's over shelfsync's.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import httpx
import trio

from bench.baseline_poller import poll
from bench.rate_budget import (
    Sizes,
    Usage,
    drained,
    in_workdir,
    last_writes,
    progress,
    restock,
    serve,
    start_daemon,
)
from bench.report import base_parser, emit
from connectors.sandbox_play import OneAtATime, Webhooked

STORE = "web"
"""The channel of the Shopify sandbox both sync."""
FULL = 10_000
QUICK = 150


async def run(sizes: Sizes, workdir: Path) -> dict[str, Any]:
    async with trio.open_nursery() as nursery, httpx.AsyncClient(timeout=30.0) as http:
        stop = trio.Event()
        shop = await serve(nursery, stop, sizes, workdir, http)
        store = shop.stores[STORE]
        await restock(shop, http)
        progress("restocked; shelfsync reconciles")
        async with trio.open_nursery() as running:
            daemon = start_daemon(shop, workdir)
            sandboxes: dict[str, Webhooked] = {STORE: store}
            usage = Usage(sandboxes)
            await running.start(daemon.run)
            await drained(daemon, usage)
            ours = usage.budgets(last_writes(workdir, usage.wall_started))[STORE]
            daemon.request_stop()
        await restock(shop, http)
        progress("restocked again; the poller reconciles")
        assert isinstance(store, OneAtATime)
        sellable = shop.provider.sellable()
        targets = {sku: max(0, sellable.get(sku, 0)) for sku in store.listed_skus()}
        theirs = await poll(store, http, targets)
        stop.set()
    return {
        "skus": sizes.skus,
        "rate_scale": sizes.rate_scale,
        "shelfsync_calls": ours.calls,
        "shelfsync_s": round(ours.seconds, 2),
        "shelfsync_throttled": ours.throttled,
        "poller_calls": theirs.calls,
        "poller_s": round(theirs.seconds, 2),
        "poller_throttled": theirs.throttled,
        "calls_ratio": round(theirs.calls / max(1, ours.calls), 1),
        "speedup": round(theirs.seconds / max(ours.seconds, 1e-3), 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = base_parser(__doc__ or "")
    parser.add_argument("--skus", type=int, default=FULL)
    parser.add_argument("--rate-scale", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    sizes = Sizes(QUICK if args.quick else args.skus, 0, args.rate_scale, args.seed)
    emit("baseline", in_workdir(run, sizes), args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
