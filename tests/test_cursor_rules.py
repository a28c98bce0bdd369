"""Property tests of the cursor rules (actors.rules.cursor): pure functions, no I/O."""

from __future__ import annotations

import ast
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from actors.rules.cursor import OVERLAP, advance, read_from

RULES_DIR = Path(__file__).resolve().parent.parent / "actors" / "rules"

# Timezone-aware datetimes in a few fixed offsets: the rules compare instants, not wall clocks.
offsets = st.integers(min_value=-14 * 60, max_value=14 * 60).map(
    lambda minutes: timezone(timedelta(minutes=minutes))
)
instants = st.datetimes(
    min_value=datetime(2000, 1, 1),
    max_value=datetime(2100, 1, 1),
    timezones=st.one_of(st.just(UTC), offsets),
)
cursors = st.one_of(st.none(), instants)
pages = st.lists(instants, max_size=20)
overlaps = st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=7))


@given(cursor=cursors, seen=pages, run_started=instants)
def test_advance_never_moves_backwards(
    cursor: datetime | None, seen: list[datetime], run_started: datetime
) -> None:
    after = advance(cursor, seen, run_started)
    if cursor is not None:
        assert after is not None
        assert after >= cursor


@given(cursor=cursors, seen=pages, run_started=instants)
def test_advance_never_passes_run_started(
    cursor: datetime | None, seen: list[datetime], run_started: datetime
) -> None:
    # Only a cursor that was already past the run start (it never moves backwards) may stay there.
    after = advance(cursor, seen, run_started)
    if cursor is None or cursor <= run_started:
        assert after is None or after <= run_started
    else:
        assert after == cursor


@given(seen=st.lists(instants, min_size=1, max_size=20), run_started=instants)
def test_advance_from_nothing_is_the_newest_seen_before_run_started(
    seen: list[datetime], run_started: datetime
) -> None:
    newest = max(seen)
    after = advance(None, seen, run_started)
    if newest <= run_started:
        assert after == newest
    else:
        assert after == run_started


@given(cursor=instants, seen=st.lists(instants, min_size=1, max_size=20), run_started=instants)
def test_advance_equals_max_seen_when_before_run_started_and_after_cursor(
    cursor: datetime, seen: list[datetime], run_started: datetime
) -> None:
    newest = max(seen)
    after = advance(cursor, seen, run_started)
    if cursor <= newest <= run_started:
        assert after == newest
    assert after == max(cursor, min(newest, run_started))


@given(cursor=cursors, run_started=instants)
def test_advance_on_an_empty_page_is_unchanged(
    cursor: datetime | None, run_started: datetime
) -> None:
    assert advance(cursor, [], run_started) == cursor
    assert advance(cursor, iter(()), run_started) == cursor


@given(cursor=cursors, seen=pages, run_started=instants)
def test_advance_consumes_a_one_shot_iterable(
    cursor: datetime | None, seen: list[datetime], run_started: datetime
) -> None:
    # The actor passes a generator expression; it must give the same answer as a list.
    assert advance(cursor, iter(seen), run_started) == advance(cursor, list(seen), run_started)


@given(cursor=cursors, first=pages, second=pages, run_started=instants)
def test_advance_page_by_page_equals_advance_over_everything(
    cursor: datetime | None, first: list[datetime], second: list[datetime], run_started: datetime
) -> None:
    stepwise = advance(advance(cursor, first, run_started), second, run_started)
    assert stepwise == advance(cursor, first + second, run_started)


@given(cursor=instants, overlap=overlaps)
def test_read_from_subtracts_the_overlap(cursor: datetime, overlap: timedelta) -> None:
    start = read_from(cursor, overlap)
    assert start == cursor - overlap
    assert start is not None and start <= cursor


@given(cursor=instants)
def test_read_from_defaults_to_the_module_overlap(cursor: datetime) -> None:
    assert read_from(cursor) == cursor - OVERLAP


@given(overlap=overlaps)
def test_read_from_none_is_none(overlap: timedelta) -> None:
    assert read_from(None) is None
    assert read_from(None, overlap) is None


def test_overlap_is_positive() -> None:
    assert timedelta(0) < OVERLAP


def _imported_roots(path: Path) -> set[str]:
    roots: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


def test_rules_import_no_io_libraries() -> None:
    files = sorted(RULES_DIR.glob("*.py"))
    assert RULES_DIR / "cursor.py" in files
    forbidden = {"trio", "httpx", "sqlite3"}
    offenders = {
        path.name: sorted(_imported_roots(path) & forbidden)
        for path in files
        if _imported_roots(path) & forbidden
    }
    assert offenders == {}


def test_import_scanner_sees_nested_and_dotted_imports(tmp_path: Path) -> None:
    # Guard against a scanner that would vacuously pass the test above.
    sample = tmp_path / "sample.py"
    sample.write_text(
        "import os\n"
        "from httpx import AsyncClient\n"
        "def f():\n"
        "    import trio.lowlevel\n"
        "    from . import sibling\n"
        "try:\n"
        "    import sqlite3 as db\n"
        "except ImportError:\n"
        "    pass\n",
        encoding="utf-8",
    )
    assert _imported_roots(sample) == {"os", "httpx", "trio", "sqlite3"}
