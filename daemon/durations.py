"""Human durations such as ``30m``, ``1h30m`` or ``1d``, as used throughout the config file."""

from __future__ import annotations

import re

_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_WHOLE = re.compile(r"(?:\d+(?:\.\d+)?(?:ms|s|m|h|d))+")


class Duration:
    """A non-negative span of time parsed from text like ``"1h30m"``.

    Units: ``ms``, ``s``, ``m``, ``h``, ``d``; parts add up, so ``"1h30m"`` is 5400 seconds.
    Equality and hashing follow the number of seconds, so ``"90m" == "1h30m"``.
    """

    __slots__ = ("seconds", "text")

    def __init__(self, text: str) -> None:
        if not _WHOLE.fullmatch(text):
            raise ValueError(f'expected a duration such as "30s", "30m", "1h", "1d", got "{text}"')
        self.text = text
        self.seconds = sum(float(n) * _UNIT_SECONDS[unit] for n, unit in _PART.findall(text))

    @classmethod
    def of_seconds(cls, seconds: float) -> Duration:
        return cls(f"{seconds:g}s")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Duration) and other.seconds == self.seconds

    def __hash__(self) -> int:
        return hash(self.seconds)

    def __repr__(self) -> str:
        return f"Duration({self.text!r})"

    def __str__(self) -> str:
        return self.text
