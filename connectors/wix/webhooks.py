"""Wix webhooks: a JWT signed RS256 by Wix, verified with the app's public key, and named.

The whole request body is a JWT (dev.wix.com, "Webhook structure"; there are no signature
headers and no JWKS endpoint: the key is the app's, copied from its dashboard). Its claim
``data`` is a JSON string ``{eventType, instanceId, data, identity}`` whose ``data`` is a JSON
string again: the event ``{id, entityFqdn, slug, entityId, eventTime, …}``. The event ``id``
("allows clients to ignore duplicate webhooks") is the delivery id. Legacy Stores V1 events
(``Product Changed``…) carry only their own fields (``productId``, ``changedFields``); their
delivery id is then a digest of the event type and payload, which a redelivery repeats.

:func:`public_key_problem` alone decides what a valid key is (config check and verification);
:func:`sign` is what the sandbox sends with.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

import jwt
import msgspec
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey, RSAPublicKey

from connectors.base import WebhookEvent
from connectors.errors import InvalidSignature, RecordError
from connectors.wix import wire

_PEM_HEADER = "-----BEGIN PUBLIC KEY-----"
_ORDER_FQDN = "wix.ecom.v1.order"
_STREAMS_BY_FQDN = {
    _ORDER_FQDN: "orders",
    "wix.ecom.v1.fulfillments": "orders",
    "wix.stores.v1.product": "products",
    "wix.stores.catalog.v1.product": "products",
}


def load_public_key(value: str) -> RSAPublicKey:
    """The RSA public key in ``value``: PEM, or its base64 body alone (the dashboard's copy
    button gives either). ``ValueError`` for anything else, without quoting it."""
    text = value.strip()
    if not text.startswith("-----BEGIN"):
        text = f"{_PEM_HEADER}\n{text}\n-----END PUBLIC KEY-----"
    try:
        key = serialization.load_pem_public_key(text.encode())
    except (ValueError, TypeError):
        raise ValueError("is not a PEM public key") from None
    if not isinstance(key, RSAPublicKey):
        raise ValueError("is a public key, but not an RSA one (Wix signs with RS256)")
    return key


def public_key_problem(value: str) -> str | None:
    """Why ``value`` is not a Wix app's public key, or None if it is one."""
    try:
        load_public_key(value)
    except ValueError as exc:
        return str(exc)
    return None


def public_key_pem(key: RSAPrivateKey) -> str:
    """The PEM of ``key``'s public half, as an app's dashboard shows it."""
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def sign(key: RSAPrivateKey, envelope: wire.WebhookEnvelope, issued_at: int) -> bytes:
    """The body of a delivery: a JWT whose claim ``data`` is ``envelope`` as a JSON string,
    valid for an hour from ``issued_at`` (unix seconds)."""
    claims: dict[str, Any] = {
        "data": msgspec.json.encode(envelope).decode(),
        "iat": issued_at,
        "exp": issued_at + 3600,
    }
    return jwt.encode(claims, key, algorithm="RS256").encode()


def streams_of(event_type: str, event: wire.WebhookEventData) -> tuple[str, ...]:
    """The streams an event says changed: orders and their fulfillments → ``orders``, catalog
    products (standardized or legacy V1) → ``products``; none for others."""
    if event.entity_fqdn in _STREAMS_BY_FQDN:
        return (_STREAMS_BY_FQDN[event.entity_fqdn],)
    if event.product_id is not None or ".catalog." in event_type:
        return ("products",)
    return ()


def verify(
    public_key: str, headers: Mapping[str, str], body: bytes, *, instance_id: str | None = None
) -> WebhookEvent:
    """Check a delivery's JWT and return the event it announces.

    Raises ``InvalidSignature`` for a body that is not a JWT signed RS256 by ``public_key``,
    one past its ``exp``, or (when ``instance_id`` is given) one from another app instance,
    which is another site; ``RecordError`` for a signed JWT whose claims are not Wix's
    envelope. ``headers`` play no part.
    """
    try:
        key = load_public_key(public_key)
    except ValueError as exc:
        raise InvalidSignature(f"public_key {exc}") from None
    try:
        claims = jwt.decode(body, key, algorithms=["RS256"])
    except jwt.ExpiredSignatureError:
        raise InvalidSignature("the webhook's JWT has expired") from None
    except jwt.InvalidTokenError as exc:
        raise InvalidSignature(f"not a JWT signed by the app's key: {type(exc).__name__}") from None
    # Signed by the app's key, so authentic from here on: a claim of another shape is held
    # for an operator (RecordError), not refused as forged.
    data = claims.get("data")
    if not isinstance(data, str):
        raise RecordError("the webhook's JWT has no data claim", entity="webhook", reason="schema")
    try:
        envelope = msgspec.json.decode(data, type=wire.WebhookEnvelope)
        event = msgspec.json.decode(envelope.data, type=wire.WebhookEventData)
    except msgspec.DecodeError as exc:
        raise RecordError(
            f"the webhook JWT's data is not a Wix event: {exc}", entity="webhook", reason="schema"
        ) from None
    if instance_id is not None and envelope.instance_id != instance_id:
        raise InvalidSignature("the event is for another app instance (another site)")
    delivery_id = event.id
    if delivery_id is None:
        digest = hashlib.sha256(f"{envelope.event_type}\n{envelope.data}".encode())
        delivery_id = f"sha256:{digest.hexdigest()}"
    return WebhookEvent(
        webhook_id=delivery_id,
        topic=envelope.event_type,
        streams=streams_of(envelope.event_type, event),
        body=envelope.data.encode(),
        # An order event's entity is the order (its GUID, the orders stream's record key); a
        # fulfillments event's is not, so its order's stream is read again instead.
        entity=event.entity_id if event.entity_fqdn == _ORDER_FQDN else None,
    )
