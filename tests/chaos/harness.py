"""The chaos run: the real daemon, killed with SIGKILL at random moments, against faulty sandboxes.

Every sandbox of ``shelfsync demo`` is served on loopback in this process, with its webhooks
subscribed to the daemon and its faults on (server errors, 429 bursts, hanging calls, latency,
duplicate and overtaking webhook deliveries). The daemon runs as ``shelfsync run`` in a child
process, on a generated config and one state file. Shoppers place orders on every storefront
and the warehouse ships them (:mod:`daemon.demo_play`) while, at seeded points of the shopping,
a tripwire on one sandbox kills the daemon as a chosen call arrives: before the sandbox acts
on it (the request is lost) or after, just before the answer (the reply is lost). The daemon
is started again on the same state after a seeded outage, while the sandboxes' webhook
senders keep retrying.

At the end the faults are switched off, the child stops (SIGTERM), and the daemon is started
once more in this process on the same state to settle the shop: every stream read again,
every queued write done, one stock reconcile. Then the demo's consistency report
(:mod:`daemon.demo_report`) and the exception check say what broke, if anything.
"""

from __future__ import annotations

import importlib
import random
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any, Literal, TextIO

import httpx
import msgspec
import trio

from connectors.registry import BUILTIN
from connectors.sandbox_play import ProviderPlay, SandboxFaults, StorefrontPlay, Webhooked
from connectors.sandbox_server import SandboxOptions, serve_app
from connectors.sandboxkit import Receive, Scope, Send
from connectors.shipbob import sandbox_play as shipbob_play
from daemon.app import Daemon
from daemon.config import load_config
from daemon.demo import SCHEDULES, SHIP_METHODS, STOREFRONTS, catalogs_synced, consistency_report
from daemon.demo import settle as settle_shop
from daemon.demo_play import Shoppers, Warehouse
from daemon.demo_report import Report, render, unaccounted_orders
from tests.daemon_process import DaemonProcess
from tests.helpers import REPO_ROOT, daemon_table, toml_config

HOST = "127.0.0.1"
PROVIDER = "fc"
FAULTS = SandboxFaults(
    error_rate=0.03,
    latency_ms=3,
    timeout_rate=0.003,
    throttle_burst=4,
    duplicate_webhooks=True,
    out_of_order_webhooks=True,
)
"""The faults every sandbox has during the run (the throttle burst is set again at every
restart of the daemon, so 429s come in bursts)."""
THROTTLE_BURST_SECONDS = 5.0
"""How long a burst of 429s lasts: what is left of it is called off then. A client that backs
off as its platform asks (a minute, for Wix) would otherwise meet the rest of it one 429 at a
time, minutes after the burst."""
TRIP_TIMEOUT = 5.0
"""How long armed tripwires may wait for their call (the chosen sandbox may have nothing to be
asked), before every sandbox's is armed, and then before the daemon is killed anyway."""
DRAIN_TIMEOUT = 60.0
"""A bound on the daemon and the warehouse catching up once the shoppers are done."""
QUIET_SECONDS = 3.0
"""How long the provider must see no new order for the daemon to count as caught up."""
SETTLE_SECONDS = 300.0
"""A bound on each settling of the shop at the end (a backlog of hundreds of writes, on two
busy cores, takes longer than the demo's minute)."""
SHIPPING_ROUNDS = 5
"""At most this many times, at the end, the warehouse ships what the settled daemon created."""


class ChaosOptions(msgspec.Struct, frozen=True):
    orders: int = 500
    kills: int = 5
    seed: int = 1
    catalog: int = 24
    """Variants in the shared catalog every storefront sells."""
    orders_per_second: float = 8.0
    ship_after: float = 1.0
    """Seconds between the warehouse seeing an order and shipping it."""
    rate_scale: float = 20.0
    """Every sandbox's rate limit, and every channel's pace, times this: the platforms' real
    limits (ShipBob's 150 calls a minute) would make a run of hundreds of orders take hours."""
    outage: float = 1.5
    """At most this many seconds (seeded) between a kill and the restart."""
    faults: SandboxFaults = FAULTS


class Kill(msgspec.Struct, frozen=True):
    """One kill: after which order it was armed, at which sandbox's call, and when."""

    after_order: int
    sandbox: str
    moment: str
    """``"before"`` the sandbox acted on the call, ``"after"`` (the reply lost), or
    ``"anyway"`` when no sandbox was called within :data:`TRIP_TIMEOUT`."""
    call: str


class ChaosResult(msgspec.Struct, frozen=True):
    options: ChaosOptions
    report: Report
    problems: list[str]
    """Every broken invariant (the report's and the exception check's); empty: all held."""
    kills: list[Kill]
    restarts: int
    exceptions: dict[str, int]
    """Reason → orders and writes held for an operator at the end."""
    settled: bool
    wall_seconds: float
    daemon_log_tail: list[str]

    @property
    def consistent(self) -> bool:
        return not self.problems

    def figures(self) -> dict[str, Any]:
        """The run's numbers, for the bench's table and JSON."""
        report = self.report
        return {
            "orders_placed": sum(line.placed for line in report.stores),
            "orders_imported": sum(line.imported for line in report.stores),
            "order_duplicates": report.duplicate_fulfillment_orders,
            "orders_held": sum(sum(line.held.values()) for line in report.stores),
            "shipments": report.shipments_shipped,
            "tracking_written": report.tracking_written,
            "tracking_duplicates": report.tracking_duplicated,
            "tracking_missing": report.tracking_missing,
            "stock_mismatches": sum(len(line.stock_wrong) for line in report.stores),
            "exceptions": sum(self.exceptions.values()),
            "exceptions_by_reason": self.exceptions,
            "kills": len(self.kills),
            "restarts": self.restarts,
            "settled": self.settled,
            "wall_seconds": round(self.wall_seconds, 1),
        }

    def explain(self) -> str:
        """What broke, the report, the kills and the end of the daemon's log."""
        lines = ["chaos run broke its invariants:", *(f"  - {p}" for p in self.problems)]
        lines += [render(self.report), "kills:"]
        lines += [f"  {k.moment} {k.sandbox} {k.call} (order {k.after_order})" for k in self.kills]
        lines += ["daemon log (last lines):", *self.daemon_log_tail]
        return "\n".join(lines)


class Tripwire:
    """An ASGI wrapper around a sandbox app that, once armed, kills the daemon at the n-th
    API call (not a ``/_sandbox/`` hook, not a read) it then receives; unarmed, it tells
    :attr:`answered` of each such call the sandbox has answered."""

    def __init__(self, name: str, app: Any) -> None:
        self.name = name
        self.app = app
        self._armed: tuple[int, Literal["before", "after"], Callable[[str], None]] | None = None
        self.answered: Callable[[], None] = lambda: None
        """Called once the sandbox has acted on an API call and answered it (how a benchmark
        sees a write land without polling the sandbox)."""

    def arm(
        self, calls: int, moment: Literal["before", "after"], kill: Callable[[str], None]
    ) -> None:
        """Call ``kill(call)`` at the ``calls``-th call from now, ``before`` the sandbox
        sees it or ``after`` it answered, before the answer leaves."""
        self._armed = (calls, moment, kill)

    def disarm(self) -> None:
        self._armed = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        armed = self._armed
        if (
            scope["type"] != "http"
            or scope["method"] == "GET"
            or scope["path"].startswith("/_sandbox/")
        ):
            await self.app(scope, receive, send)
            return
        if armed is None:
            await self.app(scope, receive, send)
            self.answered()
            return
        calls, moment, kill = armed
        if calls > 1:
            self._armed = (calls - 1, moment, kill)
            await self.app(scope, receive, send)
            return
        self._armed = None
        call = f"{scope['method']} {scope['path']}"
        if moment == "before":
            kill(call)
            return  # nobody is left to answer (the server answers 500 to a closed socket)

        async def killing_send(message: Any) -> None:
            if message["type"] == "http.response.start":
                kill(call)
            await send(message)

        await self.app(scope, receive, killing_send)


class Shop(msgspec.Struct):
    """The sandboxes as served: each channel's play, tripwire and config table."""

    stores: dict[str, StorefrontPlay]
    provider: ProviderPlay
    tripwires: dict[str, Tripwire]
    tables: list[dict[str, Any]]
    environ: dict[str, str]

    @property
    def webhooked(self) -> dict[str, Webhooked]:
        return {**self.stores, PROVIDER: self.provider}


async def run_chaos(options: ChaosOptions, workdir: Path, out: TextIO = sys.stderr) -> ChaosResult:
    """One chaos run in ``workdir`` (config, state and logs are left there); progress lines go
    to ``out``."""
    started = time.monotonic()
    rng = random.Random(options.seed)
    port = free_port()
    async with trio.open_nursery() as nursery, httpx.AsyncClient(timeout=10.0) as http:
        stop = trio.Event()
        sandbox = SandboxOptions(
            seed=options.seed,
            catalog=options.catalog,
            shared_catalog=True,
            rate_scale=options.rate_scale,
        )
        shop = await serve_sandboxes(nursery, stop, sandbox)
        config = workdir / "shelfsync.toml"
        config.write_text(_config(workdir, port, shop.tables))
        for name, played in shop.webhooked.items():
            await played.subscribe(http, f"http://{HOST}:{port}/webhooks/{name}")
        chaos = _Chaos(options, rng, shop, config, http, out, nursery)
        await chaos.inject(options.faults)
        try:
            await chaos.start_daemon()
            await catalogs_synced(shop.stores, shop.provider, {}, out)
            await chaos.play()
            await chaos.inject(SandboxFaults())
            print("stopping the daemon", file=out)
            await chaos.stop_daemon()
        finally:
            chaos.write_logs(workdir / "daemon.log")  # a run that failed needs them most
        print("settling: the daemon in-process on the same state", file=out)
        settling = workdir / "settle.toml"
        settling.write_text(_config(workdir, 0, shop.tables))
        report, problems, exceptions, settled = await _settle(settling, shop, chaos.shoppers, http)
        stop.set()
    return ChaosResult(
        options=options,
        report=report,
        problems=problems,
        kills=chaos.kills,
        restarts=chaos.restarts,
        exceptions=exceptions,
        settled=settled,
        wall_seconds=time.monotonic() - started,
        daemon_log_tail=chaos.log_lines[-60:],
    )


class _Chaos:
    """The daemon child, the shoppers, the warehouse and the killer, during the run."""

    def __init__(
        self,
        options: ChaosOptions,
        rng: random.Random,
        shop: Shop,
        config: Path,
        http: httpx.AsyncClient,
        out: TextIO,
        background: trio.Nursery,
    ) -> None:
        self.options = options
        self.rng = rng
        self.shop = shop
        self.config = config
        self.http = http
        self.out = out
        self.shoppers = Shoppers(shop.stores, http, rng, options.orders_per_second)
        self.warehouse = Warehouse(shop.provider, http, rng, options.ship_after)
        self.kills: list[Kill] = []
        self.restarts = 0
        self.log_lines: list[str] = []
        """The log of the daemon child now running (or last run)."""
        self._logs: list[list[str]] = []
        self._daemon: DaemonProcess | None = None
        self._nursery: trio.Nursery | None = None
        self._background = background
        self._injections = 0
        self._injecting = trio.Lock()

    async def inject(self, faults: SandboxFaults) -> None:
        """Set ``faults`` in every sandbox; what is left of their burst of 429s is called off
        after :data:`THROTTLE_BURST_SECONDS`, unless faults are set again before."""
        async with self._injecting:
            self._injections += 1
            await self._set(faults)
        if faults.throttle_burst:
            self._background.start_soon(self._call_off_throttling, faults, self._injections)

    async def _call_off_throttling(self, faults: SandboxFaults, injection: int) -> None:
        await trio.sleep(THROTTLE_BURST_SECONDS)
        # Under the lock: faults set meanwhile (the next restart's, or none at the end) are
        # never overwritten by these.
        async with self._injecting:
            if injection == self._injections:
                await self._set(msgspec.structs.replace(faults, throttle_burst=0))

    async def _set(self, faults: SandboxFaults) -> None:
        for played in self.shop.webhooked.values():
            await played.inject(self.http, faults)

    async def start_daemon(self) -> None:
        self._daemon = await DaemonProcess.start(self.config, environ=self.shop.environ)
        self.log_lines = self._daemon.lines
        self._logs.append(self.log_lines)

    def write_logs(self, path: Path) -> None:
        """Every daemon child's log, one after the other, as JSON lines."""
        with path.open("w") as out:
            for lines in self._logs:
                out.writelines(line + "\n" for line in lines)

    async def stop_daemon(self) -> None:
        assert self._daemon is not None
        code = await self._daemon.stop()
        if code != 0:
            raise AssertionError(f"the daemon stopped with {code}:\n" + "\n".join(self.log_lines))

    async def play(self) -> None:
        """Shop until every order is placed, kill and restart the daemon on the way, then
        let the warehouse ship what is left."""
        assert self._daemon is not None
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            nursery.start_soon(self._daemon.follow)
            nursery.start_soon(self.warehouse.run)
            async with trio.open_nursery() as shopping:
                shopping.start_soon(self._shop)
                shopping.start_soon(self._kill_and_restart)
            await self._until_shipped()
            # The warehouse stops, and so does following the log (stopping drains it).
            nursery.cancel_scope.cancel()
        print(f"shipping done: {self.warehouse.shipped} orders shipped", file=self.out)

    async def _shop(self) -> None:
        while len(self.shoppers.placed) < self.options.orders:
            await self.shoppers.place_one()
            await trio.sleep(self.rng.expovariate(self.options.orders_per_second))
        print(f"shopping done: {len(self.shoppers.placed)} orders placed", file=self.out)

    async def _kill_and_restart(self) -> None:
        total = self.options.orders
        points = sorted(self.rng.sample(range(total // 10, total * 9 // 10), self.options.kills))
        placed = self.shoppers.placed
        for point in points:
            await _until(partial(_at_least, placed, point))
            await self._kill_at_a_call(point)
            await trio.sleep(self.rng.uniform(0.0, self.options.outage))  # the outage itself
            await self.inject(self.options.faults)
            await self.start_daemon()
            self.restarts += 1
            assert self._nursery is not None and self._daemon is not None
            self._nursery.start_soon(self._daemon.follow)

    async def _kill_at_a_call(self, point: int) -> None:
        """Arm a seeded sandbox's tripwire for a seeded number of calls ahead, then every
        sandbox's: the first to trip kills the daemon, at the seeded moment of that call."""
        assert self._daemon is not None
        daemon = self._daemon
        moment: Literal["before", "after"] = self.rng.choice(("before", "after"))
        killed: list[Kill] = []
        done = trio.Event()

        def kill_at(sandbox: str) -> Callable[[str], None]:
            def kill(call: str) -> None:
                if not killed:
                    daemon.kill()
                    killed.append(Kill(point, sandbox, moment, call))
                    done.set()

            return kill

        # One sandbox first, so that the kills spread over every platform; then all of them,
        # in case that one is not being called.
        first = self.rng.choice(sorted(self.shop.tripwires))
        self.shop.tripwires[first].arm(self.rng.randint(1, 8), moment, kill_at(first))
        with trio.move_on_after(TRIP_TIMEOUT):
            await done.wait()
        for name, tripwire in sorted(self.shop.tripwires.items()):
            if not killed:
                tripwire.arm(self.rng.randint(1, 8), moment, kill_at(name))
        with trio.move_on_after(TRIP_TIMEOUT):
            await done.wait()
        for tripwire in self.shop.tripwires.values():
            tripwire.disarm()
        if not killed:
            daemon.kill()
            killed.append(Kill(point, "-", "anyway", "-"))
        await daemon.process.wait()
        kill = killed[0]
        self.kills.append(kill)
        print(f"kill {len(self.kills)}: {kill.moment} {kill.sandbox} {kill.call}", file=self.out)

    async def _until_shipped(self) -> None:
        """Until the daemon has caught up, as far as the provider shows: no order created there
        for :data:`QUIET_SECONDS` and every one the warehouse can ship shipped (bounded: some
        wait for stock not yet received)."""
        provider = self.shop.provider
        with trio.move_on_after(DRAIN_TIMEOUT):
            while True:
                orders = len(provider.orders())
                await trio.sleep(QUIET_SECONDS)
                if len(provider.orders()) == orders and not _unshipped(provider):
                    return


def _at_least(items: list[Any], count: int) -> bool:
    return len(items) >= count


def _unshipped(provider: ProviderPlay) -> int:
    """Orders at the provider with a shipment not yet shipped."""
    return sum(
        1
        for order in provider.orders()
        if not order.cancelled and any(not s.shipped for s in order.shipments)
    )


async def _settle(
    config: Path, shop: Shop, shoppers: Shoppers, http: httpx.AsyncClient
) -> tuple[Report, list[str], dict[str, int], bool]:
    """Run the daemon in this process on the run's state until the shop is settled, the
    warehouse having shipped all it can, then once more after a stock reconcile; and judge it:
    the report, every problem, the exceptions open by reason, and whether it settled."""
    daemon = Daemon(load_config(config, environ=shop.environ))
    warehouse = Warehouse(shop.provider, http, random.Random(0), ship_after=0.0)
    async with trio.open_nursery() as nursery:
        await nursery.start(daemon.run)
        settled = await settle_shop(daemon, SETTLE_SECONDS)
        for _ in range(SHIPPING_ROUNDS):
            shipped = warehouse.shipped
            await warehouse.ship_due()
            if warehouse.shipped == shipped:
                break
            settled = await settle_shop(daemon, SETTLE_SECONDS) and settled
        daemon.hub.request_reconcile()
        settled = await settle_shop(daemon, SETTLE_SECONDS) and settled
        report = await consistency_report(daemon, shoppers.placed, shop.stores, shop.provider, {})
        held_orders = await daemon.held_records("orders")
        held_writes = await daemon.held_writes()
        problems = list(report.problems)
        problems += unaccounted_orders(shoppers.placed, daemon.hub.pool, held_orders)
        if not settled:
            problems.append("the shop did not settle: work was still in hand")
        daemon.request_stop()
    exceptions = Counter(held.reason for held in [*held_orders, *held_writes])
    return report, problems, {str(reason): n for reason, n in exceptions.items()}, settled


async def serve_sandboxes(nursery: trio.Nursery, stop: trio.Event, sandbox: SandboxOptions) -> Shop:
    """Serve every sandbox of ``shelfsync demo`` on loopback (until ``stop``), each behind its
    (unarmed) tripwire, with the config table of the channel that connects to it: paced at the
    platform's limit times ``sandbox.rate_scale``, as the sandbox enforces it."""
    stores: dict[str, StorefrontPlay] = {}
    tripwires: dict[str, Tripwire] = {}
    tables: list[dict[str, Any]] = []
    environ: dict[str, str] = {}

    def channel(
        name: str, platform: str, settings: dict[str, Any], secrets: dict[str, str]
    ) -> None:
        variables = {key: f"SHELFSYNC_CHAOS_{name}_{key}".upper() for key in secrets}
        environ.update({variables[key]: value for key, value in secrets.items()})
        table: dict[str, Any] = {
            "name": name,
            "platform": platform,
            "credentials": {key: f"env:{variable}" for key, variable in variables.items()},
            "schedule": SCHEDULES.get(platform, {}),
            "retry_attempts": 8,
            "retry_backoff": "100ms",
            "retry_backoff_max": "2s",
            **pace(platform, sandbox.rate_scale),
        }
        if name != PROVIDER:
            table["ship_methods"] = SHIP_METHODS
        tables.append(table | {"settings": settings})

    for name, platform in STOREFRONTS:
        made = importlib.import_module(f"connectors.{platform}.sandbox_play").demo_storefront(
            sandbox
        )
        tripwires[name] = Tripwire(name, made.app)
        played = made.played(await serve_app(nursery, tripwires[name], HOST, 0, stop))
        stores[name] = played.play
        channel(name, platform, played.settings, played.secrets)
    fc = shipbob_play.demo_provider(sandbox)
    tripwires[PROVIDER] = Tripwire(PROVIDER, fc.app)
    provider, settings, secrets = fc.played(
        await serve_app(nursery, tripwires[PROVIDER], HOST, 0, stop)
    )
    channel(PROVIDER, "shipbob", settings, secrets)
    return Shop(stores, provider, tripwires, tables, environ)


def pace(platform: str, rate_scale: float) -> dict[str, float]:
    """A channel's ``requests_per_second`` and ``burst`` for a sandbox of ``platform`` whose
    limits are the platform's times ``rate_scale``."""
    spec = BUILTIN[platform]
    return {
        "requests_per_second": spec.requests_per_second * rate_scale,
        "burst": spec.burst * rate_scale,
    }


def _config(workdir: Path, port: int, channels: list[dict[str, Any]]) -> str:
    """The daemon's config on ``port``; with port 0, the settling daemon's: it reads only when
    told (no schedule, no webhook reaches it), so that the shop can be seen quiet."""
    if not port:
        channels = [
            table | {"schedule": dict.fromkeys(table["schedule"], "1d")} for table in channels
        ]
    # A fixed port: the sandboxes' webhook subscriptions must reach every restart.
    daemon = daemon_table(
        workdir,
        f"{HOST}:{port}",
        sqlite_synchronous="normal",
        shutdown_grace="5s",
        request_timeout="2s",
        restart_backoff="200ms",
        restart_backoff_max="2s",
    )
    reconcile = "1m" if port else "1d"  # the settling daemon reconciles when told
    return toml_config(daemon, channels) + f'\n[inventory]\nreconcile = "{reconcile}"\n'


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
        return port


async def _until(condition: Callable[[], bool], every: float = 0.05) -> None:
    """Until ``condition`` holds, looked at every ``every`` seconds (the shop runs on the wall
    clock, in other tasks: there is no event to wait for)."""
    while not condition():
        await trio.sleep(every)


def git_commit() -> str:
    """The checkout's commit (``unknown`` outside a git checkout)."""
    found = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True, check=False
    )
    return found.stdout.strip() or "unknown"


__all__ = [
    "ChaosOptions",
    "ChaosResult",
    "Kill",
    "Shop",
    "Tripwire",
    "free_port",
    "git_commit",
    "run_chaos",
    "serve_sandboxes",
]
