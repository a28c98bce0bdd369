"""The real daemon, as a child process, with a channel of every platform on its sandbox: no
credential value (nor its base64, nor its URL-encoding) appears in anything it prints or
answers, through a sync, forged webhooks, a rejected reload and a status request."""

from __future__ import annotations

import base64
import json
import signal
import urllib.parse
from pathlib import Path

import httpx
import trio

from connectors.sandbox_server import serve_app
from tests.daemon_process import DaemonProcess, ctl
from tests.five_platforms import channel_table, platform_channels, variable
from tests.helpers import toml_config


def disguises(secret: str) -> set[str]:
    """The forms a leaked secret would take: itself, base64, URL-encoded, JSON-escaped, and
    each long line of a multi-line value (a PEM key) on its own. (ShipStation's base64 of
    ``key:secret`` is checked as a pair.)"""
    forms = {secret, base64.b64encode(secret.encode()).decode(), urllib.parse.quote(secret)}
    forms.add(json.dumps(secret)[1:-1])
    forms.update(line for line in secret.splitlines() if len(line) >= 16)
    return {form for form in forms if form}


async def test_no_secret_is_printed_or_answered(tmp_path: Path, nursery: trio.Nursery) -> None:
    channels = platform_channels()
    stop = trio.Event()
    for channel in channels:
        channel.at(await serve_app(nursery, channel.app, "127.0.0.1", 0, stop))
    environ: dict[str, str] = {}
    tables = []
    for index, channel in enumerate(channels):
        references = {}
        for number, (name, value) in enumerate(channel.secrets.items()):
            # Both kinds of reference, spread over every platform.
            if (index + number) % 2:
                secret_file = tmp_path / f"{channel.name}-{name}"
                secret_file.write_text(value + "\n")
                references[name] = f"file:{secret_file}"
            else:
                environ[variable(channel, name)] = value
                references[name] = f"env:{variable(channel, name)}"
        tables.append(channel_table(channel, references))
    socket = tmp_path / "control.sock"
    settings = {
        "state": f"sqlite:///{tmp_path}/state.db",
        "listen": "127.0.0.1:0",
        "control_socket": str(socket),
        "log_level": "debug",
    }
    config = tmp_path / "shelfsync.toml"
    config.write_text(toml_config(settings, tables))
    answers: list[str] = []

    daemon = await DaemonProcess.start(config, environ=environ)
    try:
        for channel in channels:
            await daemon.wait_for("sync_done", channel=channel.name)
        async with httpx.AsyncClient(base_url=daemon.url) as client:
            for channel in channels:
                forged = await client.post(
                    f"/webhooks/{channel.name}?token=forged",
                    content=b"{}",
                    headers={"x-shopify-hmac-sha256": "forged", "webhook-id": "1"},
                )
                assert forged.status_code == 401
                answers.append(forged.text)
            answers.append((await client.get("/metrics")).text)
        # A reload whose file is wrong: its error names the fields, never their values.
        broken = [t | {"credentials": {**t["credentials"], "nosuch": "env:NOSUCH"}} for t in tables]
        config.write_text(toml_config(settings, broken))
        daemon.signal(signal.SIGHUP)
        await daemon.wait_for("reload_rejected")
        code, status = await ctl(socket, "--json", "status")
        assert code == 0, status
        answers.append(status)
    finally:
        await daemon.stop()
        stop.set()

    said = "\n".join(daemon.lines + answers)
    assert "sync_done" in said and "reload_rejected" in said
    for channel in channels:
        secrets = channel.secrets
        for name, value in secrets.items():
            for form in disguises(value):
                assert form not in said, f"{channel.name}.{name} appears (as {form[:4]}...)"
        if channel.platform == "shipstation":
            pair = f"{secrets['api_key']}:{secrets['api_secret']}".encode()
            assert base64.b64encode(pair).decode() not in said
