"""The Wix sandbox's webhook sender: JWTs signed RS256 with the sandbox app's key, retried.

Each event goes to every subscribed receiver as a POST whose whole body is the JWT
(:func:`connectors.wix.webhooks.sign`), with the triple-nested JSON of Wix's standardized
events (or the bare payload of a legacy Stores V1 event, which has no ``entityFqdn``). Wix
counts a delivery as failed on any status other than 200 or no answer within 1250 ms, and
retries with the same event id after 1 m, 10 m, 1 h, 2 h, 2 h, 2 h, 4 h, 4 h, 4 h, 8 h, 8 h and
12 h. Faults: ``duplicate_webhooks`` sends each event twice; ``out_of_order_webhooks`` holds
every other event back by the first retry delay so the next one overtakes it.

The key pair is random, generated once per process and shared by its sandboxes (``cryptography``
cannot derive an RSA key from a seed, and generating one costs a tenth of a second); tests and
``shelfsync demo`` read its public half from ``GET /_sandbox/public-key``.
"""

from __future__ import annotations

import json
import time
from functools import cache, partial
from typing import Any

import httpx
import msgspec
import trio
from cryptography.hazmat.primitives.asymmetric import rsa

from connectors.sandbox_delivery import Attempt, DeliveryQueue, SignedRequest
from connectors.wix import webhooks, wire
from connectors.wix.sandbox_state import SiteState, iso

RETRY_DELAYS = (
    60.0,
    600.0,
    3600.0,
    7200.0,
    7200.0,
    7200.0,
    14400.0,
    14400.0,
    14400.0,
    28800.0,
    28800.0,
    43200.0,
)
ATTEMPT_TIMEOUT = 1.25


@cache
def _app_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


class Delivery(msgspec.Struct):
    event_id: str
    event_type: str
    url: str
    envelope: wire.WebhookEnvelope


class WebhookSender:
    def __init__(self, state: SiteState) -> None:
        self.state = state
        self.key = _app_key()
        self.public_key = webhooks.public_key_pem(self.key)
        self.receivers: list[str] = []
        self.log: list[dict[str, Any]] = []
        self.queue: DeliveryQueue[Delivery] = DeliveryQueue(
            retry_delays=RETRY_DELAYS,
            attempt_timeout=ATTEMPT_TIMEOUT,
            client_timeout=httpx.Timeout(5.0),
            on_attempt=self._record,
            delivered=lambda attempt: attempt.status == 200,
        )
        self.run = self.queue.run
        """Deliver queued webhooks until cancelled (see :meth:`DeliveryQueue.run`)."""
        self._events = 0

    def emit(
        self, event_type: str, entity_fqdn: str, slug: str, entity_id: str, body: dict[str, Any]
    ) -> None:
        """Queue one event for every receiver (a sync call)."""
        event_id = self.state.uuid()
        if entity_fqdn:
            event: dict[str, Any] = {
                "id": event_id,
                "entityFqdn": entity_fqdn,
                "slug": slug,
                "entityId": entity_id,
                "eventTime": iso(self.state.now()),
                "triggeredByAnonymizeRequest": False,
            }
            if slug == "created":
                event["createdEvent"] = {"entity": body}
            elif slug == "updated":
                event["updatedEvent"] = {"currentEntity": body}
            else:
                event["actionEvent"] = {"body": {"order": body}}
        else:
            event = body  # a legacy Stores V1 event: its own fields only
        envelope = wire.WebhookEnvelope(
            event_type=event_type,
            instance_id=self.state.instance_id,
            data=json.dumps(event, separators=(",", ":")),
            identity=json.dumps({"identityType": "APP", "appId": "sandbox-app"}),
        )
        faults = self.state.faults
        self._events += 1
        held = faults.out_of_order_webhooks and self._events % 2 == 1
        for url in self.receivers:
            delivery = Delivery(event_id, event_type, url, envelope)
            for _ in range(2 if faults.duplicate_webhooks else 1):
                delay = RETRY_DELAYS[0] if held else 0.0
                self.queue.put(delivery, partial(self._request, delivery), delay=delay)

    def _request(self, delivery: Delivery) -> SignedRequest:
        """Signed afresh per attempt on the wall clock, which the receiver checks ``exp``
        against (the site's clock may run virtual)."""
        issued = int(time.time())
        body = webhooks.sign(self.key, delivery.envelope, issued)
        return SignedRequest(delivery.url, {"content-type": "text/plain"}, body)

    def _record(self, delivery: Delivery, attempt: Attempt) -> None:
        self.log.append(
            {
                "event_id": delivery.event_id,
                "event_type": delivery.event_type,
                "url": delivery.url,
                "attempt": attempt.number,
                "status": attempt.status,
                "error": attempt.error,
                "at": trio.current_time(),
            }
        )
