"""Config loading under arbitrary input: any text, and any mutation of a valid file, gives a
Config or a ConfigError whose every problem names a field (``<path>: <problem>``), never
another exception. (``check-config`` exiting 78 on such errors: tests/test_check_config.py.)"""

from __future__ import annotations

import copy
import tempfile
import tomllib
from datetime import date
from pathlib import Path
from typing import Any

import hypothesis.strategies as st
from hypothesis import given, settings

from daemon.config import Config, ConfigError, load_config
from tests.five_platforms import in_environment, platform_channels
from tests.helpers import REPO_ROOT, TOKEN, fake_channel_table, toml_value

# Each example loads a whole file: few examples, no deadline (a slow CI machine is no bug).
FUZZ = settings(max_examples=40, deadline=None)
KEYS = st.from_regex(r"\A[a-z_]{1,12}\Z")
SCALARS = st.one_of(
    st.booleans(),
    st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=False),
    st.text(max_size=20),
    st.dates(min_value=date(1, 1, 1)),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(KEYS, inner, max_size=3)),
    max_leaves=6,
)


def valid_document() -> tuple[dict[str, Any], dict[str, str]]:
    """The example file, with a channel of every platform and one of the test double."""
    document = tomllib.loads((REPO_ROOT / "config.example.toml").read_text())
    environ, tables = in_environment(platform_channels())
    document["daemon"]["plugins"] = ["tests.fakeplatform"]
    document["channels"] = [*tables, fake_channel_table("fake")]
    return document, environ | {"FAKE_TOKEN": TOKEN}


BASE, ENVIRON = valid_document()


def render(document: dict[str, Any]) -> str:
    """``document`` as TOML: scalars first, then tables, then arrays of tables."""
    lines = [f"{k} = {toml_value(v)}" for k, v in document.items() if not _tabular(v)]
    for key, value in document.items():
        if isinstance(value, dict):
            lines += [f"[{key}]", *(f"{k} = {toml_value(v)}" for k, v in value.items())]
        elif _tabular(value):
            for table in value:
                lines += [f"[[{key}]]", *(f"{k} = {toml_value(v)}" for k, v in table.items())]
    return "\n".join(lines) + "\n"


def _tabular(value: object) -> bool:
    return isinstance(value, dict) or (
        isinstance(value, list) and bool(value) and all(isinstance(t, dict) for t in value)
    )


def load(text: str) -> Config | ConfigError:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "shelfsync.toml"
        path.write_text(text)
        try:
            return load_config(path, environ=ENVIRON)
        except ConfigError as exc:
            return exc


def assert_clear(outcome: Config | ConfigError) -> None:
    if isinstance(outcome, ConfigError):
        assert outcome.problems
        for problem in outcome.problems:
            where, separator, why = problem.partition(": ")
            assert where and separator and why.strip(), problem


def test_the_base_document_is_valid() -> None:
    assert isinstance(load(render(BASE)), Config)


@FUZZ
@given(st.text(max_size=200))
def test_any_text_is_a_config_or_a_clear_error(text: str) -> None:
    assert_clear(load(text))


def mutated(document: dict[str, Any], path: list[str | int], value: object, delete: bool) -> None:
    """Replace (or delete) what ``path`` leads to, as far as it leads."""
    node: Any = document
    for step in path[:-1]:
        if isinstance(node, dict) and step in node:
            node = node[step]
        elif isinstance(node, list) and isinstance(step, int) and node:
            node = node[step % len(node)]
        else:
            break
    last = path[-1]
    if isinstance(node, list) and isinstance(last, int) and node:
        node[last % len(node)] = value
    elif isinstance(node, dict) and isinstance(last, str):
        if delete:
            node.pop(last, None)
        else:
            node[last] = value


PATH_STEPS = st.one_of(
    st.sampled_from(
        [
            *("daemon", "channels", "inventory", "bundles", "settings", "credentials"),
            *("schedule", "name", "platform", "listen", "state", "request_timeout"),
            *("max_concurrent_requests", "mailbox_size", "webhook_max_bytes", "retry_attempts"),
            *("orders", "ship_methods"),
        ]
    ),
    KEYS,
    st.integers(0, 5),
)


@FUZZ
@given(st.lists(st.tuples(st.lists(PATH_STEPS, min_size=1, max_size=4), VALUES, st.booleans())))
def test_any_mutation_of_a_valid_file_is_a_config_or_a_clear_error(
    mutations: list[tuple[list[str | int], object, bool]],
) -> None:
    document = copy.deepcopy(BASE)
    for path, value, delete in mutations:
        mutated(document, path, value, delete)
    try:
        text = render(document)
    except TypeError:
        return  # a value TOML cannot hold (None): nothing to load
    assert_clear(load(text))
