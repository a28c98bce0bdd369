"""ShipBob webhooks (2026-01): Standard Webhooks signatures, verified and named.

A delivery carries ``webhook-id``, ``webhook-timestamp`` (unix seconds) and
``webhook-signature`` (space-separated ``v1,<base64>`` entries), and the topic in
``x-webhook-topic``. The signature is HMAC-SHA256 over ``"{id}.{timestamp}.{body}"`` keyed with
the base64-decoded part of the ``whsec_`` secret. :func:`sign` is what the sandbox uses to
send; :func:`verify` is what the daemon uses to receive.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
from collections.abc import Mapping

from connectors.base import WebhookEvent
from connectors.errors import InvalidSignature

TOLERANCE_SECONDS = 300
_PREFIX = "whsec_"
SHIPMENT_TOPICS = ("order.shipped",)


def secret_key(secret: str) -> bytes:
    """The HMAC key of a ``whsec_`` secret; ``InvalidSignature`` if it is not one."""
    encoded = secret.removeprefix(_PREFIX)
    try:
        return base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidSignature("webhook secret is not base64 after whsec_") from None


def signature(secret: str, webhook_id: str, timestamp: str, body: bytes) -> str:
    """The ``v1,<base64>`` signature of one delivery."""
    message = f"{webhook_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret_key(secret), message, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def sign(secret: str, webhook_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The Standard Webhooks headers for a delivery (without the topic)."""
    return {
        "webhook-id": webhook_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature(secret, webhook_id, str(timestamp), body),
    }


def stream_of(topic: str) -> str | None:
    """The stream a topic says changed: shipment topics → ``shipments``."""
    if topic in SHIPMENT_TOPICS or topic.startswith("order.shipment."):
        return "shipments"
    return None


def verify(
    secret: str, headers: Mapping[str, str], body: bytes, *, now: float | None = None
) -> WebhookEvent:
    """Check a delivery's signature and age; return the event it announces.

    ``headers`` are lower-cased. Raises ``InvalidSignature`` for a missing header, a timestamp
    more than five minutes from ``now`` (default: the wall clock), or no matching ``v1``
    signature (compared in constant time).
    """
    webhook_id = headers.get("webhook-id")
    timestamp = headers.get("webhook-timestamp")
    signatures = headers.get("webhook-signature")
    if not webhook_id or not timestamp or not signatures:
        raise InvalidSignature("missing webhook-id, webhook-timestamp or webhook-signature")
    try:
        sent_at = int(timestamp)
    except ValueError:
        raise InvalidSignature("webhook-timestamp is not unix seconds") from None
    current = time.time() if now is None else now
    if abs(current - sent_at) > TOLERANCE_SECONDS:
        raise InvalidSignature("webhook-timestamp is more than 5 minutes off")
    expected = signature(secret, webhook_id, timestamp, body)
    # Every listed signature is compared, so a rotated secret's old entry does not fail early.
    matches = [
        hmac.compare_digest(candidate.encode(), expected.encode())
        for candidate in signatures.split(" ")
        if candidate.startswith("v1,")
    ]
    if not any(matches):
        raise InvalidSignature("no webhook-signature matches")
    topic = headers.get("x-webhook-topic", "")
    return WebhookEvent(webhook_id=webhook_id, topic=topic, stream=stream_of(topic), body=body)
