"""The daemon prunes its audit log to ``audit_retention_days`` (an in-process daemon over a
real SQLite file)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import trio

from daemon.app import AUDIT_PRUNE_SECONDS, wall_clock
from daemon.store import AuditQuery, HeldException, open_store
from tests.test_http import start_daemon


def hold(entity: str) -> HeldException:
    return HeldException("shop", "orders", entity, "oversell", "d", None, "order")


async def audited(state: Path) -> list[str | None]:
    async with open_store(f"sqlite:///{state}") as store:
        return [e.entity for e in await store.audit_entries(AuditQuery())]


async def test_audit_entries_past_the_retention_are_pruned_at_start(
    tmp_path: Path, nursery: trio.Nursery
) -> None:
    state = tmp_path / "state.db"
    now = wall_clock()
    async with open_store(f"sqlite:///{state}") as store:
        for days, entity in ((40, "old"), (29, "recent")):
            await store.record_exception(hold(entity), now - timedelta(days=days))
    running = await start_daemon(tmp_path, nursery, [], audit_retention_days=30)
    assert await audited(state) == ["recent"]
    running.daemon.request_stop()


async def test_a_retention_of_zero_keeps_every_entry(tmp_path: Path, nursery: trio.Nursery) -> None:
    state = tmp_path / "state.db"
    async with open_store(f"sqlite:///{state}") as store:
        await store.record_exception(hold("ancient"), wall_clock() - timedelta(days=3650))
    running = await start_daemon(tmp_path, nursery, [], audit_retention_days=0)
    assert await audited(state) == ["ancient"]
    running.daemon.request_stop()


async def test_the_audit_log_is_pruned_again_every_interval_while_the_daemon_runs(
    tmp_path: Path, virtual_clock: trio.abc.Clock, nursery: trio.Nursery
) -> None:
    state = tmp_path / "state.db"
    running = await start_daemon(tmp_path, nursery, [], audit_retention_days=30)
    async with open_store(f"sqlite:///{state}") as store:
        await store.record_exception(hold("old"), wall_clock() - timedelta(days=40))
    assert await audited(state) == ["old"]

    for _ in range(2):  # two more passes (virtual time), each of them pruning
        await trio.sleep(AUDIT_PRUNE_SECONDS)
    assert await audited(state) == []
    running.daemon.request_stop()
