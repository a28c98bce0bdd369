"""``shelfsync demo``: the whole system on loopback, with no account and no set-up.

It serves a sandbox of each platform on 127.0.0.1, writes a config for them (state in a
temporary directory), runs the daemon on it in this process, and plays a small shop
(:mod:`daemon.demo_play`): shoppers order on every storefront, the fulfillment provider's
warehouse ships after a delay (some orders in two packages) and receives stock. A live view
shows each channel's state; at the end (``--duration`` seconds, or Ctrl-C) the shop is
settled (every stream read once more, every queued write done) and the consistency report
(:mod:`daemon.demo_report`) is printed. The exit code is 0 only if the report is consistent.
"""

from __future__ import annotations

import importlib
import random
import signal
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

import httpx
import msgspec
import trio

from actors.messages import SyncNow
from actors.rules.bundles import Bundles
from connectors.model import BundleComponent
from connectors.sandbox_play import ProviderPlay, StorefrontPlay
from connectors.sandbox_server import SandboxOptions, serve_app
from connectors.shipbob import sandbox_play as shipbob_play
from daemon.app import Daemon
from daemon.config import load_config
from daemon.demo_play import PlacedOrder, Shoppers, Warehouse
from daemon.demo_report import Report, build_report, held_tracking, render
from daemon.logs import configure_logging

HOST = "127.0.0.1"
SETTLE_SECONDS = 60.0
"""How long the end of the demo may take to read everything once more and drain every write."""


class DemoOptions(msgspec.Struct, frozen=True):
    duration: float | None = None
    """Seconds of shopping before the report; None: until Ctrl-C."""
    seed: int = 1
    catalog: int = 12
    """Variants in each storefront's catalog."""
    orders_per_second: float = 0.5
    """ShipBob allows 150 requests a minute, and each order costs it a create, a tracking
    acknowledgement and its share of the reads: faster than this, a backlog builds (and is
    drained, late, when the demo ends)."""
    ship_after: float = 3.0
    """Seconds between the warehouse seeing an order and shipping it."""
    view: bool = True


STOREFRONTS = (
    ("web", "shopify"),
    ("wixshop", "wix"),
    ("bigc", "bigcommerce"),
    ("ss", "shipstation"),
)
"""The demo's storefront channels and their platforms; every one sells from the one pool."""
SCHEDULES = {
    "shopify": {"orders": "2s", "products": "1m"},
    "wix": {"orders": "2s", "products": "1m"},
    "bigcommerce": {"orders": "3s", "products": "1m"},
    # 40 requests a minute: each orders read is two (one per status), each tracking write two.
    "shipstation": {"orders": "15s", "products": "5m"},
    "shipbob": {"shipments": "2s", "inventory": "3s"},
}
"""Short schedules: the demo reads often instead of subscribing every sandbox's webhooks."""
SHIP_METHODS = {"Standard": {"ship_option": "Ground"}, "Express": {"ship_option": "2-Day"}}
BUNDLES = 1
"""Bundles the demo's catalog adds: each storefront lists it, the warehouse picks its parts."""


class Channel(msgspec.Struct):
    """A demo channel: its name, platform, settings and credential values."""

    name: str
    platform: str
    settings: dict[str, Any]
    secrets: dict[str, str]


def run_demo(options: DemoOptions, out: TextIO = sys.stdout) -> int:
    """Run the demo to its report; 0 if consistent, 1 if not."""
    return trio.run(_demo, options, out)


async def _demo(options: DemoOptions, out: TextIO) -> int:
    rng = random.Random(options.seed)
    sandbox = SandboxOptions(
        seed=options.seed, catalog=options.catalog, shared_catalog=True, bundles=BUNDLES
    )
    catalog = sandbox.shared()
    assert catalog is not None
    bundles = {b.sku: [BundleComponent(sku, n) for sku, n in b.components] for b in catalog.bundles}
    with tempfile.TemporaryDirectory(prefix="shelfsync-demo-") as folder:
        workdir = Path(folder)
        with (workdir / "shelfsync.log").open("w") as log:
            configure_logging("info", log)
            async with trio.open_nursery() as nursery:
                stop = trio.Event()
                stores: dict[str, StorefrontPlay] = {}
                channels: list[Channel] = []
                for name, platform in STOREFRONTS:
                    made = _platform_play(platform).demo_storefront(sandbox)
                    played = made.played(await serve_app(nursery, made.app, HOST, 0, stop))
                    stores[name] = played.play
                    channels.append(Channel(name, platform, played.settings, played.secrets))
                fc = shipbob_play.demo_provider(sandbox)
                provider, settings, secrets = fc.played(
                    await serve_app(nursery, fc.app, HOST, 0, stop)
                )
                channels.append(Channel("fc", "shipbob", settings, secrets))
                config_path = workdir / "shelfsync.toml"
                config_path.write_text(_config(workdir, channels, bundles))
                daemon = Daemon(load_config(config_path, environ=_environ(channels)))
                urls: list[str] = await nursery.start(daemon.run)
                async with httpx.AsyncClient(timeout=10.0) as http:
                    shop = Shop(stores, provider, bundles)
                    code = await _play(daemon, urls[0], shop, http, rng, options, out)
                daemon.request_stop()
                stop.set()
        return code


def _platform_play(platform: str) -> Any:
    """The platform's ``sandbox_play`` module (it exports ``demo_storefront``)."""
    return importlib.import_module(f"connectors.{platform}.sandbox_play")


def _variable(channel: str, credential: str) -> str:
    return f"SHELFSYNC_DEMO_{channel}_{credential}".upper()


def _environ(channels: list[Channel]) -> dict[str, str]:
    return {_variable(c.name, name): value for c in channels for name, value in c.secrets.items()}


def _config(workdir: Path, channels: list[Channel], bundles: Bundles) -> str:
    lines = [
        "[daemon]",
        f'state = "sqlite:///{workdir}/state.db"',
        'listen = "127.0.0.1:0"',
        f'control_socket = "{workdir}/control.sock"',
        'sqlite_synchronous = "normal"',
        "",
    ]
    for channel in channels:
        table: dict[str, Any] = {
            "name": channel.name,
            "platform": channel.platform,
            "credentials": {n: f"env:{_variable(channel.name, n)}" for n in channel.secrets},
            "schedule": SCHEDULES.get(channel.platform, {}),
        }
        if channel.name != "fc":
            table["ship_methods"] = SHIP_METHODS
        lines += ["[[channels]]", *(f"{key} = {_toml(value)}" for key, value in table.items())]
        lines += ["[channels.settings]"]
        lines += [f"{key} = {_toml(value)}" for key, value in channel.settings.items()]
        lines.append("")
    for sku, parts in bundles.items():
        components = {part.sku: part.quantity for part in parts}
        lines += ["[[bundles]]", f"sku = {_toml(sku)}", f"components = {_toml(components)}", ""]
    return "\n".join(lines)


def _toml(value: Any) -> str:
    if isinstance(value, dict):
        return "{ " + ", ".join(f'"{k}" = {_toml(v)}' for k, v in value.items()) + " }"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


class Shop(msgspec.Struct):
    """What the demo plays: the storefronts by channel, the fulfillment provider, and the
    bundles the storefronts sell (bundle SKU → its components)."""

    stores: dict[str, StorefrontPlay]
    provider: ProviderPlay
    bundles: Bundles


async def _play(
    daemon: Daemon,
    metrics_url: str,
    shop: Shop,
    http: httpx.AsyncClient,
    rng: random.Random,
    options: DemoOptions,
    out: TextIO,
) -> int:
    plays, provider = shop.stores, shop.provider
    await catalogs_synced(plays, provider, shop.bundles, out)
    shoppers = Shoppers(plays, http, rng, options.orders_per_second, bundles=sorted(shop.bundles))
    warehouse = Warehouse(provider, http, rng, options.ship_after)
    stop = trio.Event()
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(shoppers.run)
            nursery.start_soon(warehouse.run)
            nursery.start_soon(_stop_on_signal, signals, stop)
            if options.view:
                nursery.start_soon(_view, daemon, metrics_url, shoppers, warehouse, out)
            with trio.move_on_after(options.duration if options.duration else float("inf")):
                await stop.wait()
            nursery.cancel_scope.cancel()
    print("\nsettling: reading every channel once more and draining every write...", file=out)
    settled = await settle(daemon)
    report = await consistency_report(daemon, shoppers.placed, plays, provider, shop.bundles)
    out.write(render(report))
    if not settled:
        out.write(f"  (the shop did not settle within {SETTLE_SECONDS:g}s)\n")
    return 0 if report.consistent and settled else 1


async def consistency_report(
    daemon: Daemon,
    placed: list[PlacedOrder],
    plays: dict[str, StorefrontPlay],
    provider: ProviderPlay,
    bundles: Bundles,
) -> Report:
    """The report (:func:`~daemon.demo_report.build_report`) on the shop ``daemon`` runs, once
    settled (:func:`settle`); ``bundles`` are those the storefronts sell."""
    return build_report(
        placed,
        daemon.hub.pool,
        plays,
        provider.orders(),
        provider.sellable(),
        {c.name: c.config.safety_threshold for c in daemon.config.enabled_channels},
        sum(n for (_, reason), n in daemon.hub.pool.held().items() if reason == "oversell"),
        held_tracking(await daemon.held_writes()),
        bundles,
    )


async def catalogs_synced(
    plays: dict[str, StorefrontPlay], provider: ProviderPlay, bundles: Bundles, out: TextIO
) -> None:
    """Wait (a little) until the provider lists every SKU the storefronts sell but
    ``bundles`` (the warehouse picks their components): it is seeded with the shared catalog,
    and the daemon creates what it lacks."""
    print("starting: checking the storefronts' catalogs at the fulfillment provider...", file=out)
    wanted = {sku for play in plays.values() for sku in play.listed_skus()}
    wanted -= bundles.keys()
    with trio.move_on_after(SETTLE_SECONDS):
        while not wanted <= provider.sellable().keys():
            await trio.sleep(0.2)


def _sync_all(daemon: Daemon, only: dict[str, tuple[str, ...]] | None = None) -> None:
    for slot in daemon.supervisor.slots():
        streams = slot.channel.streams if only is None else only.get(slot.name, ())
        for stream in streams:
            slot.send.send_nowait(SyncNow(stream))


async def settle(daemon: Daemon, within: float = SETTLE_SECONDS) -> bool:
    """Read every stream of every channel once more, twice (the second read sees what the
    first one's writes changed, and the provider's stock after its orders), until quiet;
    False if that took longer than ``within`` seconds."""
    with trio.move_on_after(within):
        for _ in range(2):
            _sync_all(daemon)
            await trio.sleep(0.5)
            while not await daemon.quiet():
                await trio.sleep(0.2)
        return True
    return False


async def _stop_on_signal(signals: Any, stop: trio.Event) -> None:
    async for _ in signals:
        stop.set()
        return


async def _view(
    daemon: Daemon,
    metrics_url: str,
    shoppers: Shoppers,
    warehouse: Warehouse,
    out: TextIO,
) -> None:
    """Redraw the state of every channel once a second (on a terminal), or print it every
    five seconds (to a file or pipe)."""
    tty = out.isatty()
    started = trio.current_time()
    while True:
        lines = _view_lines(daemon, metrics_url, shoppers, warehouse, trio.current_time() - started)
        out.write(("\x1b[H\x1b[2J" if tty else "") + "\n".join(lines) + "\n")
        out.flush()
        await trio.sleep(1.0 if tty else 5.0)


def _view_lines(
    daemon: Daemon, metrics_url: str, shoppers: Shoppers, warehouse: Warehouse, elapsed: float
) -> list[str]:
    registry = daemon.metrics.registry

    def records(channel: str, stream: str, direction: str) -> float:
        labels = {"channel": channel, "stream": stream, "direction": direction}
        return registry.get_sample_value("shelfsync_records_synced_total", labels) or 0.0

    now = datetime.now(UTC)
    held = daemon.hub.pool.held()
    lines = [
        f"shelfsync demo  {elapsed:4.0f}s   metrics: {metrics_url}/metrics   (Ctrl-C ends it)",
        "",
        f"  {'channel':<8} {'state':<9} {'read':>6} {'written':>7} {'held':>5} {'lag':>7}",
    ]
    for slot in daemon.supervisor.slots():
        stats = slot.actor.statistics() if slot.actor else None
        # Lag: how long since the channel last finished reading any of its streams.
        synced = [s.last_success_at for s in (stats.streams if stats else []) if s.last_success_at]
        lag = (now - max(synced)).total_seconds() if synced else 0.0
        read = sum(records(slot.name, stream, "in") for stream in slot.channel.streams)
        written = sum(records(slot.name, kind, "out") for kind in slot.channel.spec.writes)
        state = "paused" if stats and stats.paused else str(slot.state)
        mine = sum(n for (channel, _), n in held.items() if channel == slot.name)
        lines.append(
            f"  {slot.name:<8} {state:<9} {read:>6.0f} {written:>7.0f} {mine:>5} {lag:>6.1f}s"
        )
    reasons: dict[str, int] = {}
    for (_, reason), count in held.items():
        reasons[reason] = reasons.get(reason, 0) + count
    lines += [
        "",
        f"  orders placed {len(shoppers.placed)}, shipments sent {warehouse.shipped}, "
        f"restocks {warehouse.received}",
        "  held: " + (", ".join(f"{n} {r}" for r, n in sorted(reasons.items())) or "none"),
    ]
    return lines
