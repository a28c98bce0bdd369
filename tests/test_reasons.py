"""The reason codes are one closed set: each has a meaning, and README's table lists each."""

from __future__ import annotations

from connectors.reasons import MEANINGS, REASONS, RETRYABLE
from tests.helpers import REPO_ROOT


def test_every_reason_has_a_meaning_and_a_row_in_the_readme() -> None:
    assert set(MEANINGS) == set(REASONS) and set(REASONS) >= RETRYABLE
    readme = (REPO_ROOT / "README.md").read_text()
    for reason in REASONS:
        retryable = "yes" if reason in RETRYABLE else "no"
        assert f"| `{reason}` | {MEANINGS[reason]} | {retryable} |" in readme
