"""The ShipStation sandbox's rules that need no account state: the rate window, fault knobs,
error bodies and the parsing of V1's query parameters."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

import msgspec

from connectors.sandbox_faults import RateScale
from connectors.shipstation import pacific

Reply = tuple[int, Any]
PAGE_SIZE_MAX = 500
DATE_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d")


RATE_LIMIT = 40
"""Calls per fixed minute per key pair."""


class FixedWindow:
    """V1's limit: ``limit`` requests per ``window`` seconds per key pair, the window opening
    with the first request after the last one closed."""

    def __init__(self, limit: int = RATE_LIMIT, window: float = 60.0) -> None:
        self.limit = limit
        self.window = window
        self._opened: dict[str, tuple[float, int]] = {}

    def admit(self, key: str, now: float) -> tuple[bool, int, int]:
        """``(admitted, remaining, seconds until the window resets)``; a refused call is not
        counted. The reset is rounded up, so waiting it always reaches the next window."""
        opened, used = self._opened.get(key, (now, 0))
        if now >= opened + self.window:
            opened, used = now, 0
        reset = max(1, math.ceil(opened + self.window - now))
        if used >= self.limit:
            self._opened[key] = (opened, used)
            return False, 0, reset
        self._opened[key] = (opened, used + 1)
        return True, self.limit - used - 1, reset


class Faults(msgspec.Struct, forbid_unknown_fields=True):
    """Fault knobs, all off by default; randomness comes from the state's seeded generator."""

    error_rate: float = 0.0
    """Share of API calls answered 500 (ASP.NET's error shape)."""
    latency_ms: int = 0
    timeout_rate: float = 0.0
    """Share of API calls that hang for two minutes (trio time) and then answer 504."""
    throttle_burst: int = 0
    """The next N API calls are answered 429 regardless of the window."""
    duplicate_webhooks: bool = False
    """Deliver every webhook twice (the same body, so the same derived delivery id)."""
    out_of_order_webhooks: bool = False
    """Hold every other event to a subscription back by the first retry delay, so a later
    event overtakes it."""
    lose_markasshipped_replies: int = 0
    """The next N ``markasshipped`` calls take effect but answer 504, as a reply lost on the
    way back would look."""
    rate_scale: RateScale = 1.0
    """The fixed window admits :data:`RATE_LIMIT` calls a minute times this; setting it
    closes the window, so the next call opens an unused one."""


def message(text: str) -> dict[str, str]:
    """The OpenAPI's error body (400 validation, 401, 429)."""
    return {"message": text}


def aspnet(text: str, exception: str | None = None) -> dict[str, Any]:
    """The ASP.NET error body V1 answers business-rule refusals and server errors with."""
    return {
        "Message": text,
        "ExceptionMessage": exception,
        "ExceptionType": "System.Exception" if exception else None,
        "StackTrace": None,
    }


class QueryError(ValueError):
    """A query parameter that does not parse; the message is ShipStation's 400 text."""


def query_date(query: dict[str, str], name: str) -> datetime | None:
    """A date filter as an aware instant: ShipStation reads it as Pacific wall time."""
    value = query.get(name)
    if not value:
        return None
    for fmt in DATE_FORMATS:
        try:
            return pacific.aware(datetime.strptime(value, fmt))
        except ValueError:
            continue
    raise QueryError(f"The value '{value}' is not valid for {name}.")


def query_int(query: dict[str, str], name: str, default: int | None = None) -> int | None:
    value = query.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise QueryError(f"The value '{value}' is not valid for {name}.") from None


def paging(query: dict[str, str], default_size: int = 100) -> tuple[int, int]:
    """``(page, pageSize)``: page from 1, size from 1 to 500."""
    page = query_int(query, "page", 1) or 1
    size = query_int(query, "pageSize", default_size) or default_size
    if page < 1:
        raise QueryError("page must be 1 or more.")
    if not 1 <= size <= PAGE_SIZE_MAX:
        raise QueryError(f"pageSize must be between 1 and {PAGE_SIZE_MAX}.")
    return page, size


def page_of(items: list[Any], page: int, size: int) -> tuple[list[Any], int, int]:
    """``(items on the page, total, pages)``."""
    total = len(items)
    pages = math.ceil(total / size)  # 0 when nothing matches
    return items[(page - 1) * size : page * size], total, pages
