"""Shared test helpers: a recording call gate, a sandbox webhook sender run in-process, channels
of the fake platform, and config files written as TOML."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import trio

from connectors.base import CallReport, ConnectorContext, RateSignal
from daemon.config import Channel, ChannelConfig
from daemon.credentials import Secret
from daemon.durations import Duration
from tests import fakeplatform

REPO_ROOT = Path(__file__).resolve().parent.parent
TOKEN = "fake-token-0123456789"


class RecordingGate:
    """A CallGate that lets every call through, remembers what it was told of each (it is
    every call's report), and can run a step before a given call (how a test changes a
    platform between two calls of a write)."""

    def __init__(self) -> None:
        self.costs: list[float] = []
        """The cost of each call, in order."""
        self.signals: list[RateSignal] = []
        self.before: dict[int, Callable[[], None]] = {}
        """Call number (1-based) → a step to run just before that call."""

    @property
    def calls(self) -> int:
        return len(self.costs)

    @asynccontextmanager
    async def call(self, cost: float = 1.0) -> AsyncIterator[CallReport]:
        await self.let_through(cost)
        yield self

    async def let_through(self, cost: float) -> None:
        self.costs.append(cost)
        step = self.before.pop(self.calls, None)
        if step is not None:
            step()

    def observe(self, signal: RateSignal) -> None:
        self.signals.append(signal)


class RecordingPlatform:
    """The fake platform, remembering every connector it creates (one per actor start)."""

    def __init__(self) -> None:
        self.connectors: list[fakeplatform.FakeConnector] = []
        self.spec = dataclasses.replace(fakeplatform.CONNECTOR, create=self._create)

    def _create(self, context: ConnectorContext) -> fakeplatform.FakeConnector:
        connector = fakeplatform.FakeConnector(context)
        self.connectors.append(connector)
        return connector

    @property
    def reads(self) -> list[str]:
        return [stream for c in self.connectors for stream in c.reads]

    def channel(
        self,
        name: str,
        *,
        schedule: dict[str, str] | None = None,
        write_attempts: int = 10,
        **settings: Any,
    ) -> Channel:
        config = ChannelConfig(
            name=name,
            platform="fake",
            schedule={k: Duration(v) for k, v in (schedule or {}).items()},
            retry_backoff=Duration("1s"),
            retry_backoff_max=Duration("8s"),
            write_attempts=write_attempts,
        )
        return Channel(
            config=config,
            spec=self.spec,
            settings=fakeplatform.FakeSettings(**settings),
            secrets={"token": Secret(TOKEN)},
        )


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {toml_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(value)


def toml_config(daemon: dict[str, Any], channels: list[dict[str, Any]]) -> str:
    lines = ["[daemon]", *(f"{k} = {toml_value(v)}" for k, v in daemon.items())]
    for channel in channels:
        lines += ["", "[[channels]]", *(f"{k} = {toml_value(v)}" for k, v in channel.items())]
    return "\n".join(lines) + "\n"


def daemon_table(workdir: Path, listen: str, **settings: Any) -> dict[str, Any]:
    """A ``[daemon]`` table whose state file and control socket are in ``workdir``, serving
    HTTP on ``listen``, with the other ``settings`` given."""
    return {
        "state": f"sqlite:///{workdir}/state.db",
        "listen": listen,
        "control_socket": str(workdir / "control.sock"),
        **settings,
    }


def fake_channel_table(name: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "platform": "fake", "credentials": {"token": "env:FAKE_TOKEN"}, **extra}


@asynccontextmanager
async def delivering_to(app: Any, receiver: Any) -> AsyncIterator[trio.Nursery]:
    """Run the sandbox ``app``'s webhook sender (its ``run_webhooks``), delivering to the ASGI
    ``receiver`` in-process, for the block; the nursery is yielded so that the block can stop
    the sender by cancelling it."""
    async with (
        httpx.AsyncClient(transport=httpx.ASGITransport(app=receiver)) as outbound,
        trio.open_nursery() as nursery,
    ):
        await nursery.start(app.run_webhooks, outbound)
        yield nursery
