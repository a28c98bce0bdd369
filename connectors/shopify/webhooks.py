"""Verifying Shopify webhooks: the HMAC over the raw body, and what the event says changed.

Shopify signs ``base64(HMAC-SHA256(app secret, raw body))`` into ``X-Shopify-Hmac-Sha256``; the
delivery id ``X-Shopify-Webhook-Id`` is what redeliveries share, so it is the dedupe key; the
topic (``X-Shopify-Topic``, e.g. ``orders/create``) names the stream to re-read.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping

import msgspec

from connectors.base import WebhookEvent
from connectors.errors import InvalidSignature, RecordError
from connectors.shopify.wire import ORDER_GID_PREFIX, WebhookBody

STREAMS: dict[str, tuple[str, ...]] = {"products": ("products",), "orders": ("orders",)}
"""Topic resource → streams. Other topics (inventory_levels, fulfillments) name no stream."""


def signature(secret: str, body: bytes) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def verify(secret: str, headers: Mapping[str, str], body: bytes) -> WebhookEvent:
    """The event in a delivery whose signature checks out.

    ``headers`` are lower-cased. Raises :class:`InvalidSignature` when the signature header is
    missing or wrong (compared in constant time), :class:`RecordError` when a signed delivery
    lacks its id or topic.
    """
    given = headers.get("x-shopify-hmac-sha256")
    if not given:
        raise InvalidSignature("X-Shopify-Hmac-Sha256 is missing")
    if not hmac.compare_digest(given.encode(), signature(secret, body).encode()):
        raise InvalidSignature("X-Shopify-Hmac-Sha256 does not match the body")
    webhook_id = headers.get("x-shopify-webhook-id")
    topic = headers.get("x-shopify-topic")
    if not webhook_id or not topic:
        raise RecordError(
            "signed webhook without X-Shopify-Webhook-Id or X-Shopify-Topic",
            entity="webhook",
            reason="schema",
        )
    resource = topic.split("/", 1)[0]
    streams = STREAMS.get(resource, ())
    entity = _order_named(body) if resource == "orders" else None
    return WebhookEvent(
        webhook_id=webhook_id, topic=topic, streams=streams, body=body, entity=entity
    )


def _order_named(body: bytes) -> str | None:
    """The GID of the order an ``orders/*`` body is; None if it names none (the stream is then
    read again instead, so an odd body costs time, never the change)."""
    try:
        named = msgspec.json.decode(body, type=WebhookBody).admin_graphql_api_id
    except msgspec.DecodeError:
        return None
    return named if named is not None and named.startswith(ORDER_GID_PREFIX) else None
