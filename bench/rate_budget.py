"""Rate-budget efficiency: ``python -m bench.rate_budget`` (10,000 changed SKUs and 2,000
orders), ``--quick`` for a small backlog that ends within a minute.

Every sandbox of the demo is served on loopback with one shared catalog. The daemon runs in
this process, on the sandboxes' event loop: a sandbox answering slowly holds up every other
channel's calls, so a sandbox's work per call must stay small beside a platform's latency
(a lookup of 250 SKUs that walked a 10,000-variant shop once per SKU took three seconds, and
kept Wix, the bottleneck, from spending its budget). First the daemon learns the catalog and
settles, and stops; that is not measured, so it is done at :data:`LEARNING_RATE_SCALE` times
the platforms' limits. Then every sandbox is set to the platform's standard-plan limits
(``--rate-scale`` multiplies them, and every channel's pace, alike) and the backlog is made
while the daemon is down: every SKU's stock changes at the fulfillment provider and shoppers
place the orders on the storefronts. The daemon starts again on its state, and the backlog
is timed until every order is at the provider and no write is left.

Per channel, from the sandbox's own counters: the share of the theoretical budget it used while
its backlog remained (budget units spent ÷ ``burst + rate * seconds`` from the restart until
what was left of its backlog fitted in one burst: see :meth:`Usage.while_backlog_remains`), the
same to its last write (read from the audit log, or its last call if it wrote nothing: the
reads its schedules make afterwards are no backlog), throttled answers, and stock writes that
changed nothing. ``budget_used_ratio`` is the ratio of the bottleneck: the channel whose work
needs the longest at its platform's limit (units spent beyond a burst ÷ the sustained rate),
the least time the backlog can take. Not the channel whose last write came latest: a store with
little to do writes last when the provider's last stock change reaches it, and its ratio
measures how little it had to do, not how well the backlog used the budget.
"""

from __future__ import annotations

import random
import sqlite3
import sys
import tempfile
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import msgspec
import trio

from bench.report import base_parser, emit
from connectors.sandbox_play import ApiUsage, SandboxFaults, Webhooked
from connectors.sandbox_server import SandboxOptions
from daemon.app import Daemon
from daemon.config import load_config
from daemon.demo import settle
from daemon.demo_play import Shoppers
from daemon.logs import configure_logging
from tests.chaos.harness import PROVIDER, Shop, pace, serve_sandboxes
from tests.helpers import daemon_table, toml_config

HOST = "127.0.0.1"
FULL = (10_000, 2_000)
QUICK = (250, 40)
"""``--quick``: SKUs and orders whose backlog fits in one minute's window of the slowest
platform, Wix (a stock write per product: 250 SKUs are about 80 products), and ShipBob (an
order is one create), so that the whole run ends within a minute. A backlog that short is
mostly the window's burst: the ratio says more of a full run's."""
LEARNING_RATE_SCALE = 50.0
"""The platforms' limits, and the channels' pace, times this while the daemon learns the
catalog, which is not measured (at the platforms' own, learning 600 SKUs takes about eight
minutes: ShipBob creates one product a call)."""
SETTLE_SECONDS = 1800.0
"""A bound on learning the catalog and on the backlog itself."""
SAMPLE_SECONDS = 0.25
"""How often the sandboxes' counters are read while the backlog lasts."""
QUIET_SAMPLES = 8
RESTOCKS_IN_FLIGHT = 8


class Sizes(msgspec.Struct, frozen=True):
    skus: int
    orders: int
    rate_scale: float = 1.0
    seed: int = 1


class ChannelBudget(msgspec.Struct, frozen=True):
    """One channel's use of its platform's budget during the backlog."""

    calls: int
    spent: float
    seconds: float
    """From the restart to the channel's last call of the backlog."""
    burst: float
    rate: float
    throttled: int
    noop_writes: int

    @property
    def allowed(self) -> float:
        return self.burst + self.rate * self.seconds

    @property
    def ratio(self) -> float:
        return self.spent / self.allowed if self.allowed else 0.0

    @property
    def least_seconds(self) -> float:
        """The least time the units spent take at the platform's limit: a burst at once, the
        rest at the sustained rate."""
        return max(0.0, self.spent - self.burst) / self.rate if self.rate else 0.0


def budget(before: ApiUsage, after: ApiUsage, seconds: float) -> ChannelBudget:
    """What a channel spent between two readings of its sandbox's usage, ``seconds`` apart,
    against what its limit allowed in that time (a full burst, then the sustained rate)."""
    return ChannelBudget(
        calls=after.calls - before.calls,
        spent=after.spent - before.spent,
        seconds=seconds,
        burst=after.burst,
        rate=after.rate,
        throttled=after.throttled - before.throttled,
        noop_writes=after.noop_writes - before.noop_writes,
    )


class Usage:
    """Every sandbox's usage, sampled until stopped: each change, and when it was seen."""

    def __init__(self, sandboxes: dict[str, Webhooked]) -> None:
        self.sandboxes = sandboxes
        self.started = trio.current_time()
        self.wall_started = datetime.now(UTC)
        self.first = {name: played.usage() for name, played in sandboxes.items()}
        self._changes = {name: [(self.started, u)] for name, u in self.first.items()}

    def sample(self) -> None:
        now = trio.current_time()
        for name, played in self.sandboxes.items():
            usage = played.usage()
            if usage.calls != self._changes[name][-1][1].calls:
                self._changes[name].append((now, usage))

    def budgets(self, backlog_ends: dict[str, datetime]) -> dict[str, ChannelBudget]:
        """Each channel's budget while its backlog lasted: until its last write (wall clock,
        ``backlog_ends``), or for a channel that wrote nothing, its last call. The calls after
        a channel's last write are its schedules' reads (ShipBob's stock every 30 s), not its
        backlog: they would stretch its time to the end of the run."""
        self.sample()
        budgets = {}
        for name, changes in self._changes.items():
            end = backlog_ends.get(name)
            until = (
                changes[-1][0]
                if end is None
                else self.started + (end - self.wall_started).total_seconds()
            )
            # The first sample after that moment holds the calls made up to it.
            at, usage = next(((t, u) for t, u in changes if t >= until), changes[-1])
            budgets[name] = budget(self.first[name], usage, at - self.started)
        return budgets

    def while_backlog_remains(self, whole: dict[str, ChannelBudget]) -> dict[str, ChannelBudget]:
        """Each channel's budget until what was left of its backlog (``whole``) fitted in one
        burst of its platform's limit.

        From then on nothing can use the budget better than spending what is left at once,
        and how much of the last window that leaves unspent depends on where in it the
        backlog happens to end (Wix spends its 200 calls a minute in a few seconds, so up to
        one burst: about 5% of a full run's calls). A channel whose whole backlog fitted in
        one burst keeps ``whole``."""
        budgets = {}
        for name, changes in self._changes.items():
            spent = self.first[name].spent + whole[name].spent
            at, usage = next((t, u) for t, u in changes if u.spent >= spent - whole[name].burst)
            cut = budget(self.first[name], usage, at - self.started)
            budgets[name] = cut if at > self.started else whole[name]
        return budgets


def last_writes(workdir: Path, after: datetime) -> dict[str, datetime]:
    """When each channel's last remote write after ``after`` was done, from the audit log."""
    with sqlite3.connect(workdir / "state.db") as db:
        rows = db.execute(
            "SELECT channel, max(at) FROM audit WHERE action = 'write.done' AND at > ?"
            " GROUP BY channel",
            (after.isoformat(),),
        ).fetchall()
    return {channel: datetime.fromisoformat(at) for channel, at in rows}


def config(workdir: Path, shop: Shop, rate_scale: float) -> str:
    """The daemon's config: the demo's channels on the sandboxes, paced at the platforms'
    limits times ``rate_scale``, no webhooks (each stream is read on its default schedule and at
    start)."""
    channels = [
        {k: v for k, v in table.items() if k != "schedule"} | pace(table["platform"], rate_scale)
        for table in shop.tables
    ]
    daemon = daemon_table(workdir, f"{HOST}:0", sqlite_synchronous="normal")
    return toml_config(daemon, channels)


async def drained(daemon: Daemon, usage: Usage) -> None:
    """Until the daemon has had nothing in hand for :data:`QUIET_SAMPLES` samples in a row
    (an order held, for instance, never reaches the provider: counting them would not do),
    bounded by :data:`SETTLE_SECONDS`; ``usage`` is sampled on the way."""
    quiet = 0
    with trio.move_on_after(SETTLE_SECONDS):
        while quiet < QUIET_SAMPLES:
            await trio.sleep(SAMPLE_SECONDS)
            usage.sample()
            quiet = quiet + 1 if await daemon.quiet() else 0


async def restock(shop: Shop, http: httpx.AsyncClient) -> None:
    """Every SKU the provider holds gets more units (a receipt): each store's target moves."""
    limiter = trio.CapacityLimiter(RESTOCKS_IN_FLIGHT)

    async def receive(sku: str) -> None:
        async with limiter:
            await shop.provider.receive(http, sku, 7)

    async with trio.open_nursery() as nursery:
        for sku in sorted(shop.provider.sellable()):
            nursery.start_soon(receive, sku)


async def make_backlog(shop: Shop, sizes: Sizes, http: httpx.AsyncClient) -> list[Any]:
    """While the daemon is down: every SKU restocked, and ``sizes.orders`` orders placed on
    the storefronts; returns the orders placed."""
    await restock(shop, http)
    shoppers = Shoppers(shop.stores, http, random.Random(sizes.seed), per_second=1.0)
    while len(shoppers.placed) < sizes.orders:
        await shoppers.place_one()
    return list(shoppers.placed)


async def serve(
    nursery: trio.Nursery, stop: trio.Event, sizes: Sizes, workdir: Path, http: httpx.AsyncClient
) -> Shop:
    """The sandboxes served and the daemon run once, both at :data:`LEARNING_RATE_SCALE` (or
    ``sizes.rate_scale`` if higher), until it has learned the catalog and settled; then every
    sandbox set to ``sizes.rate_scale`` and the daemon's config in ``workdir`` paced at it."""
    learning_scale = max(LEARNING_RATE_SCALE, sizes.rate_scale)
    sandbox = SandboxOptions(
        seed=sizes.seed, catalog=sizes.skus, shared_catalog=True, rate_scale=learning_scale
    )
    shop = await serve_sandboxes(nursery, stop, sandbox)
    (workdir / "shelfsync.toml").write_text(config(workdir, shop, learning_scale))
    started = trio.current_time()
    async with trio.open_nursery() as running:
        daemon = start_daemon(shop, workdir)
        await running.start(daemon.run)
        await settle(daemon, SETTLE_SECONDS)
        daemon.request_stop()
    progress(f"catalog learned in {trio.current_time() - started:.0f}s")
    # Setting the scale also starts every sandbox's limiter afresh: the timed run starts as a
    # platform's would after a quiet spell, with nothing of the learning left in its windows.
    # Waiting the longest window out instead would add a minute to the quick run.
    for played in shop.webhooked.values():
        await played.inject(http, SandboxFaults(rate_scale=sizes.rate_scale))
    (workdir / "shelfsync.toml").write_text(config(workdir, shop, sizes.rate_scale))
    return shop


def start_daemon(shop: Shop, workdir: Path) -> Daemon:
    return Daemon(load_config(workdir / "shelfsync.toml", environ=shop.environ))


async def run(sizes: Sizes, workdir: Path) -> dict[str, Any]:
    async with trio.open_nursery() as nursery, httpx.AsyncClient(timeout=30.0) as http:
        stop = trio.Event()
        shop = await serve(nursery, stop, sizes, workdir, http)
        before = len(shop.provider.orders())
        placed = len(await make_backlog(shop, sizes, http))
        progress("backlog made; the daemon starts again")
        sandboxes: dict[str, Webhooked] = {**shop.stores, PROVIDER: shop.provider}
        async with trio.open_nursery() as running:
            daemon = start_daemon(shop, workdir)
            usage = Usage(sandboxes)
            await running.start(daemon.run)

            await drained(daemon, usage)
            whole = usage.budgets(last_writes(workdir, usage.wall_started))
            remaining = usage.while_backlog_remains(whole)
            daemon.request_stop()
        stop.set()
    return figures(sizes, whole, remaining, placed, len(shop.provider.orders()) - before)


def progress(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def figures(
    sizes: Sizes,
    budgets: dict[str, ChannelBudget],
    remaining: dict[str, ChannelBudget],
    placed: int,
    created: int,
) -> dict[str, Any]:
    bottleneck = max(budgets, key=lambda name: budgets[name].least_seconds)
    return {
        "skus": sizes.skus,
        "orders_placed": placed,
        "orders_created": created,
        "rate_scale": sizes.rate_scale,
        "backlog_s": round(max(b.seconds for b in budgets.values()), 1),
        "bottleneck": bottleneck,
        "bottleneck_least_s": round(budgets[bottleneck].least_seconds, 1),
        "budget_used_ratio": round(remaining[bottleneck].ratio, 3),
        "budget_used_ratio_to_last_write": round(budgets[bottleneck].ratio, 3),
        "throttled": sum(b.throttled for b in budgets.values()),
        "noop_writes": sum(b.noop_writes for b in budgets.values()),
        "channels": {
            name: {
                "calls": b.calls,
                "spent": round(b.spent, 1),
                "seconds": round(b.seconds, 1),
                "least_s": round(b.least_seconds, 1),
                "budget_used_ratio": round(remaining[name].ratio, 3),
                "budget_used_ratio_to_last_write": round(b.ratio, 3),
                "throttled": b.throttled,
                "noop_writes": b.noop_writes,
            }
            for name, b in budgets.items()
        },
    }


def main(argv: list[str] | None = None) -> int:
    parser = base_parser(__doc__ or "")
    parser.add_argument("--skus", type=int, default=FULL[0])
    parser.add_argument("--orders", type=int, default=FULL[1])
    parser.add_argument("--rate-scale", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    skus, orders = QUICK if args.quick else (args.skus, args.orders)
    sizes = Sizes(skus, orders, args.rate_scale, args.seed)
    emit("rate_budget", in_workdir(run, sizes), args.out)
    return 0


def in_workdir(
    bench: Callable[[Sizes, Path], Awaitable[dict[str, Any]]], sizes: Sizes
) -> dict[str, Any]:
    """``bench(sizes, workdir)`` run with Trio in a temporary directory, the daemon's log (its
    warnings) in a file there; its figures."""
    with tempfile.TemporaryDirectory(prefix="shelfsync-bench-") as folder:
        workdir = Path(folder)
        with (workdir / "daemon.log").open("w") as log:
            configure_logging("warning", log)
            return trio.run(bench, sizes, workdir)


if __name__ == "__main__":
    sys.exit(main())
