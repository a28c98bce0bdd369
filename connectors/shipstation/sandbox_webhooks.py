"""The ShipStation sandbox's webhook sender: thin unsigned notifications, redelivery, faults.

Each event goes to every subscription of its type whose ``store_id`` is unset or the event's
store, as a POST of ``{"resource_url", "resource_type"}`` and nothing else: V1 signs nothing
and sends no delivery id (receivers authenticate by a secret in their URL). A non-2xx answer
(or none) is tried again on a bounded schedule with the same body. ShipStation documents no
retry policy; this schedule is the sandbox's. Sleeps use trio's clock.
"""

from __future__ import annotations

from collections import Counter
from functools import partial

import httpx
import msgspec

from connectors.sandbox_delivery import Attempt, DeliveryQueue, SignedRequest
from connectors.shipstation import wire
from connectors.shipstation.sandbox_state import SandboxState

RETRY_SCHEDULE = (0.0, 30.0, 300.0, 1800.0)
"""Seconds before each attempt: immediate, then 30 s, 5 min, 30 min; then given up."""
ATTEMPT_TIMEOUT = 10.0
RESOURCE_URL_MAX = 200


class Delivery(msgspec.Struct):
    subscription: int
    event: wire.WebhookEventType
    url: str
    body: bytes


class DeliveryLog(msgspec.Struct):
    subscription: int
    event: str
    url: str
    attempt: int
    status: int | None
    """The receiver's HTTP status, or None when it could not be reached."""


class WebhookSender:
    def __init__(self, state: SandboxState) -> None:
        self.state = state
        self.log: list[DeliveryLog] = []
        self.queue: DeliveryQueue[Delivery] = DeliveryQueue(
            retry_delays=RETRY_SCHEDULE[1:],
            attempt_timeout=ATTEMPT_TIMEOUT,
            client_timeout=httpx.Timeout(ATTEMPT_TIMEOUT),
            on_attempt=self._record,
        )
        self.run = self.queue.run
        """Deliver queued webhooks until cancelled (see :meth:`DeliveryQueue.run`)."""
        self._events_to: Counter[int] = Counter()

    def enqueue(self, event: wire.WebhookEventType, store_id: int, resource_url: str) -> None:
        """Queue ``event`` for every matching subscription (a sync call)."""
        if len(resource_url) > RESOURCE_URL_MAX:
            raise ValueError(f"resource_url over {RESOURCE_URL_MAX} characters: {resource_url}")
        faults = self.state.faults
        body = msgspec.json.encode(
            wire.WebhookNotification(resource_url=resource_url, resource_type=event)
        )
        for subscription_id, subscription in self.state.webhooks.items():
            if subscription.event != event or subscription.store_id not in (None, store_id):
                continue
            delivery = Delivery(subscription_id, event, subscription.target_url, body)
            held = False
            if faults.out_of_order_webhooks:
                self._events_to[subscription_id] += 1
                held = self._events_to[subscription_id] % 2 == 1
            for _ in range(2 if faults.duplicate_webhooks else 1):
                delay = RETRY_SCHEDULE[1] if held else RETRY_SCHEDULE[0]
                self.queue.put(delivery, partial(self._request, delivery), delay=delay)

    @staticmethod
    def _request(delivery: Delivery) -> SignedRequest:
        headers = {"content-type": "application/json; charset=utf-8"}
        return SignedRequest(delivery.url, headers, delivery.body)

    def _record(self, delivery: Delivery, attempt: Attempt) -> None:
        self.log.append(
            DeliveryLog(
                delivery.subscription, delivery.event, delivery.url, attempt.number, attempt.status
            )
        )
