"""RateLimiter under virtual time (the autojump clock): every wait is exact and instant."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
import trio
import trio.testing
from hypothesis import given, settings
from hypothesis import strategies as st

from actors.ratelimit import (
    TRAVEL_SLACK,
    RateLimiter,
    RateLimiterStatistics,
    SentCall,
    SlidingWindowLimiter,
)
from connectors.base import RateSignal

FROZEN_STEPS_LIMIT = 10_000
"""Scheduler steps allowed at one virtual time before a test is failed as livelocked."""


class FrozenClockGuard(trio.abc.Instrument):
    """Notices tasks that keep running while the clock never moves.

    Under the autojump clock, virtual time only advances when every task is blocked; a task
    that keeps sleeping for less than the clock's resolution never blocks, so time, and every
    timeout, stand still forever. This turns such a hang into a test failure.
    """

    def __init__(self) -> None:
        self.tripped = trio.Event()
        self.frozen_at: float | None = None
        self._last: float | None = None
        self._steps = 0

    def before_io_wait(self, timeout: float) -> None:
        self._tick()

    def before_task_step(self, task: trio.lowlevel.Task) -> None:
        self._tick()

    def _tick(self) -> None:
        now = trio.current_time()
        if now != self._last:
            self._last, self._steps = now, 0
            return
        self._steps += 1
        if self._steps == FROZEN_STEPS_LIMIT:
            self.frozen_at = now
            self.tripped.set()


@pytest.fixture
async def livelock_guard() -> AsyncIterator[None]:
    """Fails the test, instead of hanging it, if virtual time stops moving.

    pytest-trio only runs the async fixtures a test names, so every test here asks for it.
    """
    guard = FrozenClockGuard()

    async def fail_when_tripped() -> None:
        await guard.tripped.wait()
        raise AssertionError(
            f"livelock: {FROZEN_STEPS_LIMIT} scheduler steps at virtual time"
            f" {guard.frozen_at!r} without the clock moving"
        )

    trio.lowlevel.add_instrument(guard)
    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(fail_when_tripped)
            yield
            nursery.cancel_scope.cancel()
    finally:
        trio.lowlevel.remove_instrument(guard)


@pytest.mark.parametrize(("rate", "burst"), [(0, 1), (1, 0), (-1, 1), (1, -1)])
async def test_rate_and_burst_must_be_positive(rate: float, burst: float) -> None:
    with pytest.raises(ValueError):
        RateLimiter(rate, burst)


@pytest.mark.parametrize(
    ("rate", "burst", "n"),
    [
        # Rates whose intervals are exact in binary floating point.
        (1.0, 1.0, 5),
        (2.0, 5.0, 15),
        (8.0, 3.0, 23),
        (0.5, 2.0, 6),
        (4.0, 4.0, 4),
        (3.0, 1.0, 1),
        (64.0, 16.0, 200),
        # Intervals inexact in binary floating point: the refill can leave the bucket a few ulps
        # short of a token, which must not turn into sleeps too short to move the clock (a
        # livelock under virtual time, seen before the limiter tolerated rounding).
        (10.0, 3.0, 23),  # formerly stuck at the 16th acquisition, t = 0.6
        (3.0, 3.0, 12),  # formerly stuck at the 7th, t = 1.3333333333333333
        (40.0, 40.0, 50),  # tests.fakeplatform's rate and burst: formerly stuck at t = 0.15
        (5.0, 5.0, 60),
        (0.3, 1.0, 10),
        (100.0, 1.0, 500),
    ],
)
async def test_acquisitions_beyond_the_burst_take_exactly_their_share_of_time(
    autojump_clock: trio.testing.MockClock, livelock_guard: None, rate: float, burst: float, n: int
) -> None:
    limiter = RateLimiter(rate, burst)
    start = trio.current_time()
    for _ in range(n):
        await limiter.acquire()
    assert trio.current_time() - start == pytest.approx(max(0, n - burst) / rate)


async def test_the_burst_is_immediate_and_the_next_waits_one_interval(
    autojump_clock: trio.testing.MockClock,
    livelock_guard: None,
) -> None:
    limiter = RateLimiter(rate=4.0, burst=3.0)
    start = trio.current_time()
    times = []
    for _ in range(5):
        await limiter.acquire()
        times.append(trio.current_time() - start)
    assert times == pytest.approx([0.0, 0.0, 0.0, 0.25, 0.5])


async def test_concurrent_acquisitions_share_the_rate(
    autojump_clock: trio.testing.MockClock,
    livelock_guard: None,
) -> None:
    limiter = RateLimiter(rate=4.0, burst=2.0)
    start = trio.current_time()
    async with trio.open_nursery() as nursery:
        for _ in range(12):
            nursery.start_soon(limiter.acquire)
    assert trio.current_time() - start == pytest.approx((12 - 2) / 4.0)


async def test_a_cost_above_the_burst_waits_for_a_full_bucket_and_empties_it(
    autojump_clock: trio.testing.MockClock, livelock_guard: None
) -> None:
    limiter = RateLimiter(rate=2.0, burst=4.0)
    await limiter.acquire(4.0)
    start = trio.current_time()
    with trio.fail_after(60):  # virtual seconds: a bucket that can never hold 10 must not hang
        await limiter.acquire(10.0)
    assert trio.current_time() - start == pytest.approx(2.0)
    assert limiter.statistics().tokens == pytest.approx(0.0)
    await limiter.acquire()
    assert trio.current_time() - start == pytest.approx(2.5)


async def test_cost_takes_that_many_tokens(
    autojump_clock: trio.testing.MockClock, livelock_guard: None
) -> None:
    limiter = RateLimiter(rate=2.0, burst=4.0)
    start = trio.current_time()
    await limiter.acquire(4.0)
    assert trio.current_time() - start == pytest.approx(0.0)
    await limiter.acquire(3.0)
    assert trio.current_time() - start == pytest.approx(1.5)


async def test_idle_time_refills_up_to_the_burst_only(
    autojump_clock: trio.testing.MockClock,
    livelock_guard: None,
) -> None:
    limiter = RateLimiter(rate=1.0, burst=2.0)
    await limiter.acquire(2.0)
    await trio.sleep(100)  # would be 100 tokens without the burst cap
    assert limiter.statistics().tokens == pytest.approx(2.0)
    start = trio.current_time()
    for _ in range(4):
        await limiter.acquire()
    assert trio.current_time() - start == pytest.approx(2.0)


async def test_retry_after_blocks_the_next_acquire(
    autojump_clock: trio.testing.MockClock,
    livelock_guard: None,
) -> None:
    limiter = RateLimiter(rate=8.0, burst=8.0)  # plenty of tokens: only the block delays
    start = trio.current_time()
    limiter.observe(RateSignal(retry_after=5))
    await limiter.acquire()
    assert trio.current_time() - start == pytest.approx(5.0)
    await limiter.acquire()  # the block has passed, tokens remain
    assert trio.current_time() - start == pytest.approx(5.0)


async def test_retry_after_blocks_every_caller(
    autojump_clock: trio.testing.MockClock, livelock_guard: None
) -> None:
    limiter = RateLimiter(rate=8.0, burst=8.0)
    start = trio.current_time()
    limiter.observe(RateSignal(retry_after=5))
    passed: list[float] = []

    async def call() -> None:
        await limiter.acquire()
        passed.append(trio.current_time() - start)

    async with trio.open_nursery() as nursery:
        for _ in range(3):
            nursery.start_soon(call)
    assert passed == pytest.approx([5.0, 5.0, 5.0])


async def test_retry_after_never_shortens_an_existing_block(
    autojump_clock: trio.testing.MockClock,
    livelock_guard: None,
) -> None:
    limiter = RateLimiter(rate=8.0, burst=8.0)
    start = trio.current_time()
    limiter.observe(RateSignal(retry_after=5))
    limiter.observe(RateSignal(retry_after=1))
    await limiter.acquire()
    assert trio.current_time() - start == pytest.approx(5.0)


async def test_retry_after_observed_while_waiting_extends_the_wait(
    autojump_clock: trio.testing.MockClock,
    livelock_guard: None,
) -> None:
    limiter = RateLimiter(rate=8.0, burst=8.0)
    start = trio.current_time()
    limiter.observe(RateSignal(retry_after=2))
    done: list[float] = []

    async def call() -> None:
        await limiter.acquire()
        done.append(trio.current_time() - start)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(call)
        await trio.sleep(1)
        limiter.observe(RateSignal(retry_after=4))  # now until t = 5
    assert done == pytest.approx([5.0])


async def test_empty_window_blocks_until_it_resets(
    autojump_clock: trio.testing.MockClock,
    livelock_guard: None,
) -> None:
    limiter = RateLimiter(rate=2.0, burst=5.0)
    start = trio.current_time()
    limiter.observe(RateSignal(remaining=0, reset_after=3))
    assert limiter.statistics().tokens == 0
    await limiter.acquire()
    assert trio.current_time() - start == pytest.approx(3.0)


async def test_reset_after_without_an_empty_window_does_not_block(
    autojump_clock: trio.testing.MockClock,
    livelock_guard: None,
) -> None:
    limiter = RateLimiter(rate=2.0, burst=5.0)
    start = trio.current_time()
    limiter.observe(RateSignal(remaining=3, reset_after=30))
    for _ in range(3):
        await limiter.acquire()
    assert trio.current_time() - start == pytest.approx(0.0)
    assert limiter.statistics().blocked_for == 0.0


async def test_empty_window_without_reset_waits_for_a_token(
    autojump_clock: trio.testing.MockClock,
    livelock_guard: None,
) -> None:
    limiter = RateLimiter(rate=4.0, burst=5.0)
    start = trio.current_time()
    limiter.observe(RateSignal(remaining=0))
    await limiter.acquire()
    assert trio.current_time() - start == pytest.approx(0.25)


async def test_remaining_caps_tokens(
    autojump_clock: trio.testing.MockClock, livelock_guard: None
) -> None:
    limiter = RateLimiter(rate=1.0, burst=10.0)
    limiter.observe(RateSignal(remaining=2))
    assert limiter.statistics().tokens == pytest.approx(2.0)
    start = trio.current_time()
    await limiter.acquire()
    await limiter.acquire()
    assert trio.current_time() - start == pytest.approx(0.0)
    await limiter.acquire()
    assert trio.current_time() - start == pytest.approx(1.0)


async def test_remaining_never_raises_tokens(
    autojump_clock: trio.testing.MockClock, livelock_guard: None
) -> None:
    limiter = RateLimiter(rate=1.0, burst=3.0)
    await limiter.acquire(3.0)
    limiter.observe(RateSignal(remaining=100))
    assert limiter.statistics().tokens == pytest.approx(0.0)
    start = trio.current_time()
    await limiter.acquire()
    assert trio.current_time() - start == pytest.approx(1.0)


async def test_a_reported_bucket_is_adopted_whole_refunds_included(
    autojump_clock: trio.testing.MockClock, livelock_guard: None
) -> None:
    limiter = RateLimiter(rate=100.0, burst=2000.0)
    await limiter.acquire(1500.0)  # requested cost, taken up front
    # The platform charged less than requested and says its bucket now holds 1900 of 20000,
    # refilling at 1000/s (a bigger plan than the default assumed).
    limiter.observe(RateSignal(remaining=1900, limit=20000, restore_rate=1000.0))
    stats = limiter.statistics()
    assert (stats.tokens, stats.rate) == (pytest.approx(1900.0), 1000.0)
    start = trio.current_time()
    await limiter.acquire(1900.0)
    assert trio.current_time() - start == pytest.approx(0.0)
    await limiter.acquire(5000.0)
    assert trio.current_time() - start == pytest.approx(5.0)


@asynccontextmanager
async def two_sent(limiter: RateLimiter, cost: float) -> AsyncIterator[tuple[SentCall, SentCall]]:
    """Two calls of ``cost`` let through and sent one after the other, neither answered."""
    await limiter.acquire(cost)
    with limiter.sent(cost) as first:
        await limiter.acquire(cost)
        with limiter.sent(cost) as second:
            yield first, second


async def test_a_reported_bucket_counts_the_calls_still_in_flight(
    autojump_clock: trio.testing.MockClock, livelock_guard: None
) -> None:
    # Two lookups of 202 points sent side by side; the platform answers the first before the
    # second reaches it. Believing its level alone would hand out the second's points again,
    # and a page of 956 sent at once would be throttled.
    limiter = RateLimiter(rate=100.0, burst=2000.0)
    async with two_sent(limiter, 202.0) as (first, _):
        first.observe(RateSignal(remaining=1130, limit=2000, restore_rate=100.0))
        assert limiter.statistics().tokens == pytest.approx(928.0)
    start = trio.current_time()
    await limiter.acquire(956.0)
    assert trio.current_time() - start == pytest.approx(0.28)


async def test_a_level_reported_to_an_earlier_call_after_a_later_ones_is_not_believed(
    autojump_clock: trio.testing.MockClock, livelock_guard: None
) -> None:
    # Answers came back out of order: the later call's level counts both calls (the limiter
    # cannot know that of the earlier one, still in flight, so it counts it once more, until
    # the next answer); the earlier call's level leaves the later call out: not believed.
    limiter = RateLimiter(rate=100.0, burst=2000.0)
    async with two_sent(limiter, 300.0) as (earlier, later):
        later.observe(RateSignal(remaining=500, limit=2000, restore_rate=100.0))
        assert limiter.statistics().tokens == pytest.approx(200.0)
        earlier.observe(RateSignal(remaining=800, limit=2000, restore_rate=100.0))
        assert limiter.statistics().tokens == pytest.approx(200.0)


async def test_a_window_count_counts_the_calls_still_in_flight(
    autojump_clock: trio.testing.MockClock, livelock_guard: None
) -> None:
    # Three calls in flight near a fixed window's end; the first's answer says two remain.
    # The other two take them: a fourth call must wait for the window to reset.
    limiter = RateLimiter(rate=5.0, burst=20.0)
    start = trio.current_time()
    with limiter.sent() as first, limiter.sent(), limiter.sent():
        first.observe(RateSignal(remaining=2, limit=150, reset_after=3.0))
    assert limiter.statistics().tokens == pytest.approx(0.0)
    await limiter.acquire()
    assert trio.current_time() - start == pytest.approx(3.0)


async def test_what_a_window_has_left_bounds_the_bucket_until_the_window_ends(
    autojump_clock: trio.testing.MockClock, livelock_guard: None
) -> None:
    # One call left in a fixed window that ends in 3 s: the bucket refills a call every
    # 0.2 s meanwhile, but the platform would refuse each of them.
    limiter = RateLimiter(rate=5.0, burst=20.0)
    start = trio.current_time()
    limiter.observe(RateSignal(remaining=1, limit=150, reset_after=3.0))
    await limiter.acquire()
    assert trio.current_time() - start == pytest.approx(0.0)
    await limiter.acquire()
    assert trio.current_time() - start == pytest.approx(3.0)
    # A new window: what the bucket refilled meanwhile goes at once.
    for _ in range(14):
        await limiter.acquire()
    assert trio.current_time() - start == pytest.approx(3.0)


class TickingClock(trio.abc.Clock):
    """Virtual time that also moves on by ``tick`` at every reading, as a real clock does
    between two readings; it jumps to the next deadline whenever every task waits."""

    START = 193_554.123
    """Where it starts: a reading as large as a real clock's, so its sums round as theirs do."""

    def __init__(self, tick: float) -> None:
        self.now = self.START
        self.tick = tick

    def start_clock(self) -> None:
        """Nothing to start: the time moves when it is read, and when every task waits."""

    def current_time(self) -> float:
        self.now += self.tick
        return self.now

    def deadline_to_sleep_time(self, deadline: float) -> float:
        self.now = max(self.now, deadline)
        return 0.0


@pytest.mark.parametrize("limiter_type", [RateLimiter, SlidingWindowLimiter])
def test_a_wait_is_never_negative_though_the_clock_moves_between_readings(
    limiter_type: type[RateLimiter],
) -> None:
    # A unit leaving the window between the refill's reading and the wait's once made the
    # wait negative, and trio.sleep raised: the actor crashed in the middle of a backlog.
    async def callers() -> None:
        limiter = limiter_type(rate=2.0, burst=4.0)

        async def caller(pauses: list[float]) -> None:
            for pause in pauses:
                await limiter.acquire()
                await trio.sleep(pause)

        async with trio.open_nursery() as nursery:
            for seed in range(3):
                rng = random.Random(seed)
                nursery.start_soon(caller, [rng.choice([0.0, 0.001, 0.3]) for _ in range(50)])

    clock = TickingClock(tick=1e-9)
    trio.run(callers, clock=clock)
    assert clock.now - clock.START > (150 - 4) / 2.0  # 150 units at 2 a second, but a burst


async def test_a_sliding_window_counts_calls_made_elsewhere_besides_its_own_in_flight(
    autojump_clock: trio.testing.MockClock, livelock_guard: None
) -> None:
    # Three calls of this limiter sent; when the platform answers the first, another client
    # has made ten: the platform counts 11 and will count 13, so 137 are left, not 139.
    limiter = SlidingWindowLimiter(rate=2.5, burst=150.0)
    for _ in range(3):
        await limiter.acquire()
    with limiter.sent() as first, limiter.sent(), limiter.sent():
        first.observe(RateSignal(remaining=139, limit=150))
    assert limiter.statistics().tokens == pytest.approx(137.0)


async def test_statistics_fields(
    autojump_clock: trio.testing.MockClock, livelock_guard: None
) -> None:
    limiter = RateLimiter(rate=2.0, burst=3.0)
    assert limiter.statistics() == RateLimiterStatistics(
        tokens=3.0, rate=2.0, waiting=0, blocked_for=0.0
    )

    await limiter.acquire(2.0)
    stats = limiter.statistics()
    assert stats.tokens == pytest.approx(1.0)
    assert stats.rate == 2.0
    assert stats.waiting == 0
    assert stats.blocked_for == 0.0

    await trio.sleep(0.25)
    assert limiter.statistics().tokens == pytest.approx(1.5)

    limiter.observe(RateSignal(retry_after=5))
    assert limiter.statistics().blocked_for == pytest.approx(5.0)
    await trio.sleep(2)
    assert limiter.statistics().blocked_for == pytest.approx(3.0)
    await trio.sleep(10)
    assert limiter.statistics().blocked_for == 0.0
    assert limiter.statistics().tokens == pytest.approx(3.0)


async def test_statistics_count_waiting_callers(
    autojump_clock: trio.testing.MockClock, livelock_guard: None
) -> None:
    limiter = RateLimiter(rate=1.0, burst=1.0)
    await limiter.acquire()
    start = trio.current_time()
    async with trio.open_nursery() as nursery:
        for _ in range(3):
            nursery.start_soon(limiter.acquire)
        # All three are inside acquire (one at the head of the line, two queued on the lock).
        await trio.sleep(0.5)
        assert limiter.statistics().waiting == 3
        await trio.sleep(1.0)  # t = 1.5: the first has gone through
        assert limiter.statistics().waiting == 2
    assert trio.current_time() - start == pytest.approx(3.0)
    assert limiter.statistics().waiting == 0


async def test_waiters_are_served_first_come_first_served(
    autojump_clock: trio.testing.MockClock,
    livelock_guard: None,
) -> None:
    limiter = RateLimiter(rate=1.0, burst=1.0)
    await limiter.acquire()  # empty: every caller below has to wait
    start = trio.current_time()
    served: list[tuple[int, float]] = []

    async def call(arrival: int) -> None:
        await trio.sleep(0.01 * arrival)  # arrive in this order, in virtual time
        await limiter.acquire()
        served.append((arrival, trio.current_time() - start))

    async with trio.open_nursery() as nursery:
        for arrival in [4, 2, 0, 3, 1, 5]:  # spawned out of order on purpose
            nursery.start_soon(call, arrival)

    assert [arrival for arrival, _ in served] == [0, 1, 2, 3, 4, 5]
    assert [at for _, at in served] == pytest.approx([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])


async def test_a_cheap_latecomer_does_not_overtake_an_expensive_head(
    autojump_clock: trio.testing.MockClock,
    livelock_guard: None,
) -> None:
    limiter = RateLimiter(rate=1.0, burst=5.0)
    await limiter.acquire(5.0)
    start = trio.current_time()
    served: list[tuple[str, float]] = []

    async def call(name: str, delay: float, cost: float) -> None:
        await trio.sleep(delay)
        await limiter.acquire(cost)
        served.append((name, trio.current_time() - start))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(call, "cheap", 0.1, 1.0)
        nursery.start_soon(call, "expensive", 0.0, 3.0)

    assert [name for name, _ in served] == ["expensive", "cheap"]
    assert [at for _, at in served] == pytest.approx([3.0, 4.0])


async def test_a_cancelled_waiter_takes_no_tokens_and_leaves_the_line(
    autojump_clock: trio.testing.MockClock,
    livelock_guard: None,
) -> None:
    limiter = RateLimiter(rate=1.0, burst=2.0)
    await limiter.acquire(2.0)
    start = trio.current_time()
    with trio.move_on_after(0.5) as scope:
        await limiter.acquire(2.0)
    assert scope.cancelled_caught
    assert limiter.statistics().waiting == 0
    assert limiter.statistics().tokens == pytest.approx(0.5)
    await limiter.acquire()
    assert trio.current_time() - start == pytest.approx(1.0)


# -- the sliding window -----------------------------------------------------------------------


async def acquired_at(limiter: RateLimiter, n: int, cost: float = 1.0) -> list[float]:
    """When each of ``n`` acquisitions of ``cost``, one after the other, got its units."""
    start, times = trio.current_time(), []
    for _ in range(n):
        await limiter.acquire(cost)
        times.append(trio.current_time() - start)
    return times


async def test_a_sliding_window_spends_the_whole_window_then_each_unit_as_one_leaves(
    autojump_clock: trio.testing.MockClock, livelock_guard: None
) -> None:
    # 3 in any 3 s, each held a second more for its travel: a bucket at 1/s would give
    # 0, 0, 0, 1, 2, 3, 4.
    assert TRAVEL_SLACK == 1.0
    limiter = SlidingWindowLimiter(rate=1.0, burst=3.0)
    assert await acquired_at(limiter, 7) == pytest.approx([0, 0, 0, 4, 4, 4, 8])
    await trio.sleep(1.5)  # the one spent at 8 s leaves at 12 s
    assert limiter.statistics().tokens == pytest.approx(2.0)
    await trio.sleep(2.5)
    assert limiter.statistics().tokens == pytest.approx(3.0)


async def test_a_sliding_window_waits_for_as_many_units_to_leave_as_a_call_costs(
    autojump_clock: trio.testing.MockClock, livelock_guard: None
) -> None:
    limiter = SlidingWindowLimiter(rate=1.0, burst=4.0)
    await limiter.acquire(1.0)
    await trio.sleep(1.0)
    await limiter.acquire(3.0)  # t = 1: the window is full
    # 2 units: the one spent at 0 leaves at 5 (4 + the slack), the next at 6, 5 s from now.
    assert await acquired_at(limiter, 1, cost=2.0) == pytest.approx([5.0])


async def test_a_sliding_window_believes_fewer_calls_remaining_and_counts_them_spent_now(
    autojump_clock: trio.testing.MockClock, livelock_guard: None
) -> None:
    limiter = SlidingWindowLimiter(rate=1.0, burst=5.0)
    limiter.observe(RateSignal(remaining=2, limit=5))  # another client's calls, or ours before
    limiter.observe(RateSignal(remaining=4, limit=5))  # never trusted upwards
    assert await acquired_at(limiter, 4) == pytest.approx([0, 0, 6, 6])


async def test_a_sliding_window_told_when_there_is_room_again_counts_on_it(
    autojump_clock: trio.testing.MockClock, livelock_guard: None
) -> None:
    # ShipBob's 429: no call remains, and room again in a second. The 4 units spent elsewhere
    # leave from then on, in tenths spread evenly until a whole window (6 s) from now: not all
    # a minute late, nor all at once.
    limiter = SlidingWindowLimiter(rate=1.0, burst=5.0)
    await limiter.acquire()  # ours, at 0: it leaves at 6 (5 + the slack)
    limiter.observe(RateSignal(remaining=0, limit=5, retry_after=1.0))
    assert await acquired_at(limiter, 5) == pytest.approx([2, 3, 4.5, 5.5, 6])


async def test_a_sliding_window_kept_below_the_platforms_limit_keeps_its_margin(
    autojump_clock: trio.testing.MockClock, livelock_guard: None
) -> None:
    # 4 of a platform's 6: 5 remaining there leaves 3 here, the margin of 2 kept.
    limiter = SlidingWindowLimiter(rate=1.0, burst=4.0)
    limiter.observe(RateSignal(remaining=5, limit=6))
    assert limiter.statistics().tokens == pytest.approx(3.0)


@settings(deadline=None, max_examples=40)
@given(
    gaps=st.lists(st.floats(min_value=0.0, max_value=3.0), min_size=1, max_size=40),
    burst=st.integers(min_value=1, max_value=6),
)
def test_a_sliding_window_never_holds_more_than_its_burst(gaps: list[float], burst: int) -> None:
    window = 4.0

    async def run() -> list[float]:
        limiter = SlidingWindowLimiter(rate=burst / window, burst=float(burst))
        times = []
        for gap in gaps:
            await trio.sleep(gap)
            await limiter.acquire()
            times.append(trio.current_time())
        return times

    times = trio.run(run, clock=trio.testing.MockClock(autojump_threshold=0))
    for start in times:
        assert sum(1 for t in times if start <= t < start + window - 1e-6) <= burst
