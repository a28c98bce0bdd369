"""The chaos suite's CI run: 500 orders over every storefront, the daemon killed (SIGKILL) five
times at random calls, faults on in every sandbox; nothing may be lost, duplicated or drift
(see :mod:`tests.chaos.harness`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.chaos.harness import ChaosOptions, run_chaos

# A webhook delivery or an API call cut off by the kill leaves httpx's request body iterator
# to the garbage collector, which trio reports; nothing of the run is lost by it.
HTTPX_CUT_OFF = (
    "ignore:Exception ignored in. <async_generator object ByteStream.__aiter__"
    ":pytest.PytestUnraisableExceptionWarning"
)


@pytest.mark.filterwarnings(HTTPX_CUT_OFF)
async def test_killed_daemon_under_faults_loses_duplicates_and_drifts_nothing(
    tmp_path: Path,
) -> None:
    result = await run_chaos(ChaosOptions(orders=500, kills=5, seed=7), tmp_path)
    figures = result.figures()
    assert result.consistent, result.explain()
    assert figures["orders_placed"] >= 500
    assert figures["kills"] == 5 and figures["restarts"] == 5
    assert {line.channel for line in result.report.stores if line.imported} == {
        "bigc",
        "ss",
        "web",
        "wixshop",
    }, result.explain()
    assert figures["tracking_written"] > 0, result.explain()
