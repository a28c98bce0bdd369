"""Logging: structlog JSON lines on stdout, with every known secret value masked.

Secrets are hidden by type (:class:`~daemon.credentials.Secret` prints as stars), and as a
second line of defence every string that reaches a log line, a status answer or an error
message passes through :func:`redact`, which masks the values of all loaded credentials.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable, MutableMapping
from typing import Any, TextIO

import structlog

_MASK = "********"
_secret_values: set[str] = set()


def register_secrets(values: Iterable[str]) -> None:
    """Remember secret values so that :func:`redact` masks them from now on."""
    # Very short values would mask ordinary words; real credentials are never that short.
    _secret_values.update(value for value in values if len(value) >= 6)


def redact(text: str) -> str:
    for value in _secret_values:
        if value in text:
            text = text.replace(value, _MASK)
    return text


def _redact_event(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key, value in event.items():
        if isinstance(value, str):
            event[key] = redact(value)
    return event


def configure_logging(level: str = "info", stream: TextIO = sys.stdout) -> None:
    """Send structlog and the standard library's loggers to ``stream`` (stdout: journald under
    systemd) as JSON lines."""
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
    ]
    structlog.configure(
        processors=[
            *shared,
            _redact_event,
            structlog.processors.JSONRenderer(),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(stream),
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(stream)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                _redact_event,
                structlog.processors.JSONRenderer(),
            ],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.getLevelName(level.upper()))
    # One line per outbound request is noise at info; failures surface through our own events.
    for chatty in ("httpx", "httpcore"):
        logging.getLogger(chatty).setLevel(logging.WARNING)
