"""The channels' HTTP transport over real loopback sockets, plain and TLS: connections kept and
reused, and dropped when they cannot be trusted (closed by the server, past keep-alive, ended
by an error or a cancellation); answers chunked and compressed; and each failure raised as the
httpx exception a connector expects."""

from __future__ import annotations

import gzip
import json
import ssl
from collections.abc import AsyncIterator
from functools import partial

import h11
import httpx
import pytest
import trio
import trio.testing
import trustme

from daemon.app import default_http_client
from daemon.http_transport import KEEP_ALIVE_S, MAX_IDLE_PER_ORIGIN, Transport

TRICKLE_S = 1.5


class Platform:
    """A server whose answer each request's path picks:

    ``/ok`` JSON naming the request, ``/gzip`` the same chunked and compressed (``/trickle``
    too, a chunk every :data:`TRICKLE_S`), ``/close``
    answered with ``connection: close``, ``/hangup`` answered and then closed without saying
    so, ``/silent`` never answered, ``/garbage`` not HTTP, ``/nothing`` closed unanswered.
    """

    def __init__(self) -> None:
        self.connections = 0
        self.requests: list[tuple[str, bytes, dict[bytes, bytes]]] = []
        self.closed = 0
        self._one_closed = trio.Event()
        self.hung_up = trio.Event()
        self.silent = trio.Event()

    async def serve_connection(self, stream: trio.abc.Stream) -> None:
        self.connections += 1
        connection = self.connections
        server = h11.Connection(h11.SERVER)
        try:
            while await self._answer(stream, server, connection):
                server.start_next_cycle()
        finally:
            self.closed += 1
            self._one_closed.set()
            self._one_closed = trio.Event()
            await trio.aclose_forcefully(stream)

    async def wait_closed(self, connections: int) -> None:
        while self.closed < connections:
            await self._one_closed.wait()

    async def _answer(self, stream: trio.abc.Stream, server: h11.Connection, n: int) -> bool:
        request, body = None, b""
        while True:
            event = server.next_event()
            if event is h11.NEED_DATA:
                try:
                    data = await stream.receive_some(65536)
                except trio.BrokenResourceError:  # TLS closed without close_notify
                    return False
                if not data:
                    return False
                server.receive_data(data)
            elif isinstance(event, h11.Request):
                request = event
            elif isinstance(event, h11.Data):
                body += event.data
            elif isinstance(event, h11.EndOfMessage):
                break
        assert request is not None
        path = request.target.decode()
        self.requests.append((path, body, dict(request.headers)))
        named = json.dumps({"path": path, "connection": n, "body": body.decode()}).encode()
        if path == "/silent":
            self.silent.set()
            await trio.sleep_forever()
        if path == "/garbage":
            await stream.send_all(b"nonsense\r\n\r\n")
            return False
        if path == "/nothing":
            return False
        if path in ("/gzip", "/trickle"):
            packed = gzip.compress(named)
            head = [(b"content-encoding", b"gzip"), (b"transfer-encoding", b"chunked")]
            out = server.send(h11.Response(status_code=200, headers=head))
            for chunk in (packed[:10], packed[10:20], packed[20:]):
                out += server.send(h11.Data(data=chunk))
                if path == "/trickle":
                    await stream.send_all(out)
                    out = b""
                    await trio.sleep(TRICKLE_S)
        else:
            head = [(b"content-length", str(len(named)).encode())]
            if path == "/close":
                head.append((b"connection", b"close"))
            out = server.send(h11.Response(status_code=200, headers=head))
            out += server.send(h11.Data(data=named))
        await stream.send_all(out + server.send(h11.EndOfMessage()))
        if path == "/hangup":
            await trio.aclose_forcefully(stream)
            self.hung_up.set()
            return False
        return server.our_state is h11.DONE


@pytest.fixture
def platform() -> Platform:
    return Platform()


async def listen(
    nursery: trio.Nursery, platform: Platform, server_context: ssl.SSLContext | None = None
) -> int:
    if server_context is None:
        listeners = await nursery.start(
            partial(trio.serve_tcp, platform.serve_connection, 0, host="127.0.0.1")
        )
    else:
        serving = partial(
            trio.serve_ssl_over_tcp, platform.serve_connection, 0, server_context, host="127.0.0.1"
        )
        listeners = await nursery.start(serving)
    listener = listeners[0]
    if isinstance(listener, trio.SSLListener):
        listener = listener.transport_listener
    port: int = listener.socket.getsockname()[1]
    return port


@pytest.fixture
async def base_url(nursery: trio.Nursery, platform: Platform) -> str:
    return f"http://127.0.0.1:{await listen(nursery, platform)}"


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        transport=Transport(ssl.create_default_context()), timeout=5.0
    ) as client:
        yield client


async def test_a_connection_is_kept_for_the_next_request(
    http: httpx.AsyncClient, base_url: str, platform: Platform
) -> None:
    first = await http.get(f"{base_url}/ok?page=1")
    second = await http.post(f"{base_url}/ok", json={"sku": "A-1"})
    assert first.json() == {"path": "/ok?page=1", "connection": 1, "body": ""}
    assert second.json() == {"path": "/ok", "connection": 1, "body": '{"sku":"A-1"}'}
    assert platform.requests[1][2][b"content-type"] == b"application/json"
    assert platform.connections == 1
    assert first.http_version == "HTTP/1.1"
    assert first.reason_phrase == ""  # h11 sends no reason phrase; it is passed on as it came


async def test_requests_at_once_each_get_a_connection_then_share_the_pool(
    http: httpx.AsyncClient, base_url: str, platform: Platform
) -> None:
    async def get(n: int) -> None:
        assert (await http.get(f"{base_url}/ok?n={n}")).status_code == 200

    async with trio.open_nursery() as nursery:
        for n in range(MAX_IDLE_PER_ORIGIN + 2):
            nursery.start_soon(get, n)
    assert platform.connections == MAX_IDLE_PER_ORIGIN + 2
    await platform.wait_closed(2)  # the two beyond what the pool keeps
    async with trio.open_nursery() as nursery:
        for n in range(MAX_IDLE_PER_ORIGIN):
            nursery.start_soon(get, n)
    assert platform.connections == MAX_IDLE_PER_ORIGIN + 2


async def test_a_chunked_and_compressed_answer_is_read_whole_and_decoded(
    http: httpx.AsyncClient, base_url: str
) -> None:
    answer = await http.get(f"{base_url}/gzip")
    assert answer.json() == {"path": "/gzip", "connection": 1, "body": ""}
    assert (await http.get(f"{base_url}/ok")).json()["connection"] == 1


async def test_an_answer_with_connection_close_ends_the_connection(
    http: httpx.AsyncClient, base_url: str
) -> None:
    assert (await http.get(f"{base_url}/close")).status_code == 200
    assert (await http.get(f"{base_url}/ok")).json()["connection"] == 2


async def test_a_connection_the_server_closed_while_idle_is_not_tried(
    http: httpx.AsyncClient, base_url: str, platform: Platform
) -> None:
    assert (await http.get(f"{base_url}/hangup")).status_code == 200
    await platform.hung_up.wait()
    # Sent on the closed connection, this would fail; it goes on a new one instead.
    assert (await http.post(f"{base_url}/ok", content=b"once")).json()["connection"] == 2
    assert [path for path, _, _ in platform.requests] == ["/hangup", "/ok"]


async def test_an_idle_connection_is_not_kept_past_the_keep_alive_time(
    http: httpx.AsyncClient,
    base_url: str,
    platform: Platform,
    virtual_clock: trio.testing.MockClock,
) -> None:
    await http.get(f"{base_url}/ok")
    await trio.sleep(KEEP_ALIVE_S - 1)
    assert (await http.get(f"{base_url}/ok")).json()["connection"] == 1
    await trio.sleep(KEEP_ALIVE_S)
    assert (await http.get(f"{base_url}/ok")).json()["connection"] == 2
    await platform.wait_closed(1)


async def test_a_server_that_does_not_answer_is_a_read_timeout_and_loses_the_connection(
    base_url: str, virtual_clock: trio.testing.MockClock
) -> None:
    timeout = httpx.Timeout(5.0, read=2.0)
    async with httpx.AsyncClient(transport=Transport(ssl.create_default_context())) as http:
        began = trio.current_time()
        with pytest.raises(httpx.ReadTimeout):
            await http.get(f"{base_url}/silent", timeout=timeout)
        assert trio.current_time() - began == pytest.approx(2.0, abs=0.2)
        assert (await http.get(f"{base_url}/ok")).json()["connection"] == 2


async def test_the_read_timeout_bounds_each_read_not_the_whole_answer(
    base_url: str, virtual_clock: trio.testing.MockClock
) -> None:
    timeout = httpx.Timeout(5.0, read=TRICKLE_S + 0.5)
    async with httpx.AsyncClient(transport=Transport(ssl.create_default_context())) as http:
        began = trio.current_time()
        answer = await http.get(f"{base_url}/trickle", timeout=timeout)
    assert answer.json()["path"] == "/trickle"
    assert trio.current_time() - began >= 2 * TRICKLE_S  # longer than the timeout in all


async def test_a_cancelled_request_leaves_no_connection_behind(
    http: httpx.AsyncClient, base_url: str, platform: Platform
) -> None:
    with trio.CancelScope() as scope:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(http.get, f"{base_url}/silent")
            await platform.silent.wait()
            scope.cancel()
    # Its answer might still come; the next request must not read it as its own.
    assert (await http.get(f"{base_url}/ok")).json() == {
        "path": "/ok",
        "connection": 2,
        "body": "",
    }


@pytest.mark.parametrize(
    ("path", "message"),
    [("/garbage", "illegal status line"), ("/nothing", "closed the connection without answering")],
)
async def test_an_answer_that_is_not_http_is_a_protocol_error(
    http: httpx.AsyncClient, base_url: str, path: str, message: str
) -> None:
    with pytest.raises(httpx.RemoteProtocolError, match=message):
        await http.get(f"{base_url}{path}")
    assert (await http.get(f"{base_url}/ok")).json()["connection"] == 2


async def test_a_refused_connection_is_a_connect_error(http: httpx.AsyncClient) -> None:
    with trio.socket.socket() as unused:
        await unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    with pytest.raises(httpx.ConnectError):
        await http.get(f"http://127.0.0.1:{port}/ok")


async def test_only_http_and_https_are_sent(http: httpx.AsyncClient) -> None:
    transport = Transport(ssl.create_default_context())
    with pytest.raises(httpx.UnsupportedProtocol):
        await transport.handle_async_request(httpx.Request("GET", "ftp://127.0.0.1/x"))


async def test_closing_the_client_closes_its_idle_connections(
    base_url: str, platform: Platform
) -> None:
    async with httpx.AsyncClient(transport=Transport(ssl.create_default_context())) as http:
        await http.get(f"{base_url}/ok")
        await http.get(f"{base_url}/ok")
        assert platform.closed == 0
    with trio.fail_after(5):
        await platform.wait_closed(1)
    assert platform.connections == 1


@pytest.fixture(scope="module")
def authority() -> trustme.CA:
    return trustme.CA()


async def test_https_is_verified_against_the_context_and_kept_alive(
    nursery: trio.Nursery, platform: Platform, authority: trustme.CA
) -> None:
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("127.0.0.1").configure_cert(server_context)
    port = await listen(nursery, platform, server_context)
    url = f"https://127.0.0.1:{port}/ok"

    trusting = ssl.create_default_context()
    authority.configure_trust(trusting)
    async with httpx.AsyncClient(transport=Transport(trusting)) as http:
        assert (await http.get(url)).json()["connection"] == 1
        assert (await http.get(url)).json()["connection"] == 1

    async with httpx.AsyncClient(transport=Transport(ssl.create_default_context())) as http:
        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            await http.get(url)


async def test_the_daemons_clients_go_through_a_proxy_the_environment_names(
    base_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", base_url)
    async with default_http_client() as http:
        answer = await http.get("http://shop.invalid/ok")
    assert answer.json()["path"] == "http://shop.invalid/ok"  # the proxy was asked for it
