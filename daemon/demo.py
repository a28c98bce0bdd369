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
from connectors.sandbox_play import ProviderPlay, StorefrontPlay
from connectors.sandbox_server import SandboxOptions, serve_app
from connectors.shipbob import sandbox as shipbob_sandbox
from connectors.shipbob.sandbox_play import ShipBobPlay
from connectors.shipbob.sandbox_state import SANDBOX_TOKEN
from connectors.shopify import sandbox as shopify_sandbox
from connectors.shopify.sandbox_play import ShopifyPlay
from connectors.shopify.sandbox_state import LOCATION_ID
from daemon.app import Daemon
from daemon.config import load_config
from daemon.demo_play import Shoppers, Warehouse
from daemon.demo_report import build_report, render
from daemon.logs import configure_logging

SHIPBOB_SECRET = "whsec_" + "c2hlbGZzeW5jZGVtb3NoZWxmc3luY2RlbW8"[:32]
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


class Storefront(msgspec.Struct):
    """One storefront channel of the demo: its sandbox, served, and its config table."""

    name: str
    play: StorefrontPlay
    table: dict[str, Any]


def run_demo(options: DemoOptions, out: TextIO = sys.stdout) -> int:
    """Run the demo to its report; 0 if consistent, 1 if not."""
    return trio.run(_demo, options, out)


async def _demo(options: DemoOptions, out: TextIO) -> int:
    rng = random.Random(options.seed)
    with tempfile.TemporaryDirectory(prefix="shelfsync-demo-") as folder:
        workdir = Path(folder)
        with (workdir / "shelfsync.log").open("w") as log:
            configure_logging("info", log)
            async with trio.open_nursery() as nursery:
                stop = trio.Event()
                stores, provider, provider_table = await _serve_sandboxes(nursery, stop, options)
                config_path = workdir / "shelfsync.toml"
                config_path.write_text(_config(workdir, stores, provider_table))
                daemon = Daemon(load_config(config_path, environ=_ENVIRON))
                urls: list[str] = await nursery.start(daemon.run)
                async with httpx.AsyncClient(timeout=10.0) as http:
                    code = await _play(daemon, urls[0], stores, provider, http, rng, options, out)
                daemon.request_stop()
                stop.set()
        return code


async def _serve_sandboxes(
    nursery: trio.Nursery, stop: trio.Event, options: DemoOptions
) -> tuple[list[Storefront], ShipBobPlay, dict[str, Any]]:
    stores = []
    # Two Shopify shops from one seed list the same catalog: storefronts sharing one pool.
    for name in ("web", "outlet"):
        app = shopify_sandbox.create_app(SandboxOptions(seed=options.seed, catalog=options.catalog))
        url = await serve_app(nursery, app, "127.0.0.1", 0, stop)
        shop = url.removeprefix("http://")
        stores.append(
            Storefront(
                name=name,
                play=ShopifyPlay(app, shop, url),
                table={
                    "platform": "shopify",
                    "credentials": {"token": "env:SHOP_TOKEN", "webhook_secret": "env:SHOP_SECRET"},
                    "schedule": {"orders": "2s", "products": "1m"},
                    "settings": {
                        "shop": shop,
                        "scheme": "http",
                        "location_id": f"gid://shopify/Location/{LOCATION_ID}",
                    },
                },
            )
        )
    fc = shipbob_sandbox.create_app(SandboxOptions(seed=options.seed, catalog=0))
    fc_url = await serve_app(nursery, fc, "127.0.0.1", 0, stop)
    provider_table = {
        "platform": "shipbob",
        "credentials": {"token": "env:FC_TOKEN", "webhook_secret": "env:FC_SECRET"},
        "schedule": {"shipments": "2s", "inventory": "3s"},
        "settings": {"channel_id": fc.state.channel_id, "base_url": fc_url},
    }
    return stores, ShipBobPlay(fc, fc_url), provider_table


_ENVIRON = {
    "SHOP_TOKEN": "shpat_sandbox",
    "SHOP_SECRET": "sandbox-webhook-secret",
    "FC_TOKEN": SANDBOX_TOKEN,
    "FC_SECRET": SHIPBOB_SECRET,
}
_SHIP_METHODS = {"Standard": {"ship_option": "Ground"}, "Express": {"ship_option": "2-Day"}}


def _config(workdir: Path, stores: list[Storefront], provider: dict[str, Any]) -> str:
    lines = [
        "[daemon]",
        f'state = "sqlite:///{workdir}/state.db"',
        'listen = "127.0.0.1:0"',
        f'control_socket = "{workdir}/control.sock"',
        'sqlite_synchronous = "normal"',
        "",
    ]
    tables = [(s.name, {**s.table, "ship_methods": _SHIP_METHODS}) for s in stores]
    for name, table in [*tables, ("fc", provider)]:
        lines += ["[[channels]]", f'name = "{name}"']
        lines += [f"{key} = {_toml(value)}" for key, value in table.items() if key != "settings"]
        lines += ["[channels.settings]"]
        lines += [f"{key} = {_toml(value)}" for key, value in table["settings"].items()]
        lines.append("")
    return "\n".join(lines)


def _toml(value: Any) -> str:
    if isinstance(value, dict):
        return "{ " + ", ".join(f'"{k}" = {_toml(v)}' for k, v in value.items()) + " }"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


async def _play(
    daemon: Daemon,
    metrics_url: str,
    stores: list[Storefront],
    provider: ShipBobPlay,
    http: httpx.AsyncClient,
    rng: random.Random,
    options: DemoOptions,
    out: TextIO,
) -> int:
    plays = {s.name: s.play for s in stores}
    await _stock_the_warehouse(daemon, stores, provider, http, rng, out)
    shoppers = Shoppers(plays, http, rng, options.orders_per_second)
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
    settled = await _settle(daemon)
    report = build_report(
        shoppers.placed,
        daemon.hub.pool,
        plays,
        provider.orders(),
        provider.sellable(),
        {c.name: c.config.safety_threshold for c in daemon.config.enabled_channels},
        sum(n for (_, reason), n in daemon.hub.pool.held().items() if reason == "oversell"),
    )
    out.write(render(report))
    if not settled:
        out.write(f"  (the shop did not settle within {SETTLE_SECONDS:g}s)\n")
    return 0 if report.consistent and settled else 1


async def _stock_the_warehouse(
    daemon: Daemon,
    stores: list[Storefront],
    provider: ProviderPlay,
    http: httpx.AsyncClient,
    rng: random.Random,
    out: TextIO,
) -> None:
    """Wait for the stores' products to reach the provider's catalog, then receive stock for
    each (a few SKUs near zero, to show oversells and the threshold at work)."""
    print("starting: syncing the storefronts' catalogs to the fulfillment provider...", file=out)
    wanted = {sku for store in stores for sku in store.play.listed_skus()}
    with trio.move_on_after(SETTLE_SECONDS):
        while not wanted <= provider.sellable().keys():
            await trio.sleep(0.2)
    for sku in sorted(provider.sellable()):
        await provider.receive(http, sku, rng.choice((1, 2, 3)) if rng.random() < 0.2 else 40)
    _sync_all(daemon, {"fc": ("inventory",)})


def _sync_all(daemon: Daemon, only: dict[str, tuple[str, ...]] | None = None) -> None:
    for slot in daemon.supervisor.slots():
        streams = slot.channel.streams if only is None else only.get(slot.name, ())
        for stream in streams:
            slot.send.send_nowait(SyncNow(stream))


async def _settle(daemon: Daemon) -> bool:
    """Read every stream of every channel once more, twice (the second read sees what the
    first one's writes changed, and the provider's stock after its orders), until quiet."""
    with trio.move_on_after(SETTLE_SECONDS):
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
        synced = [s.last_success_at for s in (stats.streams if stats else []) if s.last_success_at]
        lag = (now - min(synced)).total_seconds() if synced else 0.0
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
