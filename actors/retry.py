"""Retry policy: capped exponential backoff with full jitter, honouring Retry-After."""

from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int
    """Total tries, the first one included."""
    base: float
    """Seconds; the ceiling of the first backoff."""
    cap: float
    """Seconds; no backoff is longer, unless the platform asks for longer."""
    rng: random.Random = field(default_factory=random.Random, compare=False)

    def delay(self, failures: int, retry_after: float | None = None) -> float:
        """Seconds to wait after the ``failures``-th consecutive failure (1-based).

        Full jitter (a uniform draw up to the exponential ceiling) spreads the retries of many
        clients that failed together; a platform's own Retry-After is a floor, never shortened.
        """
        ceiling = min(self.cap, self.base * 2 ** (failures - 1))
        jittered = self.rng.uniform(0, ceiling)
        return max(jittered, retry_after or 0.0)

    def exhausted(self, failures: int) -> bool:
        return failures >= self.attempts
