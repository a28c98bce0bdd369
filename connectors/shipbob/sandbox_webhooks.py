"""The ShipBob sandbox's webhook sender: Standard Webhooks signing, redelivery, replay faults.

Each event is delivered to every subscription of its topic, signed with that subscription's
``whsec_`` secret, with ``x-webhook-topic``. A non-2xx answer (or no answer) is retried on a
bounded schedule, keeping the same ``webhook-id``; sleeps use trio's clock so a test with a
virtual clock runs the whole schedule instantly. Each body is the order as it was when the
event happened, so a late delivery carries an older state (``reorder_webhooks`` and
``out_of_order_webhooks`` make deliveries late). The ``webhook-timestamp`` comes from the
state's ``now`` (wall clock by default), since receivers compare it with theirs.
"""

from __future__ import annotations

from collections import Counter
from functools import partial

import httpx
import msgspec

from connectors.sandbox_delivery import Attempt, DeliveryQueue, SignedRequest
from connectors.shipbob import webhooks, wire
from connectors.shipbob.sandbox_state import SandboxState

RETRY_SCHEDULE = (0.0, 5.0, 300.0, 1800.0, 7200.0)
"""Seconds before each attempt: immediate, then 5 s, 5 min, 30 min, 2 h; then given up."""
ATTEMPT_TIMEOUT = 15.0


class Delivery(msgspec.Struct):
    webhook_id: str
    topic: str
    url: str
    secret: str
    body: bytes


class DeliveryLog(msgspec.Struct):
    webhook_id: str
    topic: str
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
            client_timeout=httpx.Timeout(5.0),  # httpx's default
            on_attempt=self._record,
        )
        self.run = self.queue.run
        """Deliver queued webhooks until cancelled (see :meth:`DeliveryQueue.run`)."""
        self._sequence = 0
        self._events_to: Counter[str] = Counter()
        """Events queued per subscription while ``out_of_order_webhooks`` is on: the odd ones
        are held back."""

    def enqueue(self, topic: str, order: wire.Order) -> None:
        """Queue ``topic`` about ``order`` for every subscription to it (a sync call)."""
        faults = self.state.faults
        if faults.webhooks_without_tracking:
            bare = [msgspec.structs.replace(s, tracking=None) for s in order.shipments]
            order = msgspec.structs.replace(order, shipments=bare)
        body = msgspec.json.encode(order)
        for webhook, secret in self.state.webhooks.values():
            if topic not in webhook.topics:
                continue
            self._sequence += 1
            delivery = Delivery(
                webhook_id=f"msg_{self.state.rng.getrandbits(64):016x}{self._sequence}",
                topic=topic,
                url=webhook.url,
                secret=secret,
                body=body,
            )
            held = False
            if faults.out_of_order_webhooks:
                self._events_to[webhook.id] += 1
                held = self._events_to[webhook.id] % 2 == 1
            for _ in range(2 if faults.duplicate_webhooks else 1):
                delay = RETRY_SCHEDULE[1] if held else RETRY_SCHEDULE[0]
                if faults.reorder_webhooks:
                    # Random hold-back so later events can overtake earlier ones.
                    delay += self.state.rng.uniform(0.0, 2.0)
                self.queue.put(delivery, partial(self._request, delivery), delay=delay)

    def _request(self, delivery: Delivery) -> SignedRequest:
        """Signed afresh for each attempt: receivers check the timestamp against their clock."""
        timestamp = int(self.state.now().timestamp())
        headers = webhooks.sign(delivery.secret, delivery.webhook_id, timestamp, delivery.body)
        headers |= {"x-webhook-topic": delivery.topic, "content-type": "application/json"}
        return SignedRequest(delivery.url, headers, delivery.body)

    def _record(self, delivery: Delivery, attempt: Attempt) -> None:
        self.log.append(
            DeliveryLog(
                delivery.webhook_id, delivery.topic, delivery.url, attempt.number, attempt.status
            )
        )
