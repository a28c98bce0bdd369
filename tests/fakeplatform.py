"""A connector test double: a platform whose records and faults the tests script.

It implements the real connector contract (``connectors.base``) without any network, so the
actor, supervisor and daemon are exercised exactly as a platform package would drive them.
The daemon loads it as a plugin (``[daemon] plugins = ["tests.fakeplatform"]``).

Behaviour is set by the channel's settings table:

- ``records_per_read``: how many records each read of a stream yields (one page each);
- ``crash_on_read``: raise an unexpected error on every read (an actor crash);
- ``leak_token``: put the channel's token in that error's message, as a careless library
  might, to prove the daemon masks it;
- ``retryable_failures``: how many reads fail with a retryable error (with ``retry_after``)
  before reads succeed;
- ``failing_fetches``: every fetch of named records fails with a retryable error.

A webhook verifies when its ``X-Fake-Signature`` header, or else the ``signature`` query
parameter of its request target (``:path``), equals the channel's ``token`` secret; its JSON
body is ``{"id": ..., "topic": STREAM}``, with ``"entity": KEY`` when it names a record. The
connector can fetch named records (the records among a read's that the keys name), but the
spec lists no stream in ``fetches``: a test that wants them fetched says so in its own spec.
Each connector remembers the streams it read (``reads``), the fetches it made (``fetches``:
stream, keys, ``as_read``) and the writes it made (``writes``), so tests can see what went
out.
"""

from __future__ import annotations

import hmac
import urllib.parse
from collections.abc import AsyncGenerator, Mapping, Sequence
from datetime import datetime

import msgspec

from connectors.base import (
    ConnectorContext,
    ConnectorSpec,
    Page,
    RateSignal,
    Record,
    RemoteWrite,
    StreamSpec,
    WebhookEvent,
    WriteResult,
)
from connectors.errors import InvalidSignature, RecordError, Retryable
from daemon.credentials import Secret


class FakeSettings(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    records_per_read: int = 1
    crash_on_read: bool = False
    leak_token: bool = False
    retryable_failures: int = 0
    retry_after: float | None = None
    failing_writes: bool = False
    failing_fetches: bool = False


class FakeWebhook(msgspec.Struct, frozen=True):
    id: str
    topic: str
    entity: str | None = None


class FakeConnector:
    def __init__(self, context: ConnectorContext) -> None:
        self.context = context
        self.settings: FakeSettings = context.settings
        self.writes: list[RemoteWrite] = []
        self.reads: list[str] = []
        self.fetches: list[tuple[str, list[str], bool]] = []
        self._failures_left = self.settings.retryable_failures

    async def read(self, stream: str, since: datetime | None) -> AsyncGenerator[Page, None]:
        async with self.context.gate.call() as call:
            self.reads.append(stream)
            if self.settings.crash_on_read:
                leaked = f" (token {self.context.secrets['token'].reveal()})"
                detail = leaked if self.settings.leak_token else ""
                raise RuntimeError(f"fake platform exploded reading {stream}{detail}")
            if self._failures_left > 0:
                self._failures_left -= 1
                raise Retryable("fake platform answered 503", retry_after=self.settings.retry_after)
            call.observe(RateSignal(remaining=39, limit=40, reset_after=1.0))
        yield Page(records=self._records(stream))

    def _records(self, stream: str) -> list[Record]:
        now = self.context.now()
        return [
            Record(key=f"{stream}-{i}", updated_at=now, body=b'{"fake": true}')
            for i in range(self.settings.records_per_read)
        ]

    async def fetch(self, stream: str, keys: Sequence[str], *, as_read: bool = False) -> Page:
        async with self.context.gate.call():
            self.fetches.append((stream, list(keys), as_read))
            if self.settings.failing_fetches:
                raise Retryable("fake platform answered 503 to a fetch")
        return Page(records=[r for r in self._records(stream) if r.key in keys])

    async def write(self, remote_write: RemoteWrite) -> WriteResult:
        async with self.context.gate.call():
            self.writes.append(remote_write)
            if self.settings.failing_writes:
                raise Retryable("fake platform answered 503 to a write")
        return WriteResult(remote_id=f"fake-{remote_write.key}", summary=remote_write.kind)

    async def aclose(self) -> None:
        return None


def verify_webhook(
    settings: FakeSettings, secrets: Mapping[str, Secret], headers: Mapping[str, str], body: bytes
) -> WebhookEvent:
    expected = secrets["token"].reveal()
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(headers.get(":path", "")).query)
    given = headers.get("x-fake-signature") or query.get("signature", [""])[0]
    if not hmac.compare_digest(given, expected):
        raise InvalidSignature("X-Fake-Signature does not match")
    try:
        event = msgspec.json.decode(body, type=FakeWebhook)
    except msgspec.DecodeError as exc:
        raise RecordError(f"webhook body: {exc}", entity="webhook", reason="schema") from None
    return WebhookEvent(
        webhook_id=event.id,
        topic=event.topic,
        streams=(event.topic,),
        body=body,
        entity=event.entity,
    )


CONNECTOR = ConnectorSpec(
    platform="fake",
    streams=(
        StreamSpec(name="products", default_schedule_seconds=3600.0),
        StreamSpec(name="orders", default_schedule_seconds=1800.0),
    ),
    credentials=("token",),
    settings_type=FakeSettings,
    requests_per_second=40.0,
    burst=40.0,
    create=FakeConnector,
    verify_webhook=verify_webhook,
)
