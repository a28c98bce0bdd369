"""ShipBob webhooks (2026-01): Standard Webhooks signatures, verified and named.

A delivery carries ``webhook-id``, ``webhook-timestamp`` (unix seconds) and
``webhook-signature`` (space-separated ``v1,<base64>`` entries), and the topic in
``x-webhook-topic``. The signature is HMAC-SHA256 over ``"{id}.{timestamp}.{body}"`` keyed with
the base64-decoded part of the ``whsec_`` secret. :func:`sign` is what the sandbox uses to
send; :func:`verify` is what the daemon uses to receive. :func:`secret_problem` alone decides
what a valid secret is, for the config check, for signing and verifying, and for the sandbox's
subscriptions alike.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import time
from collections.abc import Mapping

from connectors.base import WebhookEvent
from connectors.errors import InvalidSignature

TOLERANCE_SECONDS = 300
_PREFIX = "whsec_"

STREAMS: dict[str, tuple[str, ...]] = {
    # The parcel left: its units leave the counts, and tracking is there to upload.
    "order.shipped": ("shipments", "inventory"),
    # Units committed to the shipment are free again (an exception holds none either).
    "order.shipment.cancelled": ("shipments", "inventory"),
    "order.shipment.exception": ("shipments", "inventory"),
    # A restocked return adds its units to the counts; the return itself is not synced.
    "return.completed": ("inventory",),
}
"""Topic → the streams its event changes. 2026-01 has no inventory topic, so the topics of
events that move stock also name ``inventory``; a receipt or an adjustment announces nothing
and is found by the inventory schedule. Other ``order.shipment.*`` topics name
``shipments``; other topics name nothing."""


SECRET_PATTERN = r"^whsec_[a-zA-Z0-9+/]{32}$"
"""ShipBob's rule for a webhook secret (the ``secret`` of ``POST /2026-01/webhook`` in its
OpenAPI description): ``whsec_`` and the base64 of 24 bytes, which needs no padding."""
_SECRET = re.compile(SECRET_PATTERN)
_BASE64_LENGTH = 32


def secret_problem(secret: str) -> str | None:
    """Why ``secret`` is not a ShipBob webhook secret (:data:`SECRET_PATTERN`), or None if it
    is one. The answer never quotes the secret."""
    if _SECRET.fullmatch(secret):
        return None
    if not secret.startswith(_PREFIX):
        return "must start with whsec_ (the secret ShipBob shows for the webhook subscription)"
    length = len(secret) - len(_PREFIX)
    if length != _BASE64_LENGTH:
        return f"must be whsec_ and {_BASE64_LENGTH} base64 characters, got {length} after whsec_"
    return f"must be whsec_ and {_BASE64_LENGTH} base64 characters (A-Z, a-z, 0-9, + and /)"


def secret_key(secret: str) -> bytes:
    """The HMAC key of a ``whsec_`` secret; ``InvalidSignature`` if it is not one."""
    problem = secret_problem(secret)
    if problem is not None:
        raise InvalidSignature(f"webhook secret {problem}")
    return base64.b64decode(secret.removeprefix(_PREFIX), validate=True)


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


def streams_of(topic: str) -> tuple[str, ...]:
    """The streams a topic says changed (:data:`STREAMS`)."""
    if topic in STREAMS:
        return STREAMS[topic]
    if topic.startswith("order.shipment."):
        return ("shipments",)
    return ()


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
    return WebhookEvent(webhook_id=webhook_id, topic=topic, streams=streams_of(topic), body=body)
