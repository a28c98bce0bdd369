"""Over real HTTP on loopback: the served sandbox delivers ORDER_NOTIFY to a running daemon,
which takes it by the token in its URL (the ``:path`` the daemon passes to the verifier)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
import trio

from connectors.sandbox_delivery import Attempt
from connectors.sandbox_server import SandboxOptions, serve_app
from connectors.shipstation import webhooks
from connectors.shipstation.sandbox import SANDBOX_KEY, SANDBOX_SECRET, create_app
from connectors.shipstation.sandbox_webhooks import Delivery
from tests.shipstation.conftest import AUTH, STORE_ID, WEBHOOK_SECRET
from tests.test_http import inbox_rows, start_daemon


async def test_the_daemon_takes_a_sandbox_webhook_by_its_url_token(
    tmp_path: Path,
    nursery: trio.Nursery,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("SS_KEY", SANDBOX_KEY)
    monkeypatch.setenv("SS_SECRET", SANDBOX_SECRET)
    monkeypatch.setenv("SS_HOOK", WEBHOOK_SECRET)
    app = create_app(SandboxOptions(seed=4, catalog=10))
    attempted = trio.Event()
    record = app.webhooks.queue.on_attempt

    def on_attempt(delivery: Delivery, attempt: Attempt) -> None:
        record(delivery, attempt)
        if len(app.webhooks.log) == 2:
            attempted.set()

    app.webhooks.queue.on_attempt = on_attempt
    stop = trio.Event()
    sandbox_url = await serve_app(nursery, app, "127.0.0.1", 0, stop)
    channel = {
        "name": "ss",
        "platform": "shipstation",
        "credentials": {
            "api_key": "env:SS_KEY",
            "api_secret": "env:SS_SECRET",
            "webhook_secret": "env:SS_HOOK",
        },
        "settings": {"store_id": STORE_ID, "base_url": sandbox_url},
    }
    running = await start_daemon(tmp_path, nursery, [channel])
    async with httpx.AsyncClient(base_url=sandbox_url, auth=AUTH) as http:
        for token in (WEBHOOK_SECRET, "forged-token-0123456789"):
            target = webhooks.target_url(f"{running.url}/webhooks/ss", token)
            subscribed = await http.post(
                "/webhooks/subscribe", json={"target_url": target, "event": "ORDER_NOTIFY"}
            )
            assert subscribed.status_code == 200
        placed = await http.post("/_sandbox/orders", json={"store_id": STORE_ID})
        assert placed.status_code == 201
        with trio.fail_after(10):
            await attempted.wait()
    assert sorted(d.status for d in app.webhooks.log) == [200, 401]
    [(name, topic, body)] = inbox_rows(running.state)
    assert (name, topic) == ("ss", "ORDER_NOTIFY")
    assert b"importBatch=" in body
    running.daemon.request_stop()
    stop.set()
    logged = capsys.readouterr()
    assert "webhook_rejected" in logged.out + logged.err
    assert WEBHOOK_SECRET not in logged.out + logged.err
