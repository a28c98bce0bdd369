"""What every platform client does with HTTP: map transport failures and statuses to our errors.

No httpx exception leaves a connector: :func:`translate_errors` wraps each call, and
:func:`check_status` classifies a response by what the caller can do about it. Platform clients
add their own reading of error bodies on top (validation messages, throttle details).
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TypeVar, cast

import httpx
import trio

from connectors.base import decode_strictly
from connectors.errors import AuthFailed, RateLimited, Retryable

T = TypeVar("T")

READ_ATTEMPTS = 3
"""Tries of one read request before its failure is the whole read's (see :func:`read_retried`)."""
READ_BACKOFF = 0.25
"""Seconds: the ceiling of the first wait between tries of a read request, doubled after each."""


@contextmanager
def translate_errors(what: str) -> Iterator[None]:
    """Turn httpx's request errors inside the block into :class:`Retryable`."""
    try:
        yield
    except httpx.TimeoutException as exc:
        raise Retryable(f"{what}: timed out ({type(exc).__name__})") from exc
    except httpx.RequestError as exc:
        # Transport failures, but also a body that fails to decode (a proxy's corrupt gzip)
        # or a redirect loop: none is this record's fault, all may pass on a later try.
        raise Retryable(f"{what}: {type(exc).__name__}: {exc}") from exc


def retry_after_seconds(response: httpx.Response, *headers: str) -> float | None:
    """The first of ``headers`` (default ``Retry-After``) that holds a number of seconds."""
    for name in headers or ("retry-after",):
        value = response.headers.get(name)
        if value is not None:
            try:
                return max(0.0, float(value))
            except ValueError:
                continue
    return None


def check_status(response: httpx.Response, what: str, *retry_after_headers: str) -> None:
    """Raise for the statuses every platform shares the meaning of; return for the rest.

    429 → :class:`RateLimited` (with the platform's wait), 5xx → :class:`Retryable`,
    401/403 → :class:`AuthFailed`. Other 4xx are the platform client's to read.
    """
    status = response.status_code
    if status == 429:
        wait = retry_after_seconds(response, *retry_after_headers)
        raise RateLimited(f"{what}: throttled (429)", retry_after=wait)
    if status >= 500:
        raise Retryable(f"{what}: server error {status}")
    if status in (401, 403):
        raise AuthFailed(f"{what}: {status} {response.reason_phrase}")


def decode_body(content: bytes, type_: type[T], what: str, entity: str) -> T:
    """A response body (JSON) strictly as ``type_``; one that does not decode is a
    ``RecordError`` about ``entity`` (reason ``schema``) whose message names the field path."""
    return decode_strictly(content, type_, what=f"{what}: unexpected payload", entity=entity)


async def read_retried(send: Callable[[], Awaitable[T]]) -> T:
    """``send()``, a request that only reads, tried again (after a short jittered wait) when it
    fails in a way a later try may not: a server error, a timeout, a transport failure.

    For a read whose records each take several calls (a BigCommerce order: the order, its
    lines, its addresses): the channel's own retries start the read again from its cursor, so
    without these a page of a hundred calls would pass only if all of them passed at once.
    A throttled request (:class:`RateLimited`) is not tried again here: the channel's limiter
    and retries wait as the platform asks, and count it.
    """
    failures = 0
    while True:
        try:
            return await send()
        except RateLimited:
            raise
        except Retryable:
            failures += 1
            if failures == READ_ATTEMPTS:
                raise
            await trio.sleep(random.uniform(0, READ_BACKOFF * 2 ** (failures - 1)))


async def side_by_side(calls: Sequence[Callable[[], Awaitable[T]]]) -> list[T]:
    """Every call's result, in the order of ``calls``, the calls made side by side (what bounds
    the requests in flight is the channel's HTTP client). The first to fail stops the others,
    and its exception is raised as it is (not in a group), so the actor classifies it as if
    the calls had been made one after the other."""
    results: list[T | None] = [None] * len(calls)
    failures: list[Exception] = []

    async def make(index: int, call: Callable[[], Awaitable[T]]) -> None:
        try:
            results[index] = await call()
        except Exception as exc:  # re-raised below, unwrapped
            failures.append(exc)
            nursery.cancel_scope.cancel()

    async with trio.open_nursery() as nursery:
        for index, call in enumerate(calls):
            nursery.start_soon(make, index, call)
    if failures:
        raise failures[0]
    return cast(list[T], results)
