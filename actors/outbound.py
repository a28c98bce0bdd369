"""Every outbound request of a channel, bounded: at most so many at once, each within a deadline.

:func:`bound_calls` wraps the channel's HTTP client, so every request any connector makes
through it (reads, writes, token refreshes) is limited without the connector doing anything:

- at most ``limit`` requests of the channel are in flight at once; the others wait their turn
  (first come, first served) before they are sent;
- each request, once sent, must have its response headers within ``timeout`` seconds (Trio
  time), whatever the transport, or it fails with :class:`httpx.TimeoutException`, which the
  connectors report as retryable. The client's own httpx timeouts (connect, read, write,
  pool) still apply within it; this deadline also bounds a peer that trickles bytes forever
  or a transport that has none (the in-process ASGI transport).
"""

from __future__ import annotations

from typing import Any

import httpx
import trio


def bound_calls(http: httpx.AsyncClient, *, limit: int, timeout: float) -> None:
    """Limit ``http``'s concurrent requests to ``limit`` and each to ``timeout`` seconds."""
    in_flight = trio.CapacityLimiter(limit)
    send = http.send

    async def bounded_send(request: httpx.Request, **kwargs: Any) -> httpx.Response:
        async with in_flight:
            with trio.move_on_after(timeout):
                return await send(request, **kwargs)
        raise httpx.TimeoutException(f"no response within {timeout:g}s of sending", request=request)

    # Every request of the client (request, get, post, stream...) goes through ``send``, and
    # the client comes ready-made from the daemon's factory (or a test's), so this is the one
    # place that sees them all whatever transport the factory chose.
    http.send = bounded_send  # type: ignore[method-assign]
