"""Unwrapping the exception groups that Trio's nurseries wrap single failures in."""

from __future__ import annotations


def single_cause(exc: BaseException) -> BaseException:
    """The one exception inside nested single-member groups, or ``exc`` itself."""
    while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        exc = exc.exceptions[0]
    return exc
