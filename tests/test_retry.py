"""RetryPolicy: capped exponential backoff with full jitter, Retry-After as a floor."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from actors.retry import RetryPolicy

seeds = st.integers(min_value=0, max_value=2**64 - 1)
bases = st.floats(min_value=0.001, max_value=60.0, allow_nan=False, allow_infinity=False)
caps = st.floats(min_value=0.001, max_value=3600.0, allow_nan=False, allow_infinity=False)
failures = st.integers(min_value=1, max_value=64)
retry_afters = st.floats(min_value=0.0, max_value=86_400.0, allow_nan=False, allow_infinity=False)


def policy(seed: int, *, attempts: int = 5, base: float = 1.0, cap: float = 30.0) -> RetryPolicy:
    return RetryPolicy(attempts=attempts, base=base, cap=cap, rng=random.Random(seed))


def ceiling(base: float, cap: float, n: int) -> float:
    return min(cap, base * 2 ** (n - 1))


@given(seed=seeds, base=bases, cap=caps, n=failures)
def test_delay_is_within_the_capped_exponential_ceiling(
    seed: int, base: float, cap: float, n: int
) -> None:
    delay = policy(seed, base=base, cap=cap).delay(n)
    assert 0.0 <= delay <= ceiling(base, cap, n)


@given(seed=seeds, base=bases, cap=caps)
def test_every_delay_of_a_sequence_is_within_its_ceiling(
    seed: int, base: float, cap: float
) -> None:
    retry = policy(seed, base=base, cap=cap)
    for n in range(1, 40):
        assert 0.0 <= retry.delay(n) <= ceiling(base, cap, n)


@given(seed=seeds, base=bases, cap=caps, n=failures, retry_after=retry_afters)
def test_delay_is_never_below_retry_after(
    seed: int, base: float, cap: float, n: int, retry_after: float
) -> None:
    delay = policy(seed, base=base, cap=cap).delay(n, retry_after)
    assert delay >= retry_after
    # Retry-After is a floor, not an addition: the wait is one or the other.
    assert delay <= max(retry_after, ceiling(base, cap, n))


@given(seed=seeds, base=bases, n=failures, retry_after=retry_afters)
def test_retry_after_beyond_the_cap_is_honoured_exactly(
    seed: int, base: float, n: int, retry_after: float
) -> None:
    cap = 1.0
    delay = policy(seed, base=base, cap=cap).delay(n, retry_after + cap)
    assert delay == retry_after + cap


@given(seed=seeds, n=failures)
def test_a_zero_or_missing_retry_after_changes_nothing(seed: int, n: int) -> None:
    plain = policy(seed).delay(n)
    assert policy(seed).delay(n, None) == plain
    assert policy(seed).delay(n, 0.0) == plain


@given(seed=seeds, base=bases, cap=caps)
def test_the_same_seed_gives_the_same_delays(seed: int, base: float, cap: float) -> None:
    first = policy(seed, base=base, cap=cap)
    second = policy(seed, base=base, cap=cap)
    assert [first.delay(n) for n in range(1, 20)] == [second.delay(n) for n in range(1, 20)]


def test_full_jitter_spreads_over_the_whole_range() -> None:
    retry = policy(1234, base=1.0, cap=8.0)
    draws = [retry.delay(4) for _ in range(2000)]  # ceiling min(8, 1 * 2**3) = 8
    assert all(0.0 <= d <= 8.0 for d in draws)
    assert min(draws) < 0.5
    assert max(draws) > 7.5
    assert 3.5 < sum(draws) / len(draws) < 4.5  # uniform on [0, 8] has mean 4


def test_the_ceiling_doubles_until_the_cap() -> None:
    retry = policy(99, base=0.5, cap=10.0)
    maxima = {n: max(retry.delay(n) for _ in range(500)) for n in range(1, 8)}
    # ceilings: 0.5, 1, 2, 4, 8, 10, 10
    expected = {1: 0.5, 2: 1.0, 3: 2.0, 4: 4.0, 5: 8.0, 6: 10.0, 7: 10.0}
    for n, top in expected.items():
        assert maxima[n] <= top
        assert maxima[n] > 0.9 * top


@given(attempts=st.integers(min_value=1, max_value=50), seed=seeds)
def test_exhausted_after_attempts_failures(attempts: int, seed: int) -> None:
    retry = policy(seed, attempts=attempts)
    for n in range(attempts):
        assert not retry.exhausted(n)
    assert retry.exhausted(attempts)
    assert retry.exhausted(attempts + 1)


@pytest.mark.parametrize("attempts", [1, 2, 5])
def test_a_retry_loop_tries_exactly_attempts_times(attempts: int) -> None:
    retry = policy(7, attempts=attempts)
    tries = 0
    failures_so_far = 0
    while True:
        tries += 1  # the call, which always fails here
        failures_so_far += 1
        if retry.exhausted(failures_so_far):
            break
        retry.delay(failures_so_far)
    assert tries == attempts


def test_policies_compare_without_their_rng() -> None:
    assert policy(1) == policy(2)
