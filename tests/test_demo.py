"""``shelfsync demo``: the real command end to end (the report's verdicts are in
``test_demo_report``)."""

from __future__ import annotations

import trio

from tests.daemon_process import SHELFSYNC, child_env


async def test_the_demo_plays_a_shop_and_reports_it_consistent() -> None:
    finished = await trio.run_process(
        [SHELFSYNC, "demo", "--duration", "8", "--no-view", "--seed", "3"],
        capture_stdout=True,
        capture_stderr=True,
        check=False,
        env=child_env(),
    )
    out = finished.stdout.decode()
    assert finished.returncode == 0, out + finished.stderr.decode()
    assert "shelfsync demo: consistency report" in out
    assert "consistent: every order once" in out
    assert "duplicates: 0" in out
    # The shop sells a bundle: every store lists it, and the warehouse picks its components.
    assert "(not created as its components: 0)" in out
    assert "stock right for 13/13 SKUs" in out  # the 12 variants and the bundle
