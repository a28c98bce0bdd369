"""An HTTP/1.1 transport for the channels' httpx clients, on h11 over Trio sockets.

A channel's calls are small JSON requests and answers to one or two origins, a few at a time.
httpx's default transport (httpcore) serves every protocol and concurrency model, and for such
calls its machinery (a pool with its own locks and events, a connection object per protocol,
an async backend in between) cost about as much CPU per call as everything else the daemon
did for it. This transport does only what those calls need:

- HTTP/1.1 over TCP, or TLS with the shared context, to ``http`` and ``https`` URLs;
- idle connections kept per origin (:data:`MAX_IDLE_PER_ORIGIN`, for :data:`KEEP_ALIVE_S`)
  and reused newest first; one the server has closed meanwhile is dropped, not tried;
- the request sent in one write, the whole answer read before it is returned (httpx still
  decodes ``content-encoding`` and reads the status and headers);
- httpx's per-request timeouts (connect, read, write) and httpx's exceptions, so callers see
  no difference: a refused connection is :class:`httpx.ConnectError`, a silent peer
  :class:`httpx.ReadTimeout`, a malformed answer :class:`httpx.RemoteProtocolError`.

A connection goes back to the pool only when its exchange ended cleanly on both sides; an
error, a cancellation or a ``connection: close`` closes it. It does not bound the number of
connections: each channel already bounds its requests in flight (:mod:`actors.outbound`).
"""

from __future__ import annotations

import select
import ssl
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager

import h11
import httpx
import trio

MAX_IDLE_PER_ORIGIN = 10
"""Idle connections kept per origin; more than a channel has requests in flight is waste."""
KEEP_ALIVE_S = 5.0
"""How long an idle connection is kept (httpx's default too; servers commonly keep 5 s+)."""
MAX_HEAD_BYTES = 100 * 1024
"""The largest status line and headers accepted in an answer."""
RECEIVE_BYTES = 64 * 1024

Origin = tuple[bytes, bytes, int]


class _Connection:
    __slots__ = ("h11", "idle_since", "stream")

    def __init__(self, stream: trio.abc.Stream) -> None:
        self.stream = stream
        self.h11 = h11.Connection(h11.CLIENT, max_incomplete_event_size=MAX_HEAD_BYTES)
        self.idle_since = 0.0

    def closed_by_peer(self) -> bool:
        """Whether the idle socket has something to read: the server's FIN (it closed the
        connection) or bytes no request asked for; either way it cannot carry a request."""
        poll = select.poll()
        poll.register(self._socket().fileno(), select.POLLIN)
        return bool(poll.poll(0))

    def drop(self) -> None:
        """Close an idle connection at once. Nothing is owed to a peer that left or to a
        connection past its keep-alive, and this keeps taking one from the pool synchronous."""
        self._socket().close()

    def _socket(self) -> trio.socket.SocketType:
        stream = self.stream
        if isinstance(stream, trio.SSLStream):
            stream = stream.transport_stream
        assert isinstance(stream, trio.SocketStream)
        return stream.socket


class Transport(httpx.AsyncBaseTransport):
    """HTTP/1.1 with keep-alive for one httpx client; see the module docstring."""

    def __init__(self, ssl_context: ssl.SSLContext) -> None:
        self._ssl_context = ssl_context
        self._idle: dict[Origin, deque[_Connection]] = {}

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        origin = _origin(request)
        timeouts = request.extensions.get("timeout", {})
        connection = self._idle_connection(origin) or await self._connect(
            origin, request, timeouts.get("connect")
        )
        try:
            response = await _exchange(connection, request, timeouts)
        except BaseException:
            await trio.aclose_forcefully(connection.stream)
            raise
        await self._keep_or_close(origin, connection)
        return response

    async def aclose(self) -> None:
        idle, self._idle = self._idle, {}
        for connections in idle.values():
            for connection in connections:
                await trio.aclose_forcefully(connection.stream)

    def _idle_connection(self, origin: Origin) -> _Connection | None:
        connections = self._idle.get(origin)
        while connections:
            connection = connections.pop()
            fresh = trio.current_time() - connection.idle_since < KEEP_ALIVE_S
            if fresh and not connection.closed_by_peer():
                return connection
            connection.drop()
        return None

    async def _connect(
        self, origin: Origin, request: httpx.Request, timeout: float | None
    ) -> _Connection:
        scheme, raw_host, port = origin
        host = raw_host.decode("ascii")
        with _phase(httpx.ConnectTimeout, httpx.ConnectError, timeout, request):
            stream: trio.abc.Stream = await trio.open_tcp_stream(host, port)
            if scheme == b"https":
                stream = trio.SSLStream(
                    stream, self._ssl_context, server_hostname=host, https_compatible=True
                )
                try:
                    await stream.do_handshake()
                except BaseException:
                    await trio.aclose_forcefully(stream)
                    raise
        return _Connection(stream)

    async def _keep_or_close(self, origin: Origin, connection: _Connection) -> None:
        state = connection.h11
        if state.our_state is h11.DONE and state.their_state is h11.DONE:
            connections = self._idle.setdefault(origin, deque())
            if len(connections) < MAX_IDLE_PER_ORIGIN:
                state.start_next_cycle()
                connection.idle_since = trio.current_time()
                connections.append(connection)
                return
        await trio.aclose_forcefully(connection.stream)


def _origin(request: httpx.Request) -> Origin:
    url = request.url
    if url.scheme not in ("http", "https"):
        raise httpx.UnsupportedProtocol(f"cannot send to {url.scheme!r} URLs", request=request)
    return url.raw_scheme, url.raw_host, url.port or (443 if url.scheme == "https" else 80)


async def _exchange(
    connection: _Connection, request: httpx.Request, timeouts: dict[str, float | None]
) -> httpx.Response:
    """Send ``request`` on ``connection`` and read its whole answer."""
    state = connection.h11
    body = await request.aread()
    head = h11.Request(
        method=request.method, target=request.url.raw_path, headers=request.headers.raw
    )
    with _phase(httpx.WriteTimeout, httpx.WriteError, timeouts.get("write"), request):
        data = state.send(head)
        if body:
            data += state.send(h11.Data(data=body))
        await connection.stream.send_all(data + state.send(h11.EndOfMessage()))
    answer: h11.Response | None = None
    chunks: list[bytes] = []
    read_timeout = timeouts.get("read")
    with _phase(httpx.ReadTimeout, httpx.ReadError, read_timeout, request) as reading:
        while True:
            event = state.next_event()
            if event is h11.NEED_DATA:
                if read_timeout is not None:  # the timeout bounds each read, not all of them
                    reading.deadline = trio.current_time() + read_timeout
                received = await connection.stream.receive_some(RECEIVE_BYTES)
                if not received and answer is None:
                    # h11 would only say it cannot handle the close in this state.
                    raise httpx.RemoteProtocolError(
                        "the server closed the connection without answering", request=request
                    )
                state.receive_data(bytes(received))
            elif isinstance(event, h11.Response):
                answer = event
            elif isinstance(event, h11.Data):
                chunks.append(bytes(event.data))
            elif isinstance(event, h11.EndOfMessage):
                break
            # An InformationalResponse (100 Continue) precedes the real answer: nothing to
            # keep. ConnectionClosed cannot come: h11 raises for a close before EndOfMessage.
    assert answer is not None  # h11 sends EndOfMessage only after a Response
    return httpx.Response(
        answer.status_code,
        headers=answer.headers.raw_items(),
        stream=httpx.ByteStream(b"".join(chunks)),
        extensions={
            "http_version": b"HTTP/" + answer.http_version,
            "reason_phrase": answer.reason,
        },
    )


@contextmanager
def _phase(
    timed_out: type[httpx.TimeoutException],
    failed: type[httpx.NetworkError],
    timeout: float | None,
    request: httpx.Request,
) -> Iterator[trio.CancelScope]:
    """One phase of a request (connect, write, read): bounded by ``timeout`` seconds when it
    is set (the scope yielded, whose deadline the phase may move on), and its failures raised
    as httpx's exceptions for that phase."""
    try:
        with trio.fail_after(timeout if timeout is not None else float("inf")) as scope:
            yield scope
    except trio.TooSlowError as exc:
        raise timed_out(
            f"{timed_out.__name__}: no progress in {timeout:g}s", request=request
        ) from exc
    except h11.RemoteProtocolError as exc:
        raise httpx.RemoteProtocolError(str(exc), request=request) from exc
    except h11.LocalProtocolError as exc:
        raise httpx.LocalProtocolError(str(exc), request=request) from exc
    except (OSError, trio.BrokenResourceError, trio.ClosedResourceError) as exc:
        # Trio's stream errors carry the reason (a TLS alert, a reset) as their cause.
        reason = exc.__cause__ or exc
        raise failed(f"{type(reason).__name__}: {reason}", request=request) from exc
