"""The chaos suite's CI run: 500 orders over every storefront, the daemon killed (SIGKILL) five
times at random calls, faults on in every sandbox; nothing may be lost, duplicated or drift
(see :mod:`tests.chaos.harness`)."""

from __future__ import annotations

from pathlib import Path

from tests.chaos.harness import ChaosOptions, run_chaos


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
