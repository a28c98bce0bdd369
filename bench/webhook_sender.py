"""The flash sale's sender, run by ``bench.ingest`` as a process of its own: Shopify
``orders/create`` webhooks, each signed with the channel's secret (read from the environment
variable ``SHELFSYNC_BENCH_SECRET``, so that it shows in no process listing), POSTed over
keep-alive connections to one URL as fast as the receiver answers, for a bounded time.

Each connection sends its next webhook as soon as the previous one is answered, so the rate is
the receiver's. HTTP/1.1 is spoken directly on the socket: a general client would spend more
of the machine's cores than the receiver it measures. Every delivery is written as a JSON line
to ``--out``: its webhook id, the order id in its body, its HTTP status (null when the
connection closed before an answer) and the seconds from sending to the answer. At the end
it prints the CPU seconds it used.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import urllib.parse
from pathlib import Path
from typing import TextIO

import msgspec
import trio

from connectors.shopify.webhooks import signature

SECRET_VARIABLE = "SHELFSYNC_BENCH_SECRET"


class Delivery(msgspec.Struct, frozen=True):
    webhook_id: str
    order_id: int
    status: int | None
    seconds: float


def order_body(order_id: int) -> bytes:
    """A Shopify order webhook's body, of a typical size (two lines, addresses)."""
    line = {"sku": "SC-0001", "quantity": 1, "price": "19.00", "title": "Bench item"}
    address = {"address1": "1 Bench Street", "city": "Ottawa", "zip": "K1A 0B1", "country": "CA"}
    order = {
        "id": order_id,
        "admin_graphql_api_id": f"gid://shopify/Order/{order_id}",
        "name": f"#{order_id}",
        "financial_status": "paid",
        "line_items": [line, line | {"sku": "SC-0002"}],
        "shipping_address": address,
        "billing_address": address,
    }
    return msgspec.json.encode(order)


class Connection:
    """One keep-alive HTTP/1.1 connection to the receiver."""

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self._stream: trio.SocketStream | None = None
        self._buffer = b""

    async def post(self, target: str, headers: dict[str, str], body: bytes) -> int | None:
        """POST ``body``; the answer's status, or None if the connection closed first (it is
        opened again for the next request)."""
        if self._stream is None:
            self._stream = await trio.open_tcp_stream(self.host, self.port)
            self._buffer = b""
        head = [f"POST {target} HTTP/1.1", f"Host: {self.host}:{self.port}"]
        head += [f"{name}: {value}" for name, value in headers.items()]
        head += [f"Content-Length: {len(body)}", "", ""]
        try:
            await self._stream.send_all("\r\n".join(head).encode() + body)
            status, close = await self._answer()
        except (trio.BrokenResourceError, trio.ClosedResourceError, ConnectionError):
            status, close = None, True
        if close:
            await self._stream.aclose()
            self._stream = None
        return status

    async def _answer(self) -> tuple[int | None, bool]:
        assert self._stream is not None
        while b"\r\n\r\n" not in self._buffer:
            chunk = await self._stream.receive_some(65536)
            if not chunk:
                return None, True
            self._buffer += chunk
        head, self._buffer = self._buffer.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        fields = dict(line.lower().split(": ", 1) for line in lines[1:] if ": " in line)
        length = int(fields.get("content-length", "0"))
        while len(self._buffer) < length:
            chunk = await self._stream.receive_some(65536)
            if not chunk:
                return None, True
            self._buffer += chunk
        self._buffer = self._buffer[length:]
        return int(lines[0].split()[1]), fields.get("connection") == "close"


async def send_for(url: str, secret: str, seconds: float, connections: int, out: TextIO) -> None:
    """Send from ``connections`` connections at once until ``seconds`` have passed."""
    parsed = urllib.parse.urlsplit(url)
    assert parsed.hostname is not None and parsed.port is not None
    host, port, target = parsed.hostname, parsed.port, parsed.path
    numbers = iter(range(1, sys.maxsize))
    deadline = trio.current_time() + seconds

    async def keep_sending(connection: Connection) -> None:
        while trio.current_time() < deadline:
            order_id = next(numbers)
            body = order_body(order_id)
            webhook_id = f"bench-{order_id}"
            headers = {
                "Content-Type": "application/json",
                "X-Shopify-Topic": "orders/create",
                "X-Shopify-Webhook-Id": webhook_id,
                "X-Shopify-Hmac-Sha256": signature(secret, body),
            }
            sent = trio.current_time()
            status = await connection.post(target, headers, body)
            answered = Delivery(webhook_id, order_id, status, trio.current_time() - sent)
            out.write(msgspec.json.encode(answered).decode() + "\n")

    async with trio.open_nursery() as nursery:
        for _ in range(connections):
            nursery.start_soon(keep_sending, Connection(host, port))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.webhook_sender", description=__doc__)
    parser.add_argument("--url", required=True, help="the channel's webhook URL (loopback)")
    parser.add_argument("--seconds", type=float, required=True)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    host = urllib.parse.urlsplit(args.url).hostname
    if host not in ("127.0.0.1", "localhost", "::1"):
        parser.error("the sender sends to loopback only")
    secret = os.environ[SECRET_VARIABLE]
    with args.out.open("w") as out:
        trio.run(send_for, args.url, secret, args.seconds, args.connections, out)
    used = resource.getrusage(resource.RUSAGE_SELF)
    print(round(used.ru_utime + used.ru_stime, 2))  # for the bench: the sender's own cost
    return 0


if __name__ == "__main__":
    sys.exit(main())
