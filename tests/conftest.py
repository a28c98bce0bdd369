from __future__ import annotations

import os
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import trio.testing
from hypothesis import settings

from tests.helpers import RecordingGate

# "ci" (HYPOTHESIS_PROFILE=ci) draws the same examples on every run, so a failure in CI
# reproduces; each test keeps its own number of examples.
settings.register_profile("ci", derandomize=True, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


@pytest.fixture
def virtual_clock() -> trio.testing.MockClock:
    """Virtual time that jumps ahead once every task has been idle for a moment.

    Plain ``autojump_clock`` jumps the instant all tasks wait, including while one waits for
    SQLite in a worker thread, which would turn a 1 ms commit into "the next schedule is due".
    The short real threshold lets real I/O finish first; sleeps still take no real time.
    """
    return trio.testing.MockClock(autojump_threshold=0.05)


@pytest.fixture
def gate() -> RecordingGate:
    return RecordingGate()


@pytest.fixture
async def http(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the ``app`` fixture (a platform's sandbox, which each platform's tests
    provide) through httpx's ASGI transport."""
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app)) as client:
        yield client
