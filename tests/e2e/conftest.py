"""A whole daemon in-process against platform sandboxes, reached through httpx's ASGI transport.

:class:`Sandboxes` routes each request by host to a sandbox app and records every exchange;
:func:`until` waits, without sleeping, for a condition to hold: it re-checks whenever a
sandbox answered a request, an actor ended a unit of work, or the hub took a step.

The ``shop`` fixture runs the daemon over the ``storefronts`` fixture's stores
(:mod:`tests.e2e.storefronts`) and ShipBob as ``fc``; a test module overrides
``storefronts`` to make its shop of other platforms, or calls :func:`running_shop`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest
import trio

from actors.channel import ChannelActor
from connectors.sandbox_server import SandboxOptions
from connectors.shipbob import sandbox as shipbob_sandbox
from connectors.shipbob.sandbox_state import SANDBOX_TOKEN
from daemon.app import Daemon
from daemon.config import load_config
from tests.e2e.storefronts import SEED, ShopifyStore, Storefront
from tests.helpers import toml_value

SHIPBOB_HOST = "shipbob.test"
SHIPBOB_SECRET = "whsec_" + "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNk"[:32]


class Exchange(msgspec.Struct, frozen=True):
    method: str
    host: str
    path: str
    status: int
    body: bytes


class Sandboxes(httpx.AsyncBaseTransport):
    """Routes by host to ASGI apps; remembers every exchange and signals each one."""

    def __init__(self, apps: dict[str, Any]) -> None:
        self._routes = {host: httpx.ASGITransport(app=app) for host, app in apps.items()}
        self.exchanges: list[Exchange] = []
        self.changed = trio.Event()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self._routes[request.url.host].handle_async_request(request)
        self.exchanges.append(
            Exchange(
                request.method,
                request.url.host,
                request.url.path,
                response.status_code,
                request.content,
            )
        )
        self.changed.set()
        self.changed = trio.Event()
        return response

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=self, timeout=10.0)

    def calls(self, method: str, path: str) -> list[Exchange]:
        return [e for e in self.exchanges if (e.method, e.path) == (method, path)]


class Shop(msgspec.Struct):
    """A running daemon with its storefronts (the first is the default) and ShipBob ``fc``."""

    daemon: Daemon
    stores: dict[str, Storefront]
    """Channel name → the storefront, in the order the shop was made."""
    shipbob: Any
    net: Sandboxes
    http: httpx.AsyncClient
    config_path: Path
    tables: dict[str, Any]

    def store(self, channel: str | None = None) -> Storefront:
        """The storefront ``channel``, or the shop's first one."""
        return self.stores[channel] if channel is not None else next(iter(self.stores.values()))

    def actor(self, channel: str) -> ChannelActor:
        slot = self.daemon.supervisor.slot(channel)
        assert slot is not None and slot.actor is not None
        return slot.actor

    def last_success(self, channel: str, stream: str) -> datetime | None:
        streams = self.actor(channel).statistics().streams
        return next(s.last_success_at for s in streams if s.stream == stream)

    async def sync(self, channel: str, stream: str) -> None:
        """Sync one stream now and wait until the run and what the hub made of it are done."""
        with trio.fail_after(10):
            await self.daemon.sync_and_settle(channel, stream)

    async def until(self, check: Callable[[], bool | Awaitable[bool]], seconds: float = 10) -> None:
        await until(self, check, seconds)

    async def rewrite_config(self, channel: str | None = None, **changes: Any) -> None:
        """Change a channel's table (the first storefront's by default) and reload, as an
        operator's SIGHUP would."""
        name = self.store(channel).channel if channel is None else channel
        self.tables[name] = {**self.tables[name], **changes}
        self.config_path.write_text(config_text(self.tables))
        assert await self.daemon.reload()


async def until(shop: Shop, check: Callable[[], bool | Awaitable[bool]], seconds: float) -> None:
    with trio.fail_after(seconds):
        while True:
            result = check()
            if result if isinstance(result, bool) else await result:
                return
            events = [shop.net.changed, shop.daemon.hub.changed]
            events += [slot.actor.worked for slot in shop.daemon.supervisor.slots() if slot.actor]
            async with trio.open_nursery() as nursery:
                for event in events:
                    nursery.start_soon(_cancel_when_set, event, nursery.cancel_scope)


async def _cancel_when_set(event: trio.Event, scope: trio.CancelScope) -> None:
    await event.wait()
    scope.cancel()


def config_text(tables: dict[str, Any]) -> str:
    lines: list[str] = []
    for section, table in tables.items():
        if isinstance(table, list):  # an array of tables, such as [[bundles]]
            for entry in table:
                lines += [f"[[{section}]]", *(f"{k} = {toml_value(v)}" for k, v in entry.items())]
            lines.append("")
            continue
        channel = "platform" in table
        if channel:
            lines.append("[[channels]]")
        else:
            lines.append(f"[{section}]")
        nested = {k: v for k, v in table.items() if isinstance(v, dict) and k != "credentials"}
        lines += [f"{k} = {toml_value(v)}" for k, v in table.items() if k not in nested]
        for key, value in nested.items():
            prefix = "channels." if channel else f"{section}."
            lines.append(f"[{prefix}{key}]")
            lines += [f"{toml_value(k)} = {toml_value(v)}" for k, v in value.items()]
        lines.append("")
    return "\n".join(lines)


def tables(tmp_path: Path, stores: Sequence[Storefront], shipbob_channel_id: int) -> dict[str, Any]:
    layout: dict[str, Any] = {
        "daemon": {
            "state": f"sqlite:///{tmp_path}/state.db",
            "listen": "127.0.0.1:0",
            "control_socket": str(tmp_path / "control.sock"),
        },
        # Often, so that a test sees a reconcile correct a store within its bounds.
        "inventory": {"reconcile": "2s"},
    }
    layout |= {store.channel: store.table() for store in stores}
    layout["fc"] = {
        "name": "fc",
        "platform": "shipbob",
        "credentials": {"token": "env:FC_TOKEN", "webhook_secret": "env:FC_SECRET"},
        "settings": {"channel_id": shipbob_channel_id, "base_url": f"http://{SHIPBOB_HOST}"},
    }
    return layout


SHIPBOB_ENVIRON = {"FC_TOKEN": SANDBOX_TOKEN, "FC_SECRET": SHIPBOB_SECRET}


@asynccontextmanager
async def running_shop(
    tmp_path: Path,
    nursery: trio.Nursery,
    stores: Sequence[Storefront],
    pool_tables: Mapping[str, Any] | None = None,
    shipbob: shipbob_sandbox.SandboxApp | None = None,
    shipbob_table: Mapping[str, Any] | None = None,
) -> AsyncIterator[Shop]:
    """The daemon over ``stores`` (each on its own sandbox; sandboxes of one platform share
    the seed, so the same catalog and one pool) and ``shipbob`` (an empty ShipBob sandbox
    unless given) as channel ``fc``, whose table ``shipbob_table`` adds to (``streams``);
    ``pool_tables`` are added to the config's top level (``bundles``, ``inventory``). The
    daemon is asked to stop when the block ends; it has stopped once ``nursery`` has closed,
    and the same stores, ShipBob and ``tmp_path`` then start it again on the same state."""
    if shipbob is None:
        shipbob = shipbob_sandbox.create_app(SandboxOptions(seed=SEED, catalog=0))
    net = Sandboxes({SHIPBOB_HOST: shipbob} | {store.host: store.app for store in stores})
    async with net.client() as http:
        for store in stores:
            await store.connect(http)
        layout = tables(tmp_path, stores, shipbob.state.channel_id) | dict(pool_tables or {})
        layout["fc"] |= shipbob_table or {}
        config_path = tmp_path / "shelfsync.toml"
        config_path.write_text(config_text(layout))
        environ = SHIPBOB_ENVIRON | {k: v for s in stores for k, v in s.environ().items()}
        daemon = Daemon(load_config(config_path, environ=environ), http_client=net.client)
        # Reloads read the same variables: the daemon resolves credentials from os.environ.
        with pytest.MonkeyPatch.context() as patch:
            for name, value in environ.items():
                patch.setenv(name, value)
            await nursery.start(daemon.run)
            by_channel = {store.channel: store for store in stores}
            yield Shop(daemon, by_channel, shipbob, net, http, config_path, layout)
            daemon.request_stop()


@pytest.fixture
def storefronts() -> list[Storefront]:
    """The shop's storefronts: one Shopify store, ``web``. A test module overrides this
    fixture to make its shop of other platforms."""
    return [ShopifyStore("web")]


@pytest.fixture
def pool_tables() -> dict[str, Any]:
    """Top-level config tables of the shop (none by default); a test module overrides this
    fixture to declare bundles."""
    return {}


@pytest.fixture
async def shop(
    tmp_path: Path,
    nursery: trio.Nursery,
    storefronts: list[Storefront],
    pool_tables: dict[str, Any],
) -> AsyncIterator[Shop]:
    """The daemon running over ``storefronts`` and ShipBob."""
    async with running_shop(tmp_path, nursery, storefronts, pool_tables) as running:
        yield running
