"""A per-channel rate limiter, shaped as the platform counts, fed by its own signals.

:class:`RateLimiter` is a token bucket: tokens come back at the platform's documented rate,
up to its burst. :class:`SlidingWindowLimiter` is for a platform that counts calls in a
sliding window instead (Wix, ShipBob: so many a minute): any ``burst`` calls may go at once,
and each further one when the oldest has left the window, which a bucket refilling at the
same rate would spread over the whole minute. Either starts from the documented rate and
burst; each response may then say more (requests left, seconds to reset, Retry-After), and
the limiter believes the platform: it never spends more than the platform says remain, and a
Retry-After or an empty window blocks every caller until it has passed.

What a response says remains was true when the platform counted that call, before the calls
sent since had reached it. So each call is held as :meth:`RateLimiter.sent` while it is in
flight, and a report read through it (:meth:`SentCall.observe`) counts the others in flight
as spent: believing the figure alone would hand their units out a second time, and the next
large call would be throttled.
"""

from __future__ import annotations

import bisect
import itertools
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager

import msgspec
import trio

from connectors.base import RateSignal

_ROUNDING = 1e-9
TRAVEL_SLACK = 1.0
"""Seconds a sliding window holds each unit beyond the platform's own window."""
_SPREAD = 10
"""Parts in which a sliding window counts units spent elsewhere (see ``_spend_elsewhere``)."""


class RateLimiterStatistics(msgspec.Struct, frozen=True):
    tokens: float
    rate: float
    waiting: int
    blocked_for: float


class RateLimiter:
    def __init__(self, rate: float, burst: float) -> None:
        if rate <= 0 or burst <= 0:
            raise ValueError("rate and burst must be positive")
        self._rate = rate
        self._burst = burst
        self._tokens = burst
        self._updated = trio.current_time()
        self._blocked_until = self._updated
        self._waiting = 0
        self._lock = trio.Lock()  # first come, first served: one waiter at the head at a time
        self._numbers = itertools.count(1)
        self._in_flight: dict[int, float] = {}
        """The cost of each call sent and not yet answered, by the order it was sent in."""
        self._level_from = 0
        """The call whose reported bucket level was believed last (0: none yet)."""
        self._window_left = 0.0
        self._window_ends = self._updated
        """What the platform's window has left for us until it ends, as last reported (minus
        what was spent since): however much the bucket refills meanwhile, no more goes."""

    async def acquire(self, cost: float = 1.0) -> None:
        """Wait until ``cost`` tokens are available, then take them. Cancellation-safe.

        A cost above the burst waits for a full bucket and empties it.
        """
        cost = min(cost, self._burst)
        self._waiting += 1
        try:
            async with self._lock:
                while True:
                    self._refill()
                    now = trio.current_time()
                    if now < self._blocked_until:
                        await trio.sleep_until(self._blocked_until)
                        continue
                    # The tolerance absorbs float rounding in the refill; without it a bucket
                    # short by 1e-16 tokens would sleep for times too small to pass.
                    if self._tokens >= cost - _ROUNDING:
                        self._spend(cost)
                        return
                    # A moment, not a duration: the clock moves on between two readings,
                    # and a wait computed from an earlier one can be past already.
                    await trio.sleep_until(self._ready_at(cost))
        finally:
            self._waiting -= 1

    @contextmanager
    def sent(self, cost: float = 1.0) -> Iterator[SentCall]:
        """Hold a call of ``cost`` (acquired already) as in flight while the block sends it
        and reads its answer; what the answer says is to be observed through the call."""
        number = next(self._numbers)
        self._in_flight[number] = min(cost, self._burst)
        try:
            yield SentCall(self, number)
        finally:
            del self._in_flight[number]

    def observe(self, signal: RateSignal) -> None:
        """Believe what the platform said, not knowing which call it answered: as if it had
        counted none of the calls in flight."""
        self._observe(signal, None)

    def _observe(self, signal: RateSignal, call: int | None) -> None:
        """What the platform said in its answer to ``call`` (None: not known), counting the
        calls in flight besides it as spent after the platform counted."""
        now = trio.current_time()
        self._refill()
        unseen = sum(cost for number, cost in self._in_flight.items() if number != call)
        if signal.retry_after is not None:
            self._blocked_until = max(self._blocked_until, now + signal.retry_after)
        if signal.restore_rate is not None and signal.remaining is not None:
            # A leaky bucket reported whole: its level (refunds of unused cost included), its
            # size and its rate are the truth, whatever we assumed from the plan. Unless the
            # answer is to a call sent before one whose level is believed already: the platform
            # counted that later call after this one, so this level leaves it out.
            if call is None or call > self._level_from:
                if call is not None:
                    self._level_from = call
                self._rate = signal.restore_rate
                self._burst = signal.limit if signal.limit is not None else self._burst
                self._tokens = min(self._burst, signal.remaining - unseen)
        elif signal.remaining is not None:
            # A window count only ever lowers what we spend: trusting it upwards would burst
            # through a sliding window that paces evenly.
            room_in = signal.retry_after if signal.retry_after is not None else signal.reset_after
            left = signal.remaining - unseen
            self._lower_to(left, signal.limit, room_in)
            if left <= 0 and signal.reset_after is not None:
                self._blocked_until = max(self._blocked_until, now + signal.reset_after)

    def statistics(self) -> RateLimiterStatistics:
        self._refill()
        return RateLimiterStatistics(
            tokens=self._tokens,
            rate=self._rate,
            waiting=self._waiting,
            blocked_for=max(0.0, self._blocked_until - trio.current_time()),
        )

    def _refill(self) -> None:
        now = trio.current_time()
        self._tokens = min(self._burst, self._tokens + (now - self._updated) * self._rate)
        if now < self._window_ends:
            self._tokens = min(self._tokens, self._window_left)
        self._updated = now

    def _spend(self, cost: float) -> None:
        self._tokens = max(0.0, self._tokens - cost)
        self._window_left -= cost

    def _ready_at(self, cost: float) -> float:
        """When ``cost`` tokens are there, if nothing else is spent meanwhile (just after a
        refill)."""
        if self._updated < self._window_ends and self._window_left < cost - _ROUNDING:
            return self._window_ends
        return self._updated + (cost - self._tokens) / self._rate

    def _lower_to(self, remaining: float, limit: float | None, room_in: float | None) -> None:
        """Spend no more than ``remaining``, of the platform's ``limit``, which says there is
        room again in ``room_in`` seconds (None: it does not say): until then, not even what
        the bucket refills (a fixed window gives nothing back before it ends)."""
        self._tokens = min(self._tokens, remaining)
        if room_in is not None:
            self._window_left = remaining
            self._window_ends = trio.current_time() + room_in


class SentCall:
    """A call in flight (see :meth:`RateLimiter.sent`)."""

    __slots__ = ("_limiter", "_number")

    def __init__(self, limiter: RateLimiter, number: int) -> None:
        self._limiter = limiter
        self._number = number

    def observe(self, signal: RateSignal) -> None:
        """Believe what the platform said in its answer to this call."""
        self._limiter._observe(signal, self._number)


def shaped_limiter(rate: float, burst: float, *, sliding_window: bool) -> RateLimiter:
    """The limiter of a platform that counts as ``sliding_window`` says (see
    :attr:`connectors.base.ConnectorSpec.sliding_window`)."""
    return SlidingWindowLimiter(rate, burst) if sliding_window else RateLimiter(rate, burst)


class SlidingWindowLimiter(RateLimiter):
    """At most ``burst`` units spent in any ``burst / rate`` seconds: the platform's sliding
    window, so a backlog spends the whole window at once and then each unit as one leaves it.

    The window starts empty, as after a quiet spell; a platform that says fewer calls remain
    (calls this limiter did not make: before a restart, or another client's) is believed, by
    counting the difference as spent, at times not known: the first of those units leave the
    window when the platform says there is room again (ShipBob's ``x-retry-after`` on a 429),
    the rest evenly until a whole window from now. A unit leaves this window :data:`TRAVEL_SLACK`
    seconds after it would leave the platform's: a call let through now may reach the
    platform a little later (behind the channel's other requests), and is counted there when
    it arrives.
    """

    def __init__(self, rate: float, burst: float) -> None:
        super().__init__(rate, burst)
        self._window = burst / rate + TRAVEL_SLACK
        self._spent: deque[tuple[float, float]] = deque()
        """When each unit still in the window was spent, and how many, oldest first."""

    def _refill(self) -> None:
        now = trio.current_time()
        while self._spent and self._spent[0][0] + self._window <= now + _ROUNDING:
            self._tokens += self._spent.popleft()[1]
        if not self._spent:
            self._tokens = self._burst  # no rounding left over from the sums
        self._updated = now

    def _spend(self, cost: float) -> None:
        self._spent.append((trio.current_time(), cost))
        self._tokens -= cost

    def _ready_at(self, cost: float) -> float:
        # The units leave the window oldest first: wait for the one whose leaving makes room
        # (there is one, since cost <= burst and every unit in the window leaves it).
        missing = cost - self._tokens
        room_at = self._updated
        for spent_at, spent in self._spent:
            room_at, missing = spent_at + self._window, missing - spent
            if missing <= _ROUNDING:
                break
        return room_at

    def _lower_to(self, remaining: float, limit: float | None, room_in: float | None) -> None:
        # The platform counts down from its own limit; this window keeps a margin below it,
        # which calls made elsewhere must not use up.
        margin = max(0.0, limit - self._burst) if limit is not None else 0.0
        left = max(remaining - margin, 0.0)
        if left < self._tokens:
            self._spend_elsewhere(self._tokens - left, room_in)
            self._tokens = left

    def _spend_elsewhere(self, units: float, room_in: float | None) -> None:
        """Count ``units`` as spent by calls this limiter did not make, at times it does not
        know: the first of them leave when the platform says there is room again, the rest
        evenly until a whole window from now (each 429 would otherwise hold the window a
        whole minute after asking for a second, or free it all at once)."""
        now = trio.current_time()
        first = self._window if room_in is None else min(room_in, self._window)
        share = units / _SPREAD
        for index in range(_SPREAD):
            leaves = first + (self._window - first) * index / _SPREAD
            bisect.insort(self._spent, (now + leaves - self._window, share))
