"""A per-channel token bucket, fed by the platform's own rate-limit signals.

The bucket starts from the platform's documented rate and burst; each response may then say
more (requests left, seconds to reset, Retry-After), and the bucket believes the platform:
it never holds more tokens than the platform says remain, and a Retry-After or an empty
window blocks every caller until it has passed.
"""

from __future__ import annotations

import msgspec
import trio

from connectors.base import RateSignal

_ROUNDING = 1e-9


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
                        self._tokens = max(0.0, self._tokens - cost)
                        return
                    await trio.sleep((cost - self._tokens) / self._rate)
        finally:
            self._waiting -= 1

    def observe(self, signal: RateSignal) -> None:
        now = trio.current_time()
        self._refill()
        if signal.retry_after is not None:
            self._blocked_until = max(self._blocked_until, now + signal.retry_after)
        if signal.restore_rate is not None and signal.remaining is not None:
            # A leaky bucket reported whole: its level (refunds of unused cost included), its
            # size and its rate are the truth, whatever we assumed from the plan.
            self._rate = signal.restore_rate
            self._burst = signal.limit if signal.limit is not None else self._burst
            self._tokens = min(self._burst, signal.remaining)
        elif signal.remaining is not None:
            # A window count only ever lowers what we spend: trusting it upwards would burst
            # through a sliding window that paces evenly.
            self._tokens = min(self._tokens, signal.remaining)
            if signal.remaining <= 0 and signal.reset_after is not None:
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
        self._updated = now
