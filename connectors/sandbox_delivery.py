"""A sandbox's webhook delivery queue: attempts on trio's clock, retried on a bounded schedule.

The platform code builds each signed request (its headers, signature and body are platform
facts) and says when to first try it; this queue POSTs it when due, and after a failure tries
again ``retry_delays[n]`` seconds after the end of the n-th attempt, until ``retry_delays`` is
used up. Sleeps use trio's clock, so a test with a virtual clock runs a whole schedule at once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import Generic, TypeVar

import httpx
import trio

T = TypeVar("T")


@dataclass(frozen=True)
class SignedRequest:
    """One webhook POST, ready to send."""

    url: str
    headers: dict[str, str]
    body: bytes


@dataclass(frozen=True)
class Attempt:
    """What one attempt got: the receiver's status, or None and why it did not answer."""

    number: int
    """1 for the first try."""
    status: int | None
    error: str | None
    """The transport error's class name, ``"timeout"``, or None when there was an answer."""

    @property
    def delivered(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


@dataclass
class Job(Generic[T]):
    """A queued delivery: the platform's ``item`` and how to build its request (per attempt)."""

    item: T
    request: Callable[[], SignedRequest]
    due: float
    attempts: int = field(default=0)


class DeliveryQueue(Generic[T]):
    """Queued deliveries, sent by :meth:`run`; each attempt is reported to ``on_attempt``."""

    def __init__(
        self,
        *,
        retry_delays: Sequence[float],
        attempt_timeout: float,
        client_timeout: httpx.Timeout,
        on_attempt: Callable[[T, Attempt], None],
        delivered: Callable[[Attempt], bool] = lambda attempt: attempt.delivered,
    ) -> None:
        """``delivered`` says which answers end a delivery (default: any 2xx status); a
        platform that counts only ``200`` as received passes its own rule."""
        self.retry_delays: tuple[float, ...] = tuple(retry_delays)
        self.attempt_timeout = attempt_timeout
        self.client_timeout = client_timeout
        self.on_attempt = on_attempt
        self.delivered = delivered
        self.pending: list[Job[T]] = []
        self._changed: trio.Event | None = None

    def put(self, item: T, request: Callable[[], SignedRequest], *, delay: float = 0.0) -> None:
        """Queue ``item``, first tried ``delay`` seconds from now (a sync call)."""
        self.pending.append(Job(item, request, trio.current_time() + delay))
        self._wake()

    def _wake(self) -> None:
        if self._changed is not None:
            self._changed.set()

    async def run(
        self,
        http: httpx.AsyncClient | None = None,
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Deliver queued jobs until cancelled; ``started()`` once it is listening.

        ``http`` is used (not closed) when given, so tests can route deliveries in process;
        otherwise a client is opened and closed here.
        """
        async with AsyncExitStack() as stack:
            if http is None:
                http = await stack.enter_async_context(
                    httpx.AsyncClient(timeout=self.client_timeout)
                )
            # The nursery closes before the client: no attempt outlives the client it uses.
            async with trio.open_nursery() as nursery:
                task_status.started()
                while True:
                    self._changed = trio.Event()
                    now = trio.current_time()
                    due = [job for job in self.pending if job.due <= now]
                    for job in due:
                        self.pending.remove(job)
                        nursery.start_soon(self._attempt, http, job)
                    upcoming = min((job.due for job in self.pending), default=None)
                    with trio.move_on_at(upcoming if upcoming is not None else float("inf")):
                        await self._changed.wait()

    async def _attempt(self, http: httpx.AsyncClient, job: Job[T]) -> None:
        job.attempts += 1
        request = job.request()
        status: int | None = None
        error: str | None = None
        with trio.move_on_after(self.attempt_timeout) as scope:
            try:
                response = await http.post(
                    request.url, content=request.body, headers=request.headers
                )
                status = response.status_code
            except httpx.HTTPError as exc:
                error = type(exc).__name__
        if scope.cancelled_caught:
            error = "timeout"
        attempt = Attempt(job.attempts, status, error)
        self.on_attempt(job.item, attempt)
        if not self.delivered(attempt) and job.attempts <= len(self.retry_delays):
            job.due = trio.current_time() + self.retry_delays[job.attempts - 1]
            self.pending.append(job)
            self._wake()
