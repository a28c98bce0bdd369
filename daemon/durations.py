"""Human durations such as ``30m``, ``1h30m`` or ``1d``, as used throughout the config file."""

from __future__ import annotations

import re
from decimal import Decimal

_UNIT_SECONDS = {
    "ms": Decimal("0.001"),
    "s": Decimal(1),
    "m": Decimal(60),
    "h": Decimal(3600),
    "d": Decimal(86400),
}
_PART = re.compile(r"([0-9]+(?:\.[0-9]+)?)(ms|s|m|h|d)")
_WHOLE = re.compile(r"(?:[0-9]+(?:\.[0-9]+)?(?:ms|s|m|h|d))+")


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
        # Decimal, so that "700ms" and "0.7s" are the same number of seconds.
        exact = sum(
            (Decimal(n) * _UNIT_SECONDS[unit] for n, unit in _PART.findall(text)), Decimal(0)
        )
        self.seconds = float(exact)

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
