"""Fault knobs of a sandbox: applying ``POST /_sandbox/faults`` changes and the common faults.

Each platform keeps its own knobs as a ``msgspec.Struct`` (names, types and defaults are its
own, as are the error bodies it answers with); randomness always comes from the sandbox's
seeded generator, so a seed replays the same faults. Every platform's knobs include a
``rate_scale`` (:data:`RateScale`) that multiplies its request limits (:func:`scaled_limit`).
"""

from __future__ import annotations

import random
from typing import Annotated, Any, Literal, Protocol, TypeVar

import msgspec
import trio

F = TypeVar("F", bound=msgspec.Struct)

RateScale = Annotated[float, msgspec.Meta(gt=0)]
"""The ``rate_scale`` knob: the platform's request limits multiplied by it (1: the platform's
own numbers). Setting it starts the limiter afresh (an empty window, a full bucket), as after a
quiet spell: the calls admitted under the old limit would otherwise hold the new one shut."""


def scaled_limit(limit: float, rate_scale: float) -> int:
    """A platform's request ``limit`` times ``rate_scale``, at least 1."""
    return max(1, round(limit * rate_scale))


class CommonFaults(Protocol):
    """The knobs every sandbox has: added latency, and shares of calls that hang or fail."""

    @property
    def latency_ms(self) -> float: ...
    @property
    def timeout_rate(self) -> float: ...
    @property
    def error_rate(self) -> float: ...


class FaultsRejected(ValueError):
    """A faults change that could not be applied; ``unknown`` is a knob that does not exist."""

    def __init__(self, message: str, unknown: str | None = None) -> None:
        super().__init__(message)
        self.unknown = unknown


def merge_faults(faults: F, changes: Any, *, strict: bool = True) -> F:
    """A copy of ``faults`` with the knobs in ``changes`` (a JSON object) set, checked against
    the struct's types (``strict=False`` also takes numbers written as strings); raises
    :class:`FaultsRejected` without changing anything. The struct should forbid unknown
    fields, so that a misspelt knob is refused rather than ignored."""
    try:
        merged = msgspec.structs.asdict(faults) | changes
        return msgspec.convert(merged, type(faults), strict=strict)
    except (msgspec.ValidationError, TypeError) as exc:
        names = {field.name for field in msgspec.structs.fields(faults)}
        keys = changes if isinstance(changes, dict) else {}
        unknown = next((name for name in keys if name not in names), None)
        raise FaultsRejected(str(exc), unknown) from exc


def chance(rng: random.Random, rate: float) -> bool:
    """True with probability ``rate``; draws from ``rng`` only when ``rate`` is not zero."""
    return bool(rate) and rng.random() < rate


async def injected_failure(
    faults: CommonFaults, rng: random.Random, *, hang_seconds: float
) -> Literal["timeout", "error"] | None:
    """Apply the common faults to one API call: sleep ``latency_ms``; then, by their rates,
    hang ``hang_seconds`` (trio time) and say ``"timeout"``, or say ``"error"``; else None.
    What a timeout or an error answers is the platform's to say."""
    if faults.latency_ms:
        await trio.sleep(faults.latency_ms / 1000)
    if chance(rng, faults.timeout_rate):
        await trio.sleep(hang_seconds)
        return "timeout"
    if chance(rng, faults.error_rate):
        return "error"
    return None
