"""Propagation latency: ``python -m bench.propagation`` (``--quick`` for a short run).

A sale on one storefront sandbox reaches the daemon as the platform's webhook; the daemon
reads the order, recomputes the SKU's stock from the shared pool and writes the new quantity
to every other storefront. The latency of a sale is the time from placing it to the moment
the last of the other storefronts shows the new quantity, as seen in the sandboxes
themselves (each write is looked at as the sandbox answers it, not polled).

Every sandbox of ``shelfsync demo`` is served on loopback in this process, with its webhooks
subscribed; the daemon runs as ``shelfsync run`` in a child process with its default store
settings (every commit synchronous). Sales come at a steady rate, one unit each, spread over
the storefronts and the catalog; the run is made twice on fresh sandboxes and state: with no
added latency, then with :data:`SLOW_CALL_MS` added to every API call of every sandbox.
Each run also reports the CPU the daemon and this process (the sandboxes, mostly) spent per
sale: on a machine of few cores, the latency is mostly those two waiting for each other.
The sandboxes' request limits are raised (:data:`RATE_SCALE`): how the daemon spends a
platform's budget is ``bench.rate_budget``'s subject, not this one's.
"""

from __future__ import annotations

import random
import sys
import tempfile
import time
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import msgspec
import trio

from bench.report import base_parser, cpu_seconds, emit
from connectors.registry import BUILTIN
from connectors.sandbox_play import ProviderPlay, SandboxFaults, StorefrontPlay
from connectors.sandbox_server import SandboxOptions
from daemon.demo import SCHEDULES, catalogs_synced
from tests.chaos.harness import HOST, PROVIDER, Shop, free_port, serve_sandboxes
from tests.daemon_process import DaemonProcess
from tests.helpers import daemon_table, toml_config

SLOW_CALL_MS = 50
"""The latency added to every API call in the second run."""
RATE_SCALE = 50.0
"""Every sandbox's request limit, and every channel's pace, times this: ShipStation's 40 calls
a minute could not take one write per sale at 20 sales a second."""
STOCK = 10_000
"""Units the warehouse receives of every SKU before the sales, so that none runs out."""
SETTLE_TIMEOUT = 120.0
"""A bound on the daemon's first sync of the catalog and the stock, and on the writes of the
last sales landing."""
STOREFRONT_SCHEDULE = "1h"
"""The storefronts' read schedule: long, so that sales reach the daemon by webhook only."""


class Options(msgspec.Struct, frozen=True):
    sales: int = 1_000
    per_second: float = 20.0
    catalog: int = 60
    """Variants in the shared catalog; sales go round it, so a SKU is sold again only after
    ``catalog / per_second`` seconds."""
    seed: int = 1


QUICK = Options(sales=120)


class Sale(msgspec.Struct):
    """A sale in flight: when it was placed, its SKU, the quantity every other storefront
    should then show (or less, once later sales of the SKU land), and those still to show it."""

    placed_at: float
    sku: str
    target: int
    waiting: set[str]


class Watcher:
    """Sees the stock of each storefront that keeps stock as each API call to it is answered,
    and times sales."""

    def __init__(self, stocked: dict[str, StorefrontPlay]) -> None:
        self.stores = stocked
        self.expected: dict[str, int] = {}
        self.in_flight: list[Sale] = []
        self.latencies: list[float] = []
        self.refused = 0
        self.selling = True
        self.all_landed = trio.Event()
        """Set once every sale is placed and has landed everywhere."""
        self.daemon_cpu_s = 0.0
        self.sandboxes_cpu_s = 0.0
        """CPU spent from the first sale until all landed, by the daemon and by this process."""

    def sell(self, store: str, sku: str) -> Sale:
        """Count a sale of one unit of ``sku`` on ``store``, about to be placed."""
        self.expected[sku] -= 1
        others = set(self.stores) - {store}
        sale = Sale(trio.current_time(), sku, self.expected[sku], others)
        self.in_flight.append(sale)
        return sale

    def not_placed(self, sale: Sale) -> None:
        """Forget ``sale``: the store refused it (a busy machine can drop a connection)."""
        self.refused += 1
        self.in_flight.remove(sale)
        self.expected[sale.sku] += 1
        for later in self.in_flight:
            if later.sku == sale.sku and later.placed_at > sale.placed_at:
                later.target += 1

    def answered(self, store: str) -> None:
        """A call to ``store`` was answered: the sales whose quantity it now shows have
        landed there."""
        if not self.in_flight:
            return
        now = trio.current_time()
        shown = self.stores[store].shown_stock()
        still: list[Sale] = []
        for sale in self.in_flight:
            if store in sale.waiting and shown.get(sale.sku, sale.target + 1) <= sale.target:
                sale.waiting.discard(store)
            if sale.waiting:
                still.append(sale)
            else:
                self.latencies.append(now - sale.placed_at)
        self.in_flight = still
        self._check_landed()

    def sold_out(self) -> None:
        """Every sale has been placed (or refused)."""
        self.selling = False
        self._check_landed()

    def _check_landed(self) -> None:
        if not self.selling and not self.in_flight:
            self.all_landed.set()


async def measure(options: Options, latency_ms: int, workdir: Path) -> dict[str, Any]:
    """One run on fresh sandboxes and state in ``workdir``: its figures."""
    sandbox = SandboxOptions(
        seed=options.seed, catalog=options.catalog, shared_catalog=True, rate_scale=RATE_SCALE
    )
    async with trio.open_nursery() as nursery, httpx.AsyncClient(timeout=10.0) as http:
        stop = trio.Event()
        shop = await serve_sandboxes(nursery, stop, sandbox)
        port = free_port()
        config = workdir / "shelfsync.toml"
        config.write_text(_config(workdir, port, shop))
        for name, played in shop.webhooked.items():
            await played.subscribe(http, f"http://{HOST}:{port}/webhooks/{name}")
        for sku in sorted(shop.provider.sellable()):
            await shop.provider.receive(http, sku, STOCK)
        daemon = await DaemonProcess.start(config, environ=shop.environ)
        async with trio.open_nursery() as following:
            following.start_soon(daemon.follow)
            watcher = await _sales_timed(options, latency_ms, shop, http, daemon.process.pid)
            following.cancel_scope.cancel()  # stopping reads what is left of the log
        code = await daemon.stop()
        stop.set()
    if code != 0:
        raise SystemExit(f"the daemon stopped with {code}:\n" + "\n".join(daemon.lines[-40:]))
    return _figures(watcher, options)


async def _sell(
    options: Options, shop: Shop, watcher: Watcher, skus: list[str], http: httpx.AsyncClient
) -> None:
    rng = random.Random(options.seed)
    names = sorted(shop.stores)
    started = trio.current_time()
    async with trio.open_nursery() as selling:
        for number in range(options.sales):
            await trio.sleep_until(started + number / options.per_second)
            store, sku = rng.choice(names), skus[number % len(skus)]
            selling.start_soon(_place, shop.stores[store], watcher, watcher.sell(store, sku), http)


async def _place(
    store: StorefrontPlay, watcher: Watcher, sale: Sale, http: httpx.AsyncClient
) -> None:
    try:
        await store.place(http, [(sale.sku, 1)], "Standard")
    except httpx.HTTPError:
        watcher.not_placed(sale)


async def _sales_timed(
    options: Options, latency_ms: int, shop: Shop, http: httpx.AsyncClient, daemon_pid: int
) -> Watcher:
    """Once the daemon has synced the catalog and the stock: the sales, made and timed, and
    the CPU the daemon and this process (the sandboxes, the shoppers) spent on them."""
    await catalogs_synced(shop.stores, shop.provider, {}, sys.stderr)
    watcher = Watcher(_stocked(shop))
    skus = sorted(shop.provider.sellable())
    watcher.expected = await _settled_stock(shop.provider, watcher.stores, skus)
    for played in shop.webhooked.values():
        await played.inject(http, SandboxFaults(latency_ms=latency_ms))
    for name in watcher.stores:
        shop.tripwires[name].answered = partial(watcher.answered, name)
    print(f"selling {options.sales} units at {options.per_second:g}/s", file=sys.stderr)
    daemon_cpu, own_cpu = cpu_seconds(daemon_pid), time.process_time()
    await _sell(options, shop, watcher, sorted(watcher.expected), http)
    watcher.sold_out()
    with trio.move_on_after(SETTLE_TIMEOUT):
        await watcher.all_landed.wait()
    watcher.daemon_cpu_s = cpu_seconds(daemon_pid) - daemon_cpu
    watcher.sandboxes_cpu_s = time.process_time() - own_cpu
    return watcher


def _stocked(shop: Shop) -> dict[str, StorefrontPlay]:
    """The storefronts that keep stock (ShipStation takes orders and keeps none)."""
    platforms = {table["name"]: table["platform"] for table in shop.tables}
    return {
        name: play
        for name, play in shop.stores.items()
        if "inventory.set" in BUILTIN[platforms[name]].writes
    }


async def _settled_stock(
    provider: ProviderPlay, stocked: dict[str, StorefrontPlay], skus: list[str]
) -> dict[str, int]:
    """Once every storefront that keeps stock shows the warehouse's stock of every SKU: that
    stock."""
    with trio.fail_after(SETTLE_TIMEOUT):
        while True:
            sellable = provider.sellable()
            wanted = {sku: sellable[sku] for sku in skus if sku in sellable}
            shown = [play.shown_stock() for play in stocked.values()]
            if all(all(s.get(sku) == n for sku, n in wanted.items()) for s in shown):
                return wanted
            await trio.sleep(0.2)


def _figures(watcher: Watcher, options: Options) -> dict[str, Any]:
    latencies = sorted(watcher.latencies)
    return {
        "sales": options.sales,
        "refused": watcher.refused,
        "landed": len(latencies),
        "not_landed": len(watcher.in_flight),
        "p50_ms": percentile_ms(latencies, 0.50),
        "p95_ms": percentile_ms(latencies, 0.95),
        "p99_ms": percentile_ms(latencies, 0.99),
        "max_ms": round(latencies[-1] * 1000, 1) if latencies else None,
        "daemon_cpu_ms_per_sale": round(watcher.daemon_cpu_s / options.sales * 1000, 2),
        "sandboxes_cpu_ms_per_sale": round(watcher.sandboxes_cpu_s / options.sales * 1000, 2),
    }


def percentile_ms(ordered: list[float], share: float) -> float | None:
    """The nearest-rank percentile of ``ordered`` seconds, in milliseconds."""
    if not ordered:
        return None
    rank = max(1, round(share * len(ordered) + 0.5 - 1e-9))
    return round(ordered[min(rank, len(ordered)) - 1] * 1000, 1)


def _config(workdir: Path, port: int, shop: Shop) -> str:
    channels = [
        table
        if table["name"] == PROVIDER
        else table | {"schedule": dict.fromkeys(SCHEDULES[table["platform"]], STOREFRONT_SCHEDULE)}
        for table in shop.tables
    ]
    return toml_config(daemon_table(workdir, f"{HOST}:{port}"), channels)


def main(argv: list[str] | None = None) -> int:
    parser = base_parser(__doc__ or "")
    parser.add_argument("--sales", type=int, default=Options().sales)
    parser.add_argument("--rate", type=float, default=Options().per_second, help="sales a second")
    args = parser.parse_args(argv)
    options = QUICK if args.quick else Options(sales=args.sales, per_second=args.rate)
    figures: dict[str, Any] = {
        "per_second": options.per_second,
        "rate_scale": RATE_SCALE,
    }
    for latency_ms in (0, SLOW_CALL_MS):
        with tempfile.TemporaryDirectory(prefix="shelfsync-bench-") as folder:
            measured = trio.run(measure, options, latency_ms, Path(folder))
        prefix = "" if latency_ms == 0 else f"slow{latency_ms}ms_"
        figures |= {f"{prefix}{key}": value for key, value in measured.items()}
    emit("propagation", figures, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
