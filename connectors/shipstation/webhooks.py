"""Verifying ShipStation V1 webhooks: a secret in the target URL, and what the event names.

V1 signs nothing: a delivery is a bare POST of ``{"resource_url", "resource_type"}``. So the
URL subscribed with ShipStation carries the channel's ``webhook_secret`` as a query parameter,
``https://host/webhooks/<channel>?token=<webhook_secret>``, and a delivery is genuine when its
request target (the ``:path`` pseudo-header the daemon passes, path and query) holds that
token, compared in constant time. The query is never logged.

ShipStation sends no delivery id either. The id is derived from the body, whose
``resource_url`` names the import batch (or shipment batch) the event is about: a
redelivery of the same event carries the same bytes, so it has the same id and is dropped as
a repeat; two events about different batches never share one. Nothing is fetched from
``resource_url``: the event means "orders changed", and the actor re-reads the ``orders``
stream from its cursor (the same path as every other connector, paced and strictly decoded),
instead of sending the key pair to a URL taken from a request body.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import urllib.parse
from collections.abc import Mapping

import msgspec

from connectors.base import WebhookEvent
from connectors.errors import InvalidSignature, RecordError
from connectors.shipstation import wire

TOKEN_PARAMETER = "token"
MIN_SECRET_LENGTH = 16
_URL_SAFE = re.compile(r"[A-Za-z0-9._~-]+")

STREAMS: dict[wire.WebhookEventType, tuple[str, ...]] = {
    "ORDER_NOTIFY": ("orders",),
    "ITEM_ORDER_NOTIFY": ("orders",),
    # A label ShipStation made means the order shipped there, which the orders stream (open
    # and cancelled orders) does not return: a re-read would find nothing to act on.
    "SHIP_NOTIFY": (),
    "ITEM_SHIP_NOTIFY": (),
    "FULFILLMENT_SHIPPED": (),
    "FULFILLMENT_REJECTED": (),
}


def secret_problem(value: str) -> str | None:
    """What is wrong with a ``webhook_secret``: it travels in a URL, so it must be made of
    unreserved URL characters, and be long enough not to be guessed."""
    if len(value) < MIN_SECRET_LENGTH:
        return f"is shorter than {MIN_SECRET_LENGTH} characters"
    if not _URL_SAFE.fullmatch(value):
        return "holds characters other than letters, digits, '.', '_', '~' and '-'"
    return None


def target_url(receiver: str, secret: str) -> str:
    """The URL to subscribe with ShipStation for the channel whose webhook endpoint is
    ``receiver`` (``https://host/webhooks/<channel>``)."""
    return f"{receiver}?{urllib.parse.urlencode({TOKEN_PARAMETER: secret})}"


def delivery_id(body: bytes) -> str:
    return "sha256:" + hashlib.sha256(body).hexdigest()[:32]


def verify(secret: str, headers: Mapping[str, str], body: bytes) -> WebhookEvent:
    """The event in a delivery whose request target holds the channel's token.

    Raises :class:`InvalidSignature` when ``:path`` has no ``token`` or the wrong one,
    :class:`RecordError` when a genuine delivery is not ``{resource_url, resource_type}``.
    """
    query = urllib.parse.urlsplit(headers.get(":path", "")).query
    given = urllib.parse.parse_qs(query).get(TOKEN_PARAMETER, [""])[-1]
    if not given:
        raise InvalidSignature("the webhook URL carries no token")
    if not hmac.compare_digest(given.encode(), secret.encode()):
        raise InvalidSignature("the webhook URL's token does not match")
    try:
        notification = msgspec.json.decode(body, type=wire.WebhookNotification)
    except msgspec.DecodeError as exc:
        raise RecordError(f"webhook body: {exc}", entity="webhook", reason="schema") from None
    return WebhookEvent(
        webhook_id=delivery_id(body),
        topic=notification.resource_type,
        streams=STREAMS[notification.resource_type],
        body=body,
    )
