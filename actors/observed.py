"""Every outbound call of a channel, counted and timed: what its API metrics are made of.

:func:`observe_calls` hooks into the channel's HTTP client, so each connector's requests are
measured without the connector doing anything: requests by status, and the time from sending
a request to its response headers.
"""

from __future__ import annotations

import httpx
import trio

from metrics import Metrics

_STARTED = "shelfsync.started"


def observe_calls(http: httpx.AsyncClient, channel: str, metrics: Metrics) -> None:
    """Count and time every request ``http`` makes, under ``channel``."""
    requests = metrics.api_requests
    duration = metrics.api_request_duration.labels(channel)

    async def started(request: httpx.Request) -> None:
        request.extensions[_STARTED] = trio.current_time()

    async def answered(response: httpx.Response) -> None:
        requests.labels(channel, str(response.status_code)).inc()
        began = response.request.extensions.get(_STARTED)
        if began is not None:
            duration.observe(trio.current_time() - began)

    http.event_hooks["request"].append(started)
    http.event_hooks["response"].append(answered)
