"""Every platform's webhook endpoint against hostile and malformed deliveries, sent to the
daemon's HTTP server over loopback: forged or unsigned deliveries are refused (401) and counted
with nothing stored, and no delivery, signed or not, makes the daemon fail (500) or leaves a
half-written trace."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import quote

import httpx
import hypothesis.strategies as st
import msgspec
import pytest
import trio
from cryptography.hazmat.primitives.asymmetric import rsa
from hypothesis import HealthCheck, given, settings

from daemon.app import Daemon
from daemon.config import load_config
from tests.five_platforms import (
    PLATFORMS,
    Delivery,
    PlatformChannel,
    in_environment,
    platform_channels,
    signed_delivery,
)
from tests.helpers import toml_config

MAX_BODY = 4096


class Served(msgspec.Struct):
    daemon: Daemon
    http: httpx.AsyncClient
    state: Path
    channels: dict[str, PlatformChannel]

    @property
    def address(self) -> tuple[str, int]:
        host, port = self.http.base_url.host, self.http.base_url.port
        assert port is not None
        return host, port

    def traces(self) -> tuple[int, int]:
        """Rows in the inbox and in the exception queue."""
        with sqlite3.connect(self.state) as db:
            inbox = db.execute("SELECT count(*) FROM inbox").fetchone()[0]
            held = db.execute("SELECT count(*) FROM exceptions").fetchone()[0]
        return inbox, held

    def holds(self, payload: bytes) -> bool:
        """Whether the exception queue keeps ``payload``."""
        with sqlite3.connect(self.state) as db:
            found = db.execute("SELECT 1 FROM exceptions WHERE payload = ?", (payload,))
            return found.fetchone() is not None

    def rejected(self, channel: str) -> float:
        labels = {"channel": channel, "result": "rejected"}
        value = self.daemon.metrics.registry.get_sample_value(
            "shelfsync_webhooks_received_total", labels
        )
        return value or 0.0

    async def deliver(self, delivery: Delivery) -> httpx.Response:
        # Raw bytes: HTTP/1.1 header values may be any latin-1 text, not just ASCII.
        headers = [(k.encode(), v.encode("latin-1")) for k, v in delivery.headers.items()]
        return await self.http.post(delivery.target, headers=headers, content=delivery.body)


@pytest.fixture
async def served(tmp_path: Path, nursery: trio.Nursery) -> AsyncIterator[Served]:
    """A daemon with a paused channel of every platform (paused: no call leaves it), served
    on a free loopback port."""
    channels = platform_channels()
    environ, tables = in_environment(channels)
    config_path = tmp_path / "shelfsync.toml"
    daemon_settings = {
        "state": f"sqlite:///{tmp_path}/state.db",
        "listen": "127.0.0.1:0",
        "control_socket": str(tmp_path / "control.sock"),
        "webhook_max_bytes": MAX_BODY,
    }
    paused = [table | {"paused": True} for table in tables]
    config_path.write_text(toml_config(daemon_settings, paused))
    daemon = Daemon(load_config(config_path, environ=environ))
    urls = await nursery.start(daemon.run)
    async with httpx.AsyncClient(base_url=urls[0]) as http:
        yield Served(daemon, http, tmp_path / "state.db", {c.name: c for c in channels})
    daemon.request_stop()


def forged(channel: PlatformChannel, body: bytes) -> Delivery:
    """``body`` signed as ``channel``'s platform signs, with secrets (and, for Wix, a key) an
    attacker made up."""
    made_up = {name: value[::-1] for name, value in channel.secrets.items()}
    made_up["webhook_secret"] = "whsec_" + "A" * 32  # a well-formed ShipBob secret, not its own
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return signed_delivery(channel, body, "forged-1", secrets=made_up, wix_key=key)


@pytest.mark.parametrize("platform", PLATFORMS)
async def test_a_forged_or_unsigned_delivery_is_refused_counted_and_not_stored(
    served: Served, platform: str
) -> None:
    channel = served.channels[platform]
    body = b'{"id": "1", "scope": "store/order/updated", "hash": "h"}'
    unsigned = Delivery(target=f"/webhooks/{channel.name}", headers={}, body=body)
    before = served.traces()

    answers = [await served.deliver(d) for d in (unsigned, forged(channel, body))]

    assert [a.status_code for a in answers] == [401, 401]
    assert served.traces() == before
    assert served.rejected(channel.name) == 2


async def test_a_genuine_delivery_of_every_platform_is_kept(served: Served) -> None:
    # The other side of the refusals above: the same signing, with the channel's secrets.
    bodies = {
        "shopify": b'{"id": 1}',
        "wix": b'{"eventType": "wix.ecom.v1.order_updated", "instanceId": "i", "data": "{}"}',
        "bigcommerce": b'{"scope": "store/order/updated", "store_id": "1", "data": {"type":'
        b' "order", "id": 1}, "hash": "abc", "created_at": 1, "producer": "stores/sbx7a2k9"}',
        "shipstation": b'{"resource_url": "https://ssapi.shipstation.com/orders?importBatch=1",'
        b' "resource_type": "ORDER_NOTIFY"}',
        "shipbob": b'{"id": 1}',
    }
    for platform, body in bodies.items():
        answer = await served.deliver(signed_delivery(served.channels[platform], body, "d-1"))
        assert (platform, answer.status_code, answer.text) == (platform, 200, "")
    assert served.traces() == (len(PLATFORMS), 0)


async def test_a_delivery_whose_body_is_cut_short_is_not_answered_and_not_stored(
    served: Served,
) -> None:
    channel = served.channels["shopify"]
    whole = signed_delivery(channel, b'{"id": 1, "name": "#1001"}', "d-cut")
    head = [f"POST {whole.target} HTTP/1.1", "host: daemon", f"content-length: {len(whole.body)}"]
    head += [f"{name}: {value}" for name, value in whole.headers.items()]
    before = served.traces()
    async with await trio.open_tcp_stream(*served.address) as stream:
        await stream.send_all("\r\n".join([*head, "", ""]).encode() + whole.body[:10])
        await stream.send_eof()  # the sender gave up halfway: the platform will deliver again
        assert await stream.receive_some(1024) == b""
    assert served.traces() == before
    answer = await served.deliver(whole)  # the delivery again, whole
    assert (answer.status_code, served.traces()) == (200, (before[0] + 1, before[1]))


HEADER_NAMES = st.sampled_from(
    [
        "x-shopify-hmac-sha256",
        "x-shopify-webhook-id",
        "x-shopify-topic",
        "webhook-id",
        "webhook-timestamp",
        "webhook-signature",
        "x-webhook-topic",
        "x-shelfsync-webhook-secret",
        "content-type",
        "x-anything",
    ]
)
# Header values travel as latin-1 over HTTP/1.1; control characters cannot be sent at all, nor
# spaces around a value (a parser would strip them).
HEADER_VALUES = st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF), max_size=60).map(
    str.strip
)
# Any query a client can send: percent-encoded where it must be, raw where it may be.
QUERIES = st.one_of(
    st.just(""), st.text(max_size=40).map(lambda q: "?token=" + quote(q, safe="=&%+"))
)
BODIES = st.one_of(
    st.binary(max_size=300),
    st.from_regex(r"\A[{}\[\]\":,0-9a-z .\-]{0,120}\Z").map(str.encode),
)
# Each example is a request through the whole daemon: few examples, no deadline.
FUZZ = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def check_outcome(
    served: Served, delivery: Delivery, answer: httpx.Response, before: tuple[int, int]
) -> None:
    """What any delivery may do: be refused (nothing stored), kept (one inbox row), dropped as
    a repeat (nothing), or held (its body in the exception queue: one new row, or the row of
    the same body held before) — never fail, never more than one row."""
    after = served.traces()
    stored, held = after[0] - before[0], after[1] - before[1]
    assert answer.status_code in (200, 401), answer.text
    if answer.status_code == 401:
        assert (stored, held) == (0, 0)
    elif answer.text == "":  # accepted
        assert (stored, held) == (1, 0)
    elif answer.text == "duplicate\n":
        assert (stored, held) == (0, 0)
    else:
        assert answer.text.startswith("held for review: ")
        assert stored == 0 and held in (0, 1) and served.holds(delivery.body)


async def fuzz(served: Served, make: st.SearchStrategy[Delivery]) -> None:
    """Deliver what ``make`` draws, one at a time, checking each outcome. Hypothesis runs in a
    worker thread; each delivery is made on the daemon's own Trio loop."""

    async def deliver_and_check(delivery: Delivery) -> None:
        before = served.traces()
        answer = await served.deliver(delivery)
        check_outcome(served, delivery, answer, before)

    @FUZZ
    @given(make)
    def run(delivery: Delivery) -> None:
        trio.from_thread.run(deliver_and_check, delivery)

    await trio.to_thread.run_sync(run)


@pytest.mark.parametrize("platform", PLATFORMS)
async def test_arbitrary_deliveries_never_fail_the_endpoint(served: Served, platform: str) -> None:
    target = f"/webhooks/{platform}"
    await fuzz(
        served,
        st.builds(
            lambda query, headers, body: Delivery(target + query, headers, body),
            QUERIES,
            st.dictionaries(HEADER_NAMES, HEADER_VALUES, max_size=5),
            BODIES,
        ),
    )


@pytest.mark.parametrize("platform", PLATFORMS)
async def test_signed_arbitrary_bodies_are_kept_or_held_never_half_written(
    served: Served, platform: str
) -> None:
    channel = served.channels[platform]
    await fuzz(
        served,
        st.builds(
            lambda body, delivery_id: signed_delivery(channel, body, delivery_id),
            BODIES,
            st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=20),
        ),
    )


async def test_each_malformed_body_is_held_on_its_own(served: Served) -> None:
    # Found by the fuzzing above: every malformed body used to be folded into the channel's
    # first held webhook, so only the first body was kept.
    channel = served.channels["bigcommerce"]
    bodies = [b"{}", b"[]", b"{}"]
    answers = [await served.deliver(signed_delivery(channel, body, "x")) for body in bodies]
    assert {a.status_code for a in answers} == {200}
    assert served.traces() == (0, 2)
    assert served.holds(b"{}") and served.holds(b"[]")
