"""Webhook ingest under a flash sale: ``python -m bench.ingest`` (``--quick`` for a short run).

The daemon runs as ``shelfsync run`` in a child process with one Shopify channel, connected
to a Shopify sandbox served in this process, and its default store settings (every commit
synchronous). A separate process (:mod:`bench.webhook_sender`) sends signed ``orders/create``
webhooks to it over loopback as fast as it answers, for a bounded time. Then the daemon is
killed with SIGKILL and its state file read: a webhook that was acknowledged (200) but is not
in the durable inbox is lost.

Figures: accepted webhooks a second, the time to acknowledge one (from the sender's first
byte to the answer), deliveries refused or left unanswered, and lost ones; and the CPU time
the daemon and the sender used, since on a shared machine accepted webhooks per CPU second
of the daemon says more about its cost than the wall-clock rate.
"""

from __future__ import annotations

import sqlite3
import sys
import tempfile
from pathlib import Path
from typing import Any

import msgspec
import trio

from bench.propagation import percentile_ms
from bench.report import base_parser, cpu_seconds, emit
from bench.webhook_sender import SECRET_VARIABLE, Delivery
from connectors.sandbox_server import SandboxOptions, serve_app
from connectors.shopify.sandbox_play import demo_storefront
from tests.chaos.harness import HOST, free_port
from tests.daemon_process import DaemonProcess, child_env
from tests.helpers import daemon_table, toml_config

CHANNEL = "web"


class Options(msgspec.Struct, frozen=True):
    seconds: float = 30.0
    connections: int = 16
    """Deliveries in flight at once (the sender's connections)."""


QUICK = Options(seconds=10.0)


async def measure(options: Options, workdir: Path) -> dict[str, Any]:
    """One flash sale against a fresh daemon and state in ``workdir``: its figures."""
    async with trio.open_nursery() as nursery:
        stop = trio.Event()
        made = demo_storefront(SandboxOptions())
        played = made.played(await serve_app(nursery, made.app, HOST, 0, stop))
        port = free_port()
        config = workdir / "shelfsync.toml"
        variables = {name: f"SHELFSYNC_BENCH_{name.upper()}" for name in played.secrets}
        channel = {
            "name": CHANNEL,
            "platform": "shopify",
            "credentials": {name: f"env:{variable}" for name, variable in variables.items()},
            "schedule": {"orders": "1h", "products": "1h"},
            "settings": played.settings,
        }
        config.write_text(toml_config(daemon_table(workdir, f"{HOST}:{port}"), [channel]))
        environ = {variables[name]: value for name, value in played.secrets.items()}
        daemon = await DaemonProcess.start(config, environ=environ)
        deliveries = workdir / "deliveries.jsonl"
        async with trio.open_nursery() as following:
            following.start_soon(daemon.follow)
            print(f"sending webhooks for {options.seconds:g}s", file=sys.stderr)
            cpu_before = cpu_seconds(daemon.process.pid)
            sender = await trio.run_process(
                [
                    sys.executable,
                    "-m",
                    "bench.webhook_sender",
                    f"--url=http://{HOST}:{port}/webhooks/{CHANNEL}",
                    f"--seconds={options.seconds}",
                    f"--connections={options.connections}",
                    f"--out={deliveries}",
                ],
                env=child_env(**{SECRET_VARIABLE: played.secrets["webhook_secret"]}),
                capture_stdout=True,
            )
            daemon_cpu = cpu_seconds(daemon.process.pid) - cpu_before
            daemon.kill()  # no shutdown: what was acknowledged must be on disk already
            await daemon.process.wait()
            following.cancel_scope.cancel()
        stop.set()
    answered = [
        msgspec.json.decode(line, type=Delivery) for line in deliveries.read_text().splitlines()
    ]
    figures = _figures(options, answered, _inbox_orders(workdir / "state.db"))
    return figures | {
        "daemon_cpu_s": round(daemon_cpu, 2),
        "webhooks_per_cpu_s": round(figures["acknowledged"] / daemon_cpu, 1),
        "sender_cpu_s": float(sender.stdout),
    }


def _inbox_orders(state: Path) -> set[int]:
    """The order id in the body of every webhook in the channel's inbox."""
    db = sqlite3.connect(state)
    try:
        rows = db.execute(
            "SELECT body FROM inbox WHERE channel = ? AND source = 'webhook'", (CHANNEL,)
        ).fetchall()
    finally:
        db.close()
    return {msgspec.json.decode(body)["id"] for (body,) in rows}


def _figures(options: Options, answered: list[Delivery], stored: set[int]) -> dict[str, Any]:
    accepted = [d for d in answered if d.status == 200]
    acknowledged = {d.order_id for d in accepted}
    seconds = sorted(d.seconds for d in accepted)
    return {
        "seconds": options.seconds,
        "connections": options.connections,
        "sent": len(answered),
        "acknowledged": len(accepted),
        "refused": sum(1 for d in answered if d.status not in (200, None)),
        "unanswered": sum(1 for d in answered if d.status is None),
        "webhooks_per_s": round(len(accepted) / options.seconds, 1),
        "p50_ack_ms": percentile_ms(seconds, 0.50),
        "p99_ack_ms": percentile_ms(seconds, 0.99),
        "max_ack_ms": round(seconds[-1] * 1000, 1) if seconds else None,
        "lost": len(acknowledged - stored),
    }


def main(argv: list[str] | None = None) -> int:
    parser = base_parser(__doc__ or "")
    parser.add_argument("--seconds", type=float, default=Options().seconds)
    parser.add_argument("--connections", type=int, default=Options().connections)
    args = parser.parse_args(argv)
    if args.quick:
        options = msgspec.structs.replace(QUICK, connections=args.connections)
    else:
        options = Options(seconds=args.seconds, connections=args.connections)
    with tempfile.TemporaryDirectory(prefix="shelfsync-bench-") as folder:
        figures = trio.run(measure, options, Path(folder))
    emit("ingest", figures, args.out)
    return 0 if figures["lost"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
