"""Verifying BigCommerce webhooks: the secret header set at registration, and what changed.

BigCommerce sends, with every callback of a hook, the custom ``headers`` given when the hook
was registered (``POST /v3/hooks``). shelfsync registers its hooks with one header,
:data:`DEFAULT_HEADER` unless the channel's settings name another, whose value is the
channel's ``webhook_secret``; a delivery is genuine when it carries that header with that
value (compared in constant time). The body is thin (``scope``, ``data.type``/``data.id``,
``hash``): a redelivery of the same event carries the same ``hash``, which is the dedupe key,
the scope names the stream to re-read, and an order callback's ``data.id`` the order.

BigCommerce also signs callbacks the Standard Webhooks way, keyed with the API account's client
secret, but its documentation does not name the headers it sends them in; until it does, the
custom header is the check (and the client secret is not asked for).
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping

import msgspec

from connectors.base import WebhookEvent
from connectors.bigcommerce import wire
from connectors.errors import InvalidSignature, RecordError

DEFAULT_HEADER = "X-Shelfsync-Webhook-Secret"
MIN_SECRET_LENGTH = 16

STREAMS: dict[str, tuple[str, ...]] = {
    "order": ("orders",),
    "product": ("products",),
    "sku": ("products",),
}
"""Scope resource (``store/<resource>/...``) → streams. Others (shipment, customer) name none,
and neither do stock changes (``store/<resource>/inventory/...``): the daemon sets each store's
stock, so those are mostly the echoes of its own writes, and an edit in the admin is drift,
corrected by the next reconcile; re-reading the catalog for each would cost the calls that
carry the next writes."""


def secret_problem(secret: str) -> str | None:
    """What is certainly wrong with a webhook secret (it is ours to choose, so it must be one
    worth the name); None for a good one. Never quotes the value."""
    if not secret or any(c.isspace() or not c.isprintable() for c in secret):
        return "must be printable characters without whitespace (it travels as a header value)"
    if len(secret) < MIN_SECRET_LENGTH:
        return f"must be at least {MIN_SECRET_LENGTH} characters long"
    return None


def streams_of(scope: str) -> tuple[str, ...]:
    parts = scope.split("/")
    if len(parts) < 3 or parts[0] != "store" or parts[2] == "inventory":
        return ()
    return STREAMS.get(parts[1], ())


def verify(header: str, secret: str, headers: Mapping[str, str], body: bytes) -> WebhookEvent:
    """The event in a delivery whose ``header`` carries ``secret``.

    ``headers`` are lower-cased. Raises :class:`InvalidSignature` when the header is missing
    or differs (compared in constant time); :class:`RecordError` when a genuine delivery's
    body is not a BigCommerce callback (the message names the field).
    """
    given = headers.get(header.lower())
    if given is None:
        raise InvalidSignature(f"{header} is missing")
    if not hmac.compare_digest(given.encode(), secret.encode()):
        raise InvalidSignature(f"{header} does not match the webhook secret")
    try:
        callback = msgspec.json.decode(body, type=wire.Callback)
    except msgspec.DecodeError as exc:
        raise RecordError(f"webhook body: {exc}", entity="webhook", reason="schema") from None
    streams = streams_of(callback.scope)
    return WebhookEvent(
        webhook_id=callback.hash,
        topic=callback.scope,
        streams=streams,
        body=body,
        # An order callback's id is the order's, the orders stream's record key.
        entity=str(callback.data.id) if streams == ("orders",) else None,
    )
