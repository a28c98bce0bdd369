"""The daemon's HTTP/1.1 server over real loopback sockets: keep-alive and pipelining, the
answers to requests it cannot parse, ``Expect: 100-continue``, an app that fails, idle
connections, and a shutdown that lets requests in hand finish; and the sandboxes' serving by
it, their ASGI lifespan around it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
import trio
import trio.testing

from connectors.sandbox_server import serve_app
from daemon.http_server import KEEP_ALIVE_S, MAX_HEAD_BYTES, READ_TIMEOUT_S, Receive, Scope, Send
from daemon.http_server import serve as serve_http


class EchoApp:
    """Answers every request with its method, path, query and body; ``/fail`` raises, and
    ``/hold`` waits for :attr:`release` before answering."""

    def __init__(self) -> None:
        self.clients: list[tuple[str, int]] = []
        self.holding = trio.Event()
        self.release = trio.Event()
        self.disconnects = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        assert scope["type"] == "http"
        self.clients.append(scope["client"])
        body = b""
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                self.disconnects += 1
                return
            body += message["body"]
            if not message["more_body"]:
                break
        if scope["path"] == "/fail":
            raise RuntimeError("the app broke")
        if scope["path"] == "/hold":
            self.holding.set()
            await self.release.wait()
        text = f"{scope['method']} {scope['path']} {scope['query_string'].decode()} ".encode()
        text += body
        headers = [(b"content-type", b"text/plain"), (b"content-length", str(len(text)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": text})


class Served:
    def __init__(self, app: EchoApp, url: str, shutdown: trio.Event) -> None:
        self.app = app
        self.url = url
        self.port = int(url.rsplit(":", 1)[1])
        self.shutdown = shutdown

    async def connect(self) -> trio.SocketStream:
        return await trio.open_tcp_stream("127.0.0.1", self.port)


GRACE = 2.0


@pytest.fixture
async def served(nursery: trio.Nursery) -> AsyncIterator[Served]:
    app = EchoApp()
    shutdown = trio.Event()
    urls = await nursery.start(_serving, app, shutdown)
    yield Served(app, urls[0], shutdown)
    shutdown.set()


async def _serving(
    app: EchoApp, shutdown: trio.Event, *, task_status: trio.TaskStatus[list[str]]
) -> None:
    await serve_http(app, "127.0.0.1", 0, grace=GRACE, shutdown=shutdown, task_status=task_status)


async def read_until_closed(stream: trio.SocketStream) -> bytes:
    received = b""
    while chunk := await stream.receive_some(65536):
        received += chunk
    return received


async def test_a_connection_is_kept_for_the_next_request(served: Served) -> None:
    async with httpx.AsyncClient(base_url=served.url) as client:
        first = await client.post("/webhooks/web?x=1", content=b"one")
        second = await client.get("/caf%C3%A9")
    assert first.status_code == 200 and first.text == "POST /webhooks/web x=1 one"
    assert second.text == "GET /café  "  # the path percent-decoded, as ASGI gives it
    assert first.headers["date"].endswith(" GMT")
    assert len(set(served.app.clients)) == 1  # both on one connection


async def test_pipelined_requests_are_answered_in_order(served: Served) -> None:
    async with await served.connect() as stream:
        requests = [
            b"POST /a HTTP/1.1\r\nhost: x\r\ncontent-length: 1\r\n\r\n1",
            b"GET /b HTTP/1.1\r\nhost: x\r\n\r\n",
            b"GET /c HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
        ]
        await stream.send_all(b"".join(requests))
        answers = await read_until_closed(stream)
        assert answers.count(b"HTTP/1.1 200 OK\r\n") == 3
        assert (
            answers.index(b"POST /a  1") < answers.index(b"GET /b  ") < answers.index(b"GET /c  ")
        )


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"NOT HTTP AT ALL\r\n\r\n", b"400 Bad Request"),
        (b"GET / HTTP/1.1\r\n\r\n", b"400 Bad Request"),  # no host header
        (b"GET / HTTP/1.1\r\nhost: x\r\nx-big: " + b"a" * MAX_HEAD_BYTES, b"431"),
    ],
    ids=["garbage", "no-host", "head-too-large"],
)
async def test_a_request_that_cannot_be_parsed_is_answered_and_closed(
    served: Served, request_bytes: bytes, status: bytes
) -> None:
    async with await served.connect() as stream:
        await stream.send_all(request_bytes)
        answer = await read_until_closed(stream)
        assert answer.startswith(b"HTTP/1.1 " + status)
        assert b"connection: close" in answer.lower()
        assert served.app.clients == []  # the app never saw it


async def test_a_client_that_expects_100_continue_is_told_to_send_its_body(
    served: Served,
) -> None:
    async with await served.connect() as stream:
        head = b"POST /up HTTP/1.1\r\nhost: x\r\ncontent-length: 4\r\nexpect: 100-continue\r\n\r\n"
        await stream.send_all(head)
        interim = await stream.receive_some(65536)
        assert interim.startswith(b"HTTP/1.1 100 ")
        await stream.send_all(b"body")
        answer = await stream.receive_some(65536)
        assert answer.startswith(b"HTTP/1.1 200 OK") and answer.endswith(b"POST /up  body")


async def test_an_app_that_fails_gets_a_500_and_the_server_goes_on(served: Served) -> None:
    async with httpx.AsyncClient(base_url=served.url) as client:
        failed = await client.post("/fail", content=b"x")
        after = await client.get("/fine")
    assert failed.status_code == 500 and failed.text == "internal error\n"
    assert failed.headers["connection"] == "close"
    assert after.status_code == 200


async def test_a_body_cut_short_reaches_the_app_as_a_disconnect(served: Served) -> None:
    async with await served.connect() as stream:
        await stream.send_all(b"POST /cut HTTP/1.1\r\nhost: x\r\ncontent-length: 100\r\n\r\npart")
        await stream.send_eof()
        assert await read_until_closed(stream) == b""  # nothing to answer a client that left
        assert served.app.disconnects == 1


@pytest.mark.parametrize("idle", ["before-any-request", "after-a-request"])
async def test_an_idle_connection_is_closed_after_the_keep_alive_time(
    nursery: trio.Nursery, virtual_clock: trio.testing.MockClock, idle: str
) -> None:
    app = EchoApp()
    urls = await nursery.start(_serving, app, trio.Event())
    async with await trio.open_tcp_stream("127.0.0.1", int(urls[0].rsplit(":", 1)[1])) as stream:
        if idle == "after-a-request":
            await stream.send_all(b"GET /once HTTP/1.1\r\nhost: x\r\n\r\n")
            assert (await stream.receive_some(65536)).startswith(b"HTTP/1.1 200")
        opened = trio.current_time()
        assert await read_until_closed(stream) == b""
        assert KEEP_ALIVE_S <= trio.current_time() - opened < KEEP_ALIVE_S + 1


async def test_a_body_that_stalls_is_dropped_after_the_read_timeout(
    nursery: trio.Nursery, virtual_clock: trio.testing.MockClock
) -> None:
    app = EchoApp()
    urls = await nursery.start(_serving, app, trio.Event())
    async with await trio.open_tcp_stream("127.0.0.1", int(urls[0].rsplit(":", 1)[1])) as stream:
        await stream.send_all(b"POST /slow HTTP/1.1\r\nhost: x\r\ncontent-length: 10\r\n\r\nab")
        sent = trio.current_time()
        assert await read_until_closed(stream) == b""
        assert READ_TIMEOUT_S <= trio.current_time() - sent < READ_TIMEOUT_S + 1
        assert app.disconnects == 1


async def test_shutdown_finishes_the_requests_in_hand_and_closes_idle_connections(
    nursery: trio.Nursery,
) -> None:
    app = EchoApp()
    shutdown = trio.Event()
    stopped = trio.Event()

    async def serve_then_note(task_status: trio.TaskStatus[list[str]]) -> None:
        await serve_http(app, "127.0.0.1", 0, grace=60, shutdown=shutdown, task_status=task_status)
        stopped.set()

    url = (await nursery.start(serve_then_note))[0]
    port = int(url.rsplit(":", 1)[1])
    idle = await trio.open_tcp_stream("127.0.0.1", port)
    busy = await trio.open_tcp_stream("127.0.0.1", port)
    async with idle, busy:
        await busy.send_all(b"GET /hold HTTP/1.1\r\nhost: x\r\n\r\n")
        await app.holding.wait()

        shutdown.set()
        assert await read_until_closed(idle) == b""  # closed at once, though its keep-alive ran on
        with pytest.raises(OSError):
            await trio.open_tcp_stream("127.0.0.1", port)  # no longer accepting
        assert not stopped.is_set()
        app.release.set()
        answer = await read_until_closed(busy)
    assert answer.startswith(b"HTTP/1.1 200") and b"connection: close" in answer.lower()
    await stopped.wait()


async def test_shutdown_ends_a_request_that_outlasts_the_grace_period(
    nursery: trio.Nursery, virtual_clock: trio.testing.MockClock
) -> None:
    app = EchoApp()
    shutdown = trio.Event()
    url = (await nursery.start(_serving, app, shutdown))[0]
    async with await trio.open_tcp_stream("127.0.0.1", int(url.rsplit(":", 1)[1])) as busy:
        await busy.send_all(b"GET /hold HTTP/1.1\r\nhost: x\r\n\r\n")
        await app.holding.wait()
        shutdown.set()
        asked = trio.current_time()
        assert await read_until_closed(busy) == b""  # never released: cut at the grace period
        assert GRACE <= trio.current_time() - asked < GRACE + 1


class LifespanApp(EchoApp):
    """An echo app with an ASGI lifespan: it notes each event as it comes."""

    def __init__(self) -> None:
        super().__init__()
        self.events: list[str] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan":
            self.events.append("request")
            await super().__call__(scope, receive, send)
            return
        while (message := await receive())["type"] != "lifespan.shutdown":
            self.events.append(message["type"])
            await send({"type": "lifespan.startup.complete"})
        self.events.append(message["type"])
        await send({"type": "lifespan.shutdown.complete"})


@pytest.mark.parametrize("app", [LifespanApp(), EchoApp()], ids=["lifespan", "none"])
async def test_a_sandbox_is_served_after_its_lifespan_starts_and_until_it_ends(
    app: EchoApp,
) -> None:
    stop = trio.Event()
    async with trio.open_nursery() as nursery:
        url = await serve_app(nursery, app, "127.0.0.1", 0, stop)
        async with httpx.AsyncClient(base_url=url) as client:
            assert (await client.get("/ping")).text == "GET /ping  "
        stop.set()
    if isinstance(app, LifespanApp):
        assert app.events == ["lifespan.startup", "request", "lifespan.shutdown"]
    assert len(app.clients) == 1  # an app without a lifespan (EchoApp refuses one) is served
