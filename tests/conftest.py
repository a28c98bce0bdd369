from __future__ import annotations

import pytest
import trio.testing


@pytest.fixture
def virtual_clock() -> trio.testing.MockClock:
    """Virtual time that jumps ahead once every task has been idle for a moment.

    Plain ``autojump_clock`` jumps the instant all tasks wait, including while one waits for
    SQLite in a worker thread, which would turn a 1 ms commit into "the next schedule is due".
    The short real threshold lets real I/O finish first; sleeps still take no real time.
    """
    return trio.testing.MockClock(autojump_threshold=0.05)
