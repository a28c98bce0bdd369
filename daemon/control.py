"""The control API: JSON requests over a Unix socket that only the daemon's user can open.

One connection carries one request line and gets one answer line, both JSON::

    {"verb": "pause", "channel": "shop1"}        ->  {"ok": true, "lines": ["shop1: paused"]}
    {"verb": "status"}                           ->  {"ok": true, "channels": [...]}

The socket is created with mode 0600; a stale socket left by a crashed daemon is replaced, a live
one (another daemon on the same path) is an error.
"""

from __future__ import annotations

import errno
import os
import socket as stdlib_socket
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Literal

import msgspec
import structlog
import trio

from connectors.reasons import ExceptionKind
from daemon.store import AuditEntry

log = structlog.get_logger("shelfsync.control")

MAX_REQUEST_BYTES = 64 * 1024


class ControlRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    verb: Literal["status", "pause", "resume", "sync", "import", "exceptions", "audit"]
    channel: str | None = None
    stream: str | None = None
    orders: list[str] = msgspec.field(default_factory=list)
    """For ``import``: the store's order ids or order numbers."""
    action: Literal["list", "show", "replay", "discard"] = "list"
    """For ``exceptions``: what to do."""
    exception_id: int | None = None
    """For ``exceptions show|replay|discard``."""
    all_retryable: bool = False
    """For ``exceptions replay``: every open exception whose reason is retryable."""
    reason: str | None = None
    """For ``exceptions list``: only this reason."""
    include_resolved: bool = False
    """For ``exceptions list``: closed ones too."""
    entity: str | None = None
    """For ``audit``: only entries about this entity or idempotency key."""
    since: datetime | None = None
    """For ``audit``: only entries at or after this time."""
    limit: int = 1000
    """For ``exceptions list`` and ``audit``: at most this many (the newest audit entries)."""


class StreamStatus(msgspec.Struct, frozen=True):
    stream: str
    last_success_at: datetime | None
    cursor: datetime | None
    cursor_lag_seconds: float | None
    last_error: str | None


class ChannelStatus(msgspec.Struct, frozen=True):
    channel: str
    platform: str
    state: str
    paused: bool
    restarts: int
    open_exceptions: int
    last_error: str | None
    mailbox_depth: int
    streams: list[StreamStatus]


class ExceptionView(msgspec.Struct, frozen=True):
    """An exception as ``ctl exceptions`` shows it."""

    id: int
    channel: str
    kind: ExceptionKind
    stream: str | None
    entity: str | None
    reason: str
    meaning: str
    retryable: bool
    detail: str
    attempts: int
    first_seen: datetime
    last_seen: datetime
    resolved_at: datetime | None
    resolution: str | None
    payload: msgspec.Raw = msgspec.Raw(b"null")
    """The held record, order, target or write as JSON (a string if it is not JSON); only
    for ``show``, ``null`` otherwise."""


class ControlResponse(msgspec.Struct, frozen=True, omit_defaults=True):
    ok: bool
    lines: list[str] = msgspec.field(default_factory=list)
    channels: list[ChannelStatus] = msgspec.field(default_factory=list)
    exceptions: list[ExceptionView] = msgspec.field(default_factory=list)
    audit: list[AuditEntry] = msgspec.field(default_factory=list)


class ControlError(Exception):
    """The control socket cannot be served or reached."""


Handler = Callable[[ControlRequest], Awaitable[ControlResponse]]


async def serve_control(
    path: str,
    handler: Handler,
    *,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Answer control requests on the Unix socket at ``path`` until cancelled; removes it after."""
    listener = await _listen(Path(path))
    try:
        async with trio.open_nursery() as nursery:
            task_status.started()

            async def answer(stream: trio.SocketStream) -> None:
                await _answer(stream, handler)

            await trio.serve_listeners(answer, [listener], handler_nursery=nursery)
    finally:
        Path(path).unlink(missing_ok=True)


async def _listen(path: Path) -> trio.SocketListener:
    _remove_stale_socket(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sock = trio.socket.socket(trio.socket.AF_UNIX, trio.socket.SOCK_STREAM)
    # Bind under a restrictive umask so the socket is never, even briefly, open to others.
    previous = os.umask(0o177)
    try:
        await sock.bind(str(path))
    finally:
        os.umask(previous)
    os.chmod(path, 0o600)
    sock.listen(16)
    return trio.SocketListener(sock)


def _remove_stale_socket(path: Path) -> None:
    if not path.exists():
        return
    probe = stdlib_socket.socket(stdlib_socket.AF_UNIX, stdlib_socket.SOCK_STREAM)
    try:
        probe.connect(str(path))
    except OSError as exc:
        if exc.errno not in (errno.ECONNREFUSED, errno.ENOTSOCK, errno.ENOENT):
            raise
        path.unlink(missing_ok=True)  # left behind by a daemon that died
    else:
        raise ControlError(f"{path}: another shelfsync is already listening there")
    finally:
        probe.close()


async def _answer(stream: trio.abc.Stream, handler: Handler) -> None:
    async with stream:
        try:
            with trio.fail_after(10):
                request = msgspec.json.decode(await _read_line(stream), type=ControlRequest)
            response = await handler(request)
        except (msgspec.DecodeError, ValueError) as exc:
            response = ControlResponse(ok=False, lines=[f"bad request: {exc}"])
        except trio.TooSlowError:
            return
        try:
            await stream.send_all(msgspec.json.encode(response) + b"\n")
        except trio.BrokenResourceError:
            log.info("control_client_left")


async def _read_line(stream: trio.abc.Stream) -> bytes:
    data = b""
    while b"\n" not in data:
        chunk = await stream.receive_some(4096)
        if not chunk:
            break
        data += chunk
        if len(data) > MAX_REQUEST_BYTES:
            raise ValueError("request too large")
    return data.split(b"\n", 1)[0]


def request(path: str, req: ControlRequest, timeout: float = 30.0) -> ControlResponse:
    """Send one request to the daemon listening at ``path`` (blocking; for the CLI).

    Raises :class:`ControlError` when nothing answers there.
    """
    with stdlib_socket.socket(stdlib_socket.AF_UNIX, stdlib_socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        try:
            sock.connect(path)
            sock.sendall(msgspec.json.encode(req) + b"\n")
            data = b""
            while not data.endswith(b"\n"):
                chunk = sock.recv(65536)
                if not chunk:
                    break
                data += chunk
        except OSError as exc:
            raise ControlError(
                f"cannot reach the daemon at {path}: {exc.strerror or exc}"
            ) from None
    try:
        return msgspec.json.decode(data, type=ControlResponse)
    except msgspec.DecodeError as exc:
        raise ControlError(f"unexpected answer from {path}: {exc}") from None
