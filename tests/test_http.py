"""The HTTP side of an in-process daemon over real loopback HTTP: health, readiness, webhooks."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import msgspec
import pytest
import trio

from daemon.app import Daemon
from daemon.config import load_config
from daemon.supervisor import ChannelState
from tests.daemon_process import child_env
from tests.helpers import TOKEN, fake_channel_table, toml_config


class Running(msgspec.Struct):
    daemon: Daemon
    url: str
    state: Path


async def start_daemon(
    tmp_path: Path, nursery: trio.Nursery, channels: list[dict[str, object]], **daemon: object
) -> Running:
    config_path = tmp_path / "shelfsync.toml"
    settings = {
        "state": f"sqlite:///{tmp_path}/state.db",
        "listen": "127.0.0.1:0",
        "control_socket": str(tmp_path / "control.sock"),
        "webhook_max_bytes": 1024,
        "plugins": ["tests.fakeplatform"],
        **daemon,
    }
    config_path.write_text(toml_config(settings, channels))
    config = load_config(config_path, environ=child_env())
    process = Daemon(config)
    urls = await nursery.start(process.run)
    return Running(daemon=process, url=urls[0], state=tmp_path / "state.db")


@pytest.fixture
async def running(tmp_path: Path, nursery: trio.Nursery) -> AsyncIterator[Running]:
    channels = [fake_channel_table("shop1"), fake_channel_table("off", enabled=False)]
    started = await start_daemon(tmp_path, nursery, channels)
    yield started
    started.daemon.request_stop()


def inbox_rows(state: Path) -> list[tuple[str, str, bytes]]:
    with sqlite3.connect(state) as db:
        return db.execute(
            "SELECT channel, topic, body FROM inbox WHERE source = 'webhook'"
        ).fetchall()


def signed(body: bytes, signature: str = TOKEN) -> dict[str, object]:
    return {"content": body, "headers": {"X-Fake-Signature": signature}}


async def test_health_readiness_and_metrics(running: Running) -> None:
    async with httpx.AsyncClient(base_url=running.url) as client:
        assert (await client.get("/healthz")).status_code == 200
        ready = await client.get("/readyz")
        assert (ready.status_code, ready.text) == (200, "ready\n")
        metrics = (await client.get("/metrics")).text
        assert 'shelfsync_channel_up{channel="shop1"} 1.0' in metrics
        assert "shelfsync_build_info{" in metrics
        assert (await client.get("/nope")).status_code == 404


async def test_readyz_names_a_channel_that_is_not_running(
    tmp_path: Path, nursery: trio.Nursery
) -> None:
    channels = [
        fake_channel_table("good"),
        fake_channel_table("broken", settings={"crash_on_read": True}),
    ]
    running = await start_daemon(tmp_path, nursery, channels, max_restarts=0)
    slot = running.daemon.supervisor.slot("broken")
    assert slot is not None
    await slot.wait_state(ChannelState.FAILED)
    async with httpx.AsyncClient(base_url=running.url) as client:
        ready = await client.get("/readyz")
        metrics = (await client.get("/metrics")).text
    assert ready.status_code == 503
    assert ready.text.startswith("broken is failed (RuntimeError: fake platform exploded reading")
    assert 'shelfsync_channel_up{channel="broken"} 0.0' in metrics
    assert 'shelfsync_channel_up{channel="good"} 1.0' in metrics
    running.daemon.request_stop()


async def test_webhook_is_verified_persisted_then_acknowledged(running: Running) -> None:
    body = b'{"id": "wh-1", "topic": "orders"}'
    async with httpx.AsyncClient(base_url=running.url) as client:
        accepted = await client.post("/webhooks/shop1", **signed(body))  # type: ignore[arg-type]
        assert (accepted.status_code, accepted.text) == (200, "")
        assert inbox_rows(running.state) == [("shop1", "orders", body)]

        again = await client.post("/webhooks/shop1", **signed(body))  # type: ignore[arg-type]
        assert (again.status_code, again.text) == (200, "duplicate\n")
        assert len(inbox_rows(running.state)) == 1


async def test_bad_signatures_are_rejected_and_nothing_is_stored(running: Running) -> None:
    body = b'{"id": "wh-2", "topic": "orders"}'
    async with httpx.AsyncClient(base_url=running.url) as client:
        wrong = await client.post("/webhooks/shop1", **signed(body, "forged"))  # type: ignore[arg-type]
        missing = await client.post("/webhooks/shop1", content=body)
        metrics = (await client.get("/metrics")).text
    assert wrong.status_code == missing.status_code == 401
    assert inbox_rows(running.state) == []
    assert 'shelfsync_webhooks_received_total{channel="shop1",result="rejected"} 2.0' in metrics


async def test_the_verifier_sees_the_request_target_as_the_path_pseudo_header(
    running: Running,
) -> None:
    # A platform that signs nothing is authenticated by a secret in its target URL: the
    # verifier finds it in ":path" (path and query as received).
    body = b'{"id": "wh-5", "topic": "orders"}'
    async with httpx.AsyncClient(base_url=running.url) as client:
        accepted = await client.post(f"/webhooks/shop1?signature={TOKEN}", content=body)
        forged = await client.post("/webhooks/shop1?signature=forged", content=body)
    assert (accepted.status_code, forged.status_code) == (200, 401)
    assert inbox_rows(running.state) == [("shop1", "orders", body)]


async def test_unknown_channel_oversized_body_and_wrong_method(running: Running) -> None:
    body = b'{"id": "wh-3", "topic": "orders"}'
    async with httpx.AsyncClient(base_url=running.url) as client:
        assert (await client.post("/webhooks/nosuch", **signed(body))).status_code == 404  # type: ignore[arg-type]
        assert (await client.post("/webhooks/off", **signed(body))).status_code == 404  # type: ignore[arg-type]
        too_big = b'{"id": "wh-4", "topic": "' + b"x" * 2000 + b'"}'
        assert (await client.post("/webhooks/shop1", **signed(too_big))).status_code == 413  # type: ignore[arg-type]

        async def chunks() -> AsyncIterator[bytes]:
            for _ in range(5):
                yield b"x" * 300

        streamed = await client.post(
            "/webhooks/shop1", content=chunks(), headers={"X-Fake-Signature": TOKEN}
        )
        assert streamed.status_code == 413
        assert (await client.get("/webhooks/shop1")).status_code == 405
    assert inbox_rows(running.state) == []


async def test_authentic_webhook_of_the_wrong_shape_is_held_not_stored(running: Running) -> None:
    body = b'{"id": 7}'
    async with httpx.AsyncClient(base_url=running.url) as client:
        answer = await client.post("/webhooks/shop1", **signed(body))  # type: ignore[arg-type]
    assert answer.status_code == 200
    assert answer.text.startswith("held for review: webhook body: Expected `str`, got `int`")
    assert inbox_rows(running.state) == []
    with sqlite3.connect(running.state) as db:
        held = db.execute("SELECT channel, reason, payload FROM exceptions").fetchall()
    assert held == [("shop1", "schema", body)]
