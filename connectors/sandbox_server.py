"""``shelfsync sandbox PLATFORM``: serve one platform's sandbox on loopback until interrupted.

Each platform package with a sandbox has a ``sandbox`` module exporting
``create_app(SandboxOptions) -> ASGI app``; this module finds it by platform name and serves it
with the daemon's own HTTP/1.1 server (:mod:`daemon.http_server`), after starting its ASGI
lifespan, printing ``{"event": "sandbox_serving", "url": ...}`` once bound. :func:`serve_app`
serves any ASGI app that way inside a nursery (tests use it on loopback).
"""

from __future__ import annotations

import contextlib
import importlib
import json
import signal
from typing import Any

import msgspec
import trio

from connectors.sandbox_catalog import SharedCatalog, build_catalog
from daemon.http_server import serve

SANDBOX_PLATFORMS = ("bigcommerce", "shipbob", "shipstation", "shopify", "wix")


class SandboxOptions(msgspec.Struct, frozen=True):
    seed: int = 1
    """Seeds the generated catalog, orders and ids: the same seed gives the same data."""
    catalog: int = 50
    """How many variants the generated catalog has."""
    shared_catalog: bool = False
    """Seed the catalog every platform's sandbox shares (:mod:`connectors.sandbox_catalog`),
    not the platform's own: the same ``seed`` and ``catalog`` then give the same SKUs, names,
    options, weights and barcodes in every storefront, and the same SKUs with their stock at
    the fulfillment provider."""
    bundles: int = 0
    """Bundles the shared catalog adds (:class:`~connectors.sandbox_catalog.CatalogBundle`):
    storefronts list them, the fulfillment provider holds only their components."""

    rate_scale: float = 1.0
    """Multiplies the platform's request limits (a rate window's quota, a cost bucket's
    restore rate), for a load test that is not about them; 1: the platform's numbers. It is
    where the sandbox's ``rate_scale`` fault knob starts (:data:`.sandbox_faults.RateScale`)."""

    def shared(self) -> SharedCatalog | None:
        """The shared catalog of ``seed``, ``catalog`` and ``bundles`` when ``shared_catalog``
        is set; None when the sandbox generates its own."""
        if not self.shared_catalog:
            return None
        return build_catalog(self.seed, self.catalog, self.bundles)


def load_sandbox(platform: str) -> Any:
    """The ``create_app`` of ``platform``'s sandbox; ValueError for an unknown platform."""
    if platform not in SANDBOX_PLATFORMS:
        raise ValueError(
            f"no sandbox for {platform!r}; expected one of: {', '.join(SANDBOX_PLATFORMS)}"
        )
    return importlib.import_module(f"connectors.{platform}.sandbox").create_app


KEEP_ALIVE_SECONDS = 75.0
"""How long a sandbox keeps an idle connection open, as platforms' load balancers do."""


async def serve_app(nursery: trio.Nursery, app: Any, host: str, port: int, stop: trio.Event) -> str:
    """Serve the ASGI ``app`` on ``host:port`` (port 0: the OS picks), in ``nursery`` until
    ``stop`` is set, its lifespan started first and ended last; returns the URL once it is
    listening."""
    await nursery.start(_run_lifespan, app, stop)
    # A platform keeps an idle connection open longer than its clients do (httpx lets one go
    # after 5 s): with equal times, a client reusing a connection just as the server closes
    # it reads from a closed socket.
    urls = await nursery.start(
        lambda task_status: serve(
            app,
            host,
            port,
            grace=0,
            shutdown=stop,
            keep_alive=KEEP_ALIVE_SECONDS,
            task_status=task_status,
        )
    )
    return str(urls[0])


async def _run_lifespan(app: Any, stop: trio.Event, *, task_status: trio.TaskStatus[None]) -> None:
    """Run ``app``'s ASGI lifespan: its startup before ``started``, its shutdown once ``stop``
    is set. An app that has none (it returns or raises at once) is served without."""
    to_app, app_receives = trio.open_memory_channel[dict[str, str]](1)
    app_sends, from_app = trio.open_memory_channel[Any](1)

    async def run() -> None:
        # An app that raises has no lifespan, as ASGI allows.
        with app_sends, contextlib.suppress(Exception):
            scope = {"type": "lifespan", "asgi": {"version": "3.0"}}
            await app(scope, app_receives.receive, app_sends.send)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(run)
        await to_app.send({"type": "lifespan.startup"})
        has_lifespan = await _answered(from_app)
        task_status.started()
        if has_lifespan:
            await stop.wait()
            await to_app.send({"type": "lifespan.shutdown"})
            await _answered(from_app)


async def _answered(from_app: trio.MemoryReceiveChannel[Any]) -> bool:
    """Whether the app answered the lifespan event just sent (False: it ended instead)."""
    try:
        await from_app.receive()
    except trio.EndOfChannel:
        return False
    return True


def serve_sandbox(platform: str, host: str, port: int, options: SandboxOptions) -> int:
    app = load_sandbox(platform)(options)

    async def main() -> None:
        stop = trio.Event()
        async with trio.open_nursery() as nursery:
            url = await serve_app(nursery, app, host, port, stop)
            print(
                json.dumps({"event": "sandbox_serving", "platform": platform, "url": url}),
                flush=True,
            )
            with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
                async for _ in signals:
                    stop.set()
                    break

    trio.run(main)
    return 0
