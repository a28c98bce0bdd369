"""The contract between a platform package and the channel actor that drives it.

A platform package under ``connectors/`` exports one :class:`ConnectorSpec`: the streams it
offers, the credentials and settings it needs, its default request rate, and a factory that
builds a :class:`Connector` for one channel from a :class:`ConnectorContext`.

The actor owns everything stateful around the connector (cursors, schedules, retries,
pausing); the connector owns only the platform's protocol:

- ``read(stream, since)`` yields pages of changed records, oldest first, each record carrying
  its replication value (``updated_at``). The actor persists a page and its cursor in one
  transaction before asking for the next page, so a connector never tracks progress itself.
- ``write(remote_write)`` performs one remote write, idempotent under its ``key``.
- optionally, ``fetch(stream, keys)`` (:class:`Fetcher`) reads the records of a stream that an
  operator or a webhook names, whatever their replication value: the spec's ``fetches`` lists
  the streams its connector fetches this way.
- the spec's ``verify_webhook(settings, secrets, headers, body)`` checks the platform's
  signature and names the event; it is a plain function so that webhooks are verified and
  persisted even while the channel's actor is restarting. ``headers`` also holds the request
  target (path and query, as received) under the pseudo-header ``:path``, as in HTTP/2, for a
  platform that signs nothing and is authenticated by a secret in the URL it posts to.
- the spec's ``interpret(channel, settings, stream, body)`` says what a stored record means in
  the canonical model (:data:`connectors.model.Canonical`); the hub acts on that, so it never
  reads a platform's field names. It is a plain function for the same reason.
- the spec's ``check_credentials(secrets)`` says, when the config is loaded, which credential
  values cannot be right, so that ``shelfsync check-config`` (and a reload) refuses them
  instead of the first request or webhook failing on them.
- It makes every outbound request inside ``async with context.gate.call(cost) as call:``,
  and reports what the answer said of the platform's rate limit with ``call.observe(...)``.
  That is how pausing and pacing reach every call without the connector knowing about either,
  and how the limiter knows which calls the platform may not have counted yet.

Errors a connector raises are those of :mod:`connectors.errors`; no httpx exception leaves it.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol, TypeVar, runtime_checkable

import httpx
import msgspec

from connectors.errors import RecordError
from connectors.model import Canonical
from daemon.credentials import Secret

T = TypeVar("T")


class Record(msgspec.Struct, frozen=True):
    """One changed entity as the platform sent it."""

    key: str
    """The entity's id on the platform."""
    updated_at: datetime
    """Its replication value: when the platform last changed it (timezone-aware)."""
    body: bytes
    """The raw JSON of the entity, decoded later with the platform's strict wire types."""


class Page(msgspec.Struct, frozen=True):
    records: list[Record]


class WebhookEvent(msgspec.Struct, frozen=True):
    """A webhook whose signature checked out."""

    webhook_id: str
    """The platform's delivery id, used to drop redeliveries."""
    topic: str
    streams: tuple[str, ...]
    """The streams whose data the event says changed, each re-read to act on it (one event
    may change several: a shipment leaving the warehouse also moves its stock); empty if
    none."""
    body: bytes
    entity: str | None = None
    """The record the event is about, keyed as its one stream's records are (a Shopify order
    GID, a BigCommerce order id), when the event names one: where the connector fetches that
    stream (``ConnectorSpec.fetches``), the actor reads that record alone instead of the
    stream. None when the event names no record, or several streams."""


class RemoteWrite(msgspec.Struct, frozen=True):
    kind: str
    key: str
    """Idempotency key: writing the same key twice has the effect of writing it once."""
    payload: bytes


def decode_strictly(content: bytes, type_: type[T], *, what: str, entity: str) -> T:
    """``content`` (JSON) as ``type_``; content that does not decode is a ``RecordError``
    about ``entity`` (reason ``schema``) whose message starts with ``what`` and names the
    field path."""
    try:
        return msgspec.json.decode(content, type=type_)
    except msgspec.DecodeError as exc:
        raise RecordError(f"{what}: {exc}", entity=entity, reason="schema") from None


def decode_payload(remote_write: RemoteWrite, type_: type[T], *, entity: str) -> T:
    """``remote_write``'s payload as ``type_``; one that does not decode is a
    ``RecordError`` about ``entity`` (reason ``schema``)."""
    return decode_strictly(
        remote_write.payload, type_, what=f"{remote_write.kind} payload", entity=entity
    )


class WriteResult(msgspec.Struct, frozen=True):
    remote_id: str | None
    summary: str
    drift_units: int = 0
    """For a reconcile ``inventory.set``: units the store showed away from its targets (and
    now corrected), where the platform let the connector read them; 0 otherwise."""


class RateSignal(msgspec.Struct, frozen=True):
    """What a platform said about its rate limit in one response; every field is optional."""

    remaining: float | None = None
    """Requests (or cost units) left in the current window or bucket."""
    limit: float | None = None
    reset_after: float | None = None
    """Seconds until the window resets or the bucket is full again."""
    retry_after: float | None = None
    """Seconds the platform asked us to wait before the next call."""
    restore_rate: float | None = None
    """Units per second a leaky bucket refills at. Set only by platforms that report a bucket
    (Shopify's ``throttleStatus``): then ``remaining`` is the bucket's true level, refunds
    included, and ``limit`` its size, and the limiter adopts all three."""


class CallReport(Protocol):
    """One call let through the gate, while it is in flight."""

    def observe(self, signal: RateSignal) -> None:
        """What the platform said of its rate limit in its answer to this call."""


class CallGate(Protocol):
    """What every outbound call goes through: ``call(cost)`` waits until the call may go (for
    ``cost`` of the platform's units: 1 a request, or a query's cost), and holds it as in
    flight until the block ends."""

    def call(self, cost: float = 1.0) -> AbstractAsyncContextManager[CallReport]: ...


@dataclass(frozen=True)
class ConnectorContext:
    channel: str
    settings: Any
    """An instance of the spec's ``settings_type``, decoded from the channel's settings table."""
    secrets: Mapping[str, Secret]
    http: httpx.AsyncClient
    gate: CallGate
    now: Callable[[], datetime]


class Connector(Protocol):
    def read(self, stream: str, since: datetime | None) -> AsyncGenerator[Page, None]: ...

    async def write(self, remote_write: RemoteWrite) -> WriteResult: ...

    async def aclose(self) -> None: ...


@runtime_checkable
class Fetcher(Protocol):
    """The optional capability of a connector to read named records of a stream."""

    async def fetch(self, stream: str, keys: Sequence[str], *, as_read: bool = False) -> Page:
        """The current records of ``stream`` (one of the spec's ``fetches``) that ``keys`` name,
        made exactly as ``read`` makes them (the same ``key``, ``updated_at`` and body), so that
        ``interpret`` takes them alike; whatever the cursor, and without moving it.

        With ``as_read``, only those the stream's read would return (its statuses, its search
        settings): a webhook's record must pass what a read lets through, while an operator
        who names an order gets it whatever its status.

        For the ``orders`` stream a key is the platform's order id, spelt as the records'
        ``key`` spells it (a Shopify GID, a BigCommerce or ShipStation number, a Wix GUID), or,
        where the platform can look an order up by it, the order number its shoppers see, with
        or without a leading ``#``; each platform's connector says which it takes. A key that
        names no record (none such, or one outside the channel's store) is simply absent from
        the page: not an error. The page holds each record once, in no set order, even when
        several keys name it. It raises what ``read`` raises.
        """
        ...


def numeric_keys(keys: Sequence[str]) -> list[int]:
    """The ``keys`` that are whole numbers, a leading ``#`` dropped (``#1001`` and ``1001``
    alike), once each and ascending: how a platform that numbers its orders reads them."""
    bare = (key.removeprefix("#") for key in keys)
    return sorted({int(key) for key in bare if key.isascii() and key.isdigit()})


class StreamSpec(msgspec.Struct, frozen=True):
    name: str
    default_schedule_seconds: float
    snapshot: bool = False
    """Every read returns everything (a full stock snapshot), so a read costs the same calls
    whatever changed: the actor spaces such reads, whatever asks for them, so that they stay
    within a share of the channel's budget (:mod:`actors.rules.pacing`)."""


WebhookVerifier = Callable[[Any, Mapping[str, Secret], Mapping[str, str], bytes], WebhookEvent]
"""A spec's ``verify_webhook``: ``(settings, secrets, headers, body) -> event``. ``headers``
are lower-cased, plus ``:path``: the request target, path and query (no HTTP/1.1 header name
starts with ``:``, so a sender cannot set it). It may hold a secret: never log it."""


def verify_with_webhook_secret(
    verify: Callable[[str, Mapping[str, str], bytes], WebhookEvent],
) -> WebhookVerifier:
    """A spec's ``verify_webhook`` that checks with the channel's ``webhook_secret`` credential
    through the platform's ``verify(secret, headers, body)``; settings play no part."""

    def verify_webhook(
        settings: Any, secrets: Mapping[str, Secret], headers: Mapping[str, str], body: bytes
    ) -> WebhookEvent:
        return verify(secrets["webhook_secret"].reveal(), headers, body)

    return verify_webhook


RecordInterpreter = Callable[[str, Any, str, bytes], list[Canonical]]
"""A spec's ``interpret``: ``(channel, settings, stream, body) -> canonical values``.

``body`` is a :class:`Record`'s body as the stream produced it. A body of unexpected shape
raises ``RecordError`` (reason ``schema``, naming the field path); a record that means
nothing the hub acts on gives ``[]``.
"""


def nothing_to_interpret(channel: str, settings: Any, stream: str, body: bytes) -> list[Canonical]:
    """The default ``interpret``: the platform's records carry nothing for the hub."""
    return []


Role = Literal["storefront", "fulfillment"]
"""What a platform is to the hub: a storefront sells (its orders are imported, inventory and
tracking are pushed to it); a fulfillment provider ships (orders and products are created in
it, its stock and shipments are read)."""


CredentialCheck = Callable[[Mapping[str, Secret]], dict[str, str]]
"""A spec's ``check_credentials``: ``secrets -> {credential name: problem}``.

It receives the credentials that resolved (a subset of the spec's names when others could
not be read) and returns one problem per credential whose value cannot be right; ``{}`` when
none. A problem never quotes the value, nor any part of it: it ends up in logs and on
terminals.
"""


def no_credential_checks(secrets: Mapping[str, Secret]) -> dict[str, str]:
    """The default ``check_credentials``: every value is accepted."""
    return {}


def check_each_credential(rules: Mapping[str, Callable[[str], str | None]]) -> CredentialCheck:
    """A ``check_credentials`` that applies ``rules[name]`` to the value of each resolved
    credential ``name`` it lists; a rule returns the problem, or None for a good value."""

    def check_credentials(secrets: Mapping[str, Secret]) -> dict[str, str]:
        problems = {
            name: rules[name](secret.reveal()) for name, secret in secrets.items() if name in rules
        }
        return {name: problem for name, problem in problems.items() if problem is not None}

    return check_credentials


def opaque_token_problem(value: str) -> str | None:
    """What is certainly wrong with an opaque token or shared secret, whatever its platform:
    nothing at all, or whitespace, which no HTTP credential holds but a copy and paste can
    leave behind."""
    if not value:
        return "is empty"
    if any(character.isspace() for character in value):
        return "contains whitespace (a space, tab or line break), which no such value holds"
    return None


@dataclass(frozen=True)
class ConnectorSpec:
    platform: str
    streams: tuple[StreamSpec, ...]
    credentials: tuple[str, ...]
    """Names every channel of this platform must give in its ``credentials`` table."""
    settings_type: type[msgspec.Struct]
    requests_per_second: float
    """The sustained rate the platform allows on its standard plan, before any header says more."""
    burst: float
    create: Callable[[ConnectorContext], Connector]
    verify_webhook: WebhookVerifier
    """``(settings, secrets, headers, body) -> event``; raises ``InvalidSignature`` or
    ``RecordError``. Header names arrive lower-cased, with the request target as ``:path``
    (see :data:`WebhookVerifier`)."""
    sliding_window: bool = False
    """The platform counts calls in a sliding window (``burst`` calls in any ``burst /
    requests_per_second`` seconds) rather than refilling a bucket: the actor's limiter then
    lets a backlog spend the whole window at once (:class:`actors.ratelimit.SlidingWindowLimiter`)
    instead of pacing it evenly."""
    check_credentials: CredentialCheck = no_credential_checks
    """Run by the config loader on the resolved secrets; see :data:`CredentialCheck`."""
    interpret: RecordInterpreter = nothing_to_interpret
    """See :data:`RecordInterpreter`."""
    role: Role = "storefront"
    writes: frozenset[str] = frozenset()
    """The ``RemoteWrite.kind`` values its connector performs: the hub queues no other kind
    for this platform (a storefront without ``inventory.set`` is sent no stock)."""
    fetches: frozenset[str] = frozenset()
    """The streams whose named records its connector fetches (it is then a :class:`Fetcher`);
    none by default."""
    origin: Callable[[Any], str] | None = None
    """``settings -> origin`` (:func:`connectors.model.origin`) for a storefront platform: the
    permanent identity of the store a channel's settings point at, the one its orders carry;
    None for a platform that is not a storefront (a fulfillment provider). With it, the
    daemon finds the channel an order came from without building a connector. It raises
    ``ValueError`` for settings that name no store, which the config loader reports."""

    @property
    def stream_names(self) -> tuple[str, ...]:
        return tuple(stream.name for stream in self.streams)
