"""Scale: 1,000 channels in one daemon process, idle and then at a low steady rate of sales.

``python -m bench.scale`` (``--quick``: 200 channels, shorter windows; ``--out FILE``: JSON).

The daemon runs as ``shelfsync run`` in a child process; its RSS and CPU time are read from
``/proc``. One sandbox of each storefront platform (Shopify, Wix, BigCommerce, ShipStation)
is served on loopback in this process, and the storefront channels are spread over them, so
that many channels are backed by the same sandbox store: each channel is still its own actor
with its own HTTP client, rate limiter, schedules, cursors and mailbox, reading and writing
over real HTTP; each sandbox's rate limit is scaled by the channels it backs, so that every
channel has the whole of a store's budget as it would with a store of its own. One ShipBob
sandbox backs the one fulfillment provider channel. Schedules are the platforms' defaults.

Figures:

- ``start_s``: from spawning the process to its ``serving`` log line (every channel's actor
  running; the hub has loaded the state);
- ``first_reads_s``: from spawning to every stream of every channel read once;
- ``rss_mb``: resident memory once idle; ``rss_peak_mb``: the high-water mark at the end;
- ``idle_cpu_ratio``: CPU time over wall time, as a share of one core, over the idle window
  (every first read done and no API call for a while; nothing polls the daemon meanwhile);
- ``steady_cpu_ratio``, ``mailbox_depth_max``: while shoppers order at ``--rate`` per second
  on the storefront sandboxes (each sandbox's webhooks go to its first channel), with
  ``/metrics`` scraped every second for the depth of every channel's mailbox;
- ``load_avg``: the machine's load average (1, 5, 15 minutes) at the end: other work on the
  same cores makes every figure noisier.
"""

from __future__ import annotations

import importlib
import os
import random
import socket
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, TextIO

import httpx
import msgspec
import trio

from bench.report import base_parser, emit
from connectors.registry import BUILTIN
from connectors.sandbox_play import StorefrontPlay
from connectors.sandbox_server import SandboxOptions, serve_app
from connectors.shipbob import sandbox_play as shipbob_play
from daemon.demo import SHIP_METHODS, STOREFRONTS
from daemon.demo_play import Shoppers
from tests.daemon_process import DaemonProcess
from tests.helpers import daemon_table, toml_config

HOST = "127.0.0.1"
PROVIDER = "fc"
QUIET_SECONDS = 10.0
"""No API call for this long, after the first reads, counts as idle. A first read that
failed under the start-up load is retried with backoff (up to ``retry_backoff_max``): a
retry that comes after a longer lull falls in the idle window and counts as idle CPU."""
SETTLE_TIMEOUT = 300.0
"""A bound on the first reads and the writes they cause, on two busy cores."""
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE_BYTES = os.sysconf("SC_PAGE_SIZE")


class ScaleOptions(msgspec.Struct, frozen=True):
    channels: int = 1000
    """Channels in the daemon, the fulfillment provider's included."""
    idle_seconds: float = 30.0
    steady_seconds: float = 30.0
    rate: float = 1.0
    """Sales a second in the steady phase, over every storefront sandbox."""
    catalog: int = 12
    seed: int = 1


FULL = ScaleOptions()
QUICK = ScaleOptions(channels=200, idle_seconds=10.0, steady_seconds=10.0)


class ScaleResult(msgspec.Struct, frozen=True):
    channels: int
    start_s: float
    first_reads_s: float
    rss_mb: float
    rss_peak_mb: float
    idle_cpu_ratio: float
    idle_seconds: float
    steady_cpu_ratio: float
    steady_seconds: float
    sales_per_s: float
    sales: int
    mailbox_depth_max: int
    api_calls_first_reads: int
    api_calls_steady: int
    load_avg: tuple[float, float, float]


def main(argv: list[str] | None = None) -> int:
    parser = base_parser(__doc__ or "")
    parser.add_argument(
        "--channels", type=int, help=f"default {FULL.channels}, {QUICK.channels} with --quick"
    )
    parser.add_argument("--rate", type=float, default=FULL.rate, help="sales a second")
    args = parser.parse_args(argv)
    base = QUICK if args.quick else FULL
    options = msgspec.structs.replace(base, channels=args.channels or base.channels, rate=args.rate)
    with tempfile.TemporaryDirectory(prefix="shelfsync-scale-") as folder:
        result = trio.run(run_scale, options, Path(folder))
    emit("scale", msgspec.structs.asdict(result), args.out)
    return 0


class Served(msgspec.Struct):
    """The sandboxes on loopback, and the config tables of the channels they back."""

    stores: dict[str, StorefrontPlay]
    """The first channel on each storefront sandbox → its play."""
    tables: list[dict[str, Any]]
    environ: dict[str, str]


async def run_scale(options: ScaleOptions, workdir: Path, out: TextIO = sys.stderr) -> ScaleResult:
    async with trio.open_nursery() as nursery, httpx.AsyncClient(timeout=30.0) as http:
        stop = trio.Event()
        served = await _serve_sandboxes(nursery, stop, options)
        port = _free_port()
        config = workdir / "shelfsync.toml"
        config.write_text(_config(workdir, port, served.tables))
        for name, play in served.stores.items():
            await play.subscribe(http, f"http://{HOST}:{port}/webhooks/{name}")
        spawned = time.monotonic()
        daemon = await DaemonProcess.start(config, timeout=SETTLE_TIMEOUT, environ=served.environ)
        start_s = time.monotonic() - spawned
        print(f"serving {options.channels} channels after {start_s:.2f}s", file=out)
        pid = daemon.process.pid
        metrics = f"http://{HOST}:{port}/metrics"
        streams = sum(len(_streams(table)) for table in served.tables)
        try:
            async with trio.open_nursery() as following:
                # Its output is read all along: a full pipe would block the daemon's next log.
                following.start_soon(daemon.follow)
                await _until_synced(daemon, streams)
                first_reads_s = time.monotonic() - spawned
                print(f"every stream read once after {first_reads_s:.1f}s", file=out)
                calls_first = await _until_no_calls(http, metrics)
                idle_cpu = await _cpu_ratio(pid, options.idle_seconds)
                rss_mb = _rss_mb(pid)
                print(f"idle: {idle_cpu:.4f} of a core, {rss_mb:.1f} MB", file=out)
                steady = await _steady(options, pid, served, http, metrics)
                rss_peak_mb = _rss_peak_mb(pid)
                following.cancel_scope.cancel()
        finally:
            await daemon.stop(timeout=60.0)
            stop.set()
    sales, steady_cpu, depth_max, calls_steady = steady
    return ScaleResult(
        channels=options.channels,
        start_s=round(start_s, 3),
        first_reads_s=round(first_reads_s, 2),
        rss_mb=round(rss_mb, 1),
        rss_peak_mb=round(rss_peak_mb, 1),
        idle_cpu_ratio=round(idle_cpu, 4),
        idle_seconds=options.idle_seconds,
        steady_cpu_ratio=round(steady_cpu, 4),
        steady_seconds=options.steady_seconds,
        sales_per_s=options.rate,
        sales=sales,
        mailbox_depth_max=depth_max,
        api_calls_first_reads=calls_first,
        api_calls_steady=calls_steady,
        load_avg=os.getloadavg(),
    )


async def _serve_sandboxes(
    nursery: trio.Nursery, stop: trio.Event, options: ScaleOptions
) -> Served:
    storefront_channels = options.channels - 1
    stores: dict[str, StorefrontPlay] = {}
    tables: list[dict[str, Any]] = []
    environ: dict[str, str] = {}

    def add(name: str, platform: str, settings: dict[str, Any], secrets: dict[str, str]) -> None:
        variables = {key: f"SHELFSYNC_SCALE_{platform}_{key}".upper() for key in secrets}
        environ.update({variables[key]: value for key, value in secrets.items()})
        table: dict[str, Any] = {
            "name": name,
            "platform": platform,
            "credentials": {key: f"env:{variable}" for key, variable in variables.items()},
        }
        if platform != "shipbob":
            table["ship_methods"] = SHIP_METHODS
        tables.append(table | {"settings": settings})

    for index, (prefix, platform) in enumerate(STOREFRONTS):
        backed = len(range(index, storefront_channels, len(STOREFRONTS)))
        sandbox = SandboxOptions(
            seed=options.seed, catalog=options.catalog, shared_catalog=True, rate_scale=backed
        )
        made = importlib.import_module(f"connectors.{platform}.sandbox_play").demo_storefront(
            sandbox
        )
        played = made.played(await serve_app(nursery, made.app, HOST, 0, stop))
        stores[f"{prefix}0"] = played.play
        for number in range(backed):
            add(f"{prefix}{number}", platform, played.settings, played.secrets)
    provider = shipbob_play.demo_provider(
        SandboxOptions(seed=options.seed, catalog=options.catalog, shared_catalog=True)
    )
    _, settings, secrets = provider.played(await serve_app(nursery, provider.app, HOST, 0, stop))
    add(PROVIDER, "shipbob", settings, secrets)
    return Served(stores, tables, environ)


def _streams(table: dict[str, Any]) -> tuple[str, ...]:
    return BUILTIN[table["platform"]].stream_names


def _config(workdir: Path, port: int, channels: list[dict[str, Any]]) -> str:
    return toml_config(daemon_table(workdir, f"{HOST}:{port}", log_level="info"), channels)


async def _until_synced(daemon: DaemonProcess, streams: int) -> None:
    """Until ``streams`` reads have been logged done (each channel's first read of each of
    its streams: nothing else reads that soon). ``daemon`` is being followed: its events
    are looked at every tenth of a second."""
    with trio.fail_after(SETTLE_TIMEOUT):
        while sum(1 for event in daemon.events if event.get("event") == "sync_done") < streams:
            await trio.sleep(0.1)


async def _until_no_calls(http: httpx.AsyncClient, metrics: str) -> int:
    """Until the daemon has made no API call for :data:`QUIET_SECONDS`; the calls made."""
    with trio.fail_after(SETTLE_TIMEOUT):
        calls = await _api_calls(http, metrics)
        while True:
            await trio.sleep(QUIET_SECONDS)
            now = await _api_calls(http, metrics)
            if now == calls:
                return calls
            calls = now


async def _steady(
    options: ScaleOptions,
    pid: int,
    served: Served,
    http: httpx.AsyncClient,
    metrics: str,
) -> tuple[int, float, int, int]:
    """Shoppers at ``options.rate`` for ``options.steady_seconds``; the sales, the CPU ratio,
    the deepest mailbox seen, and the API calls made meanwhile."""
    shoppers = Shoppers(served.stores, http, random.Random(options.seed), options.rate)
    calls_before = await _api_calls(http, metrics)
    depth_max = 0

    async def watch_mailboxes() -> None:
        nonlocal depth_max
        while True:
            depth_max = max(depth_max, await _mailbox_depth(http, metrics))
            await trio.sleep(1.0)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(shoppers.run)
        nursery.start_soon(watch_mailboxes)
        cpu = await _cpu_ratio(pid, options.steady_seconds)
        nursery.cancel_scope.cancel()
    calls = await _api_calls(http, metrics) - calls_before
    return len(shoppers.placed), cpu, depth_max, int(calls)


async def _api_calls(http: httpx.AsyncClient, metrics: str) -> int:
    return int(sum(_samples(await _scrape(http, metrics), "shelfsync_api_requests_total")))


async def _mailbox_depth(http: httpx.AsyncClient, metrics: str) -> int:
    return int(max(_samples(await _scrape(http, metrics), "shelfsync_mailbox_depth"), default=0))


async def _scrape(http: httpx.AsyncClient, metrics: str) -> str:
    response = await http.get(metrics)
    response.raise_for_status()
    return response.text


def _samples(text: str, name: str) -> list[float]:
    """The values of every sample of ``name`` in a Prometheus text exposition."""
    return [
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith(name + "{") or line.startswith(name + " ")
    ]


async def _cpu_ratio(pid: int, seconds: float) -> float:
    """The process's CPU time (user and system) over ``seconds`` of wall time."""
    before, started = _cpu_seconds(pid), time.monotonic()
    await trio.sleep(seconds)
    return (_cpu_seconds(pid) - before) / (time.monotonic() - started)


def _cpu_seconds(pid: int) -> float:
    # Fields after the command name (which may hold spaces), from /proc/PID/stat: utime and
    # stime are the 14th and 15th fields of the whole line.
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def _rss_mb(pid: int) -> float:
    resident = int(Path(f"/proc/{pid}/statm").read_text().split()[1])
    return resident * PAGE_BYTES / 2**20


def _rss_peak_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/PID/status")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
        return port


if __name__ == "__main__":
    sys.exit(main())
