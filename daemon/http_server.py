"""An HTTP/1.1 server for the daemon's ASGI app, on Trio: one task per connection parses its
requests with h11 and runs the app on each, to the end of its response, before reading the next.

The daemon answers a few short routes, to platforms delivering webhooks and to Prometheus, so
it speaks HTTP/1.1 with keep-alive and nothing more (no HTTP/2, WebSocket or lifespan events).
That is what lets it be cheap: a general server wraps every request in tasks, events and
timers of its own, and in a flash sale that was about half of the daemon's CPU per webhook.
Here a request costs its parsing, one call of the app and one write of the whole response.

Bounds: a request's head must arrive within the keep-alive time (:data:`KEEP_ALIVE_S`) of
the connection falling idle and fit in :data:`MAX_HEAD_BYTES`, and each read of its body
within :data:`READ_TIMEOUT_S`; the body's size is the app's to bound. On shutdown the server
stops accepting, closes idle connections at once and lets requests in hand finish (answered
with ``connection: close``) for up to the grace period. The platform sandboxes are served
by it too, their lifespan run by :mod:`connectors.sandbox_server`.
"""

from __future__ import annotations

import email.utils
import urllib.parse
from collections.abc import Awaitable, Callable, MutableMapping
from functools import partial
from http import HTTPStatus
from typing import Any

import h11
import structlog
import trio

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]

KEEP_ALIVE_S = 5.0
"""How long an idle connection waits for its next request, unless told otherwise (httpx and
most webhook senders keep a connection for 5 s too)."""
READ_TIMEOUT_S = 30.0
"""How long a request's body may pause before the connection is dropped."""
MAX_HEAD_BYTES = 16 * 1024
"""The largest request line and headers accepted (431 beyond)."""
RECEIVE_BYTES = 64 * 1024

log = structlog.get_logger("shelfsync.http")

_REASONS = {status.value: status.phrase.encode() for status in HTTPStatus}


async def serve(
    app: App,
    host: str,
    port: int,
    *,
    grace: float,
    shutdown: trio.Event,
    keep_alive: float = KEEP_ALIVE_S,
    task_status: trio.TaskStatus[list[str]] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve ``app`` on ``host:port`` until ``shutdown`` is set, then drain for up to
    ``grace`` seconds; an idle connection is kept ``keep_alive`` seconds. ``started`` hands
    back the bound URLs (so port 0 works)."""
    listeners = await trio.open_tcp_listeners(port, host=host)
    server = _Server(app, keep_alive)
    async with trio.open_nursery() as connections:
        async with trio.open_nursery() as accepting:
            serving = partial(trio.serve_listeners, handler_nursery=connections)
            await accepting.start(serving, server.serve_connection, listeners)
            task_status.started([_url(listener) for listener in listeners])
            await shutdown.wait()
            accepting.cancel_scope.cancel()  # serve_listeners closes the listeners
        server.close_idle()
        connections.cancel_scope.deadline = trio.current_time() + grace


def _url(listener: trio.SocketListener) -> str:
    host, port = listener.socket.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


class _Server:
    def __init__(self, app: App, keep_alive: float) -> None:
        self._app = app
        self._keep_alive = keep_alive
        self.closing = False
        """Set on shutdown: every answer from then on closes its connection."""
        self._idle: set[trio.CancelScope] = set()
        """The waits of connections between requests, cancelled on shutdown."""

    def close_idle(self) -> None:
        self.closing = True
        for wait in self._idle:
            wait.cancel()

    async def serve_connection(self, stream: trio.SocketStream) -> None:
        connection = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEAD_BYTES)
        peers = (stream.socket.getpeername()[:2], stream.socket.getsockname()[:2])
        try:
            while not self.closing:
                try:
                    request = await self._next_request(connection, stream)
                except h11.RemoteProtocolError as exc:
                    await _refuse(connection, stream, exc)
                    return
                if request is None:
                    return
                exchange = _Exchange(self, connection, stream)
                await exchange.run(self._app, _scope(request, *peers))
                if connection.our_state is not h11.DONE or connection.their_state is not h11.DONE:
                    return  # closing, failed, or the app answered without reading the body
                connection.start_next_cycle()
        except (trio.BrokenResourceError, trio.ClosedResourceError, ConnectionError):
            return  # the client went away: nothing to answer

    async def _next_request(
        self, connection: h11.Connection, stream: trio.SocketStream
    ) -> h11.Request | None:
        """The next request's head; None when the client closes, or the connection stays
        idle past its keep-alive time or through a shutdown."""
        with trio.move_on_after(self._keep_alive) as idle:
            self._idle.add(idle)
            try:
                event = await _next_event(connection, stream)
            finally:
                self._idle.discard(idle)
            return event if isinstance(event, h11.Request) else None
        return None


async def _next_event(connection: h11.Connection, stream: trio.SocketStream) -> Any:
    while (event := connection.next_event()) is h11.NEED_DATA:
        connection.receive_data(await stream.receive_some(RECEIVE_BYTES))
    return event


async def _refuse(
    connection: h11.Connection, stream: trio.SocketStream, error: h11.RemoteProtocolError
) -> None:
    """Answer a request h11 could not parse with the status it suggests, if a response can
    still be sent, and close."""
    if connection.our_state not in (h11.IDLE, h11.SEND_RESPONSE):
        return
    status = error.error_status_hint
    text = f"{_REASONS.get(status, b'').decode()}: {error}\n"
    await stream.send_all(_closing_answer(connection, status, text.encode()))


def _closing_answer(connection: h11.Connection, status: int, body: bytes) -> bytes:
    """A whole plain-text answer of the server's own, after which the connection closes."""
    headers = [
        (b"content-type", b"text/plain; charset=utf-8"),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),
    ]
    head = _response_head(connection, status, headers)
    data = connection.send(h11.Data(data=body)) or b""
    return head + data + (connection.send(h11.EndOfMessage()) or b"")


def _scope(request: h11.Request, client: tuple[str, int], server: tuple[str, int]) -> Scope:
    raw_path, _, query = request.target.partition(b"?")
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": request.http_version.decode(),
        "method": request.method.decode(),
        "scheme": "http",
        "path": urllib.parse.unquote(raw_path.decode("latin-1")),
        "raw_path": raw_path,
        "query_string": query,
        "root_path": "",
        "headers": request.headers,
        "client": client,
        "server": server,
    }


class _Exchange:
    """One request's run of the app: its body read as the app asks, its response written
    as the app gives it."""

    def __init__(self, server: _Server, connection: h11.Connection, stream: trio.SocketStream):
        self._server = server
        self._connection = connection
        self._stream = stream
        self._head = b""
        """The response's status line and headers, held to go out with its first body part."""
        self._started = False
        self._body_read = False
        self._client_gone = False
        """The body was cut short: the client closed, garbled it or stalled."""
        self._answered = trio.Event()

    async def run(self, app: App, scope: Scope) -> None:
        try:
            await app(scope, self.receive, self.send)
        except (trio.BrokenResourceError, trio.ClosedResourceError, ConnectionError):
            raise
        except Exception:
            log.exception("http_request_failed", method=scope["method"], path=scope["path"])
            if not self._started:
                await self._internal_error()
            return
        if not self._started and not self._client_gone:
            log.error("http_no_response", method=scope["method"], path=scope["path"])
            await self._internal_error()

    async def receive(self) -> MutableMapping[str, Any]:
        if self._body_read:
            if not self._client_gone:
                await self._answered.wait()  # as ASGI asks: nothing more comes but the end
            return {"type": "http.disconnect"}
        if self._connection.they_are_waiting_for_100_continue:
            await self._stream.send_all(
                self._connection.send(h11.InformationalResponse(status_code=100, headers=[])) or b""
            )
        parts: list[bytes] = []
        with trio.move_on_after(READ_TIMEOUT_S):
            while True:
                try:
                    event = self._connection.next_event()
                except h11.RemoteProtocolError:  # closed or garbled mid-body
                    break
                if event is h11.NEED_DATA:
                    if parts:  # hand over what came, rather than wait for more first
                        return {"type": "http.request", "body": b"".join(parts), "more_body": True}
                    self._connection.receive_data(await self._stream.receive_some(RECEIVE_BYTES))
                elif isinstance(event, h11.Data):
                    parts.append(bytes(event.data))
                else:  # EndOfMessage
                    self._body_read = True
                    return {"type": "http.request", "body": b"".join(parts), "more_body": False}
        self._body_read = self._client_gone = True
        return {"type": "http.disconnect"}

    async def send(self, message: MutableMapping[str, Any]) -> None:
        if message["type"] == "http.response.start":
            headers = list(message.get("headers", []))
            if self._server.closing:
                headers.append((b"connection", b"close"))
            self._head = _response_head(self._connection, message["status"], headers)
            self._started = True
        elif message["type"] == "http.response.body":
            out = [self._head]
            self._head = b""
            if body := message.get("body", b""):
                out.append(self._connection.send(h11.Data(data=body)) or b"")
            if not message.get("more_body", False):
                out.append(self._connection.send(h11.EndOfMessage()) or b"")
                self._answered.set()
            await self._stream.send_all(b"".join(out))

    async def _internal_error(self) -> None:
        await self._stream.send_all(_closing_answer(self._connection, 500, b"internal error\n"))


def _response_head(connection: h11.Connection, status: int, headers: list[Any]) -> bytes:
    headers = [*headers, (b"date", email.utils.formatdate(usegmt=True).encode())]
    response = h11.Response(status_code=status, headers=headers, reason=_REASONS.get(status, b""))
    return connection.send(response) or b""
