"""Webhook delivery from the Shopify sandbox, signed and retried as Shopify does.

Each event goes to every subscription of its topic as a POST of the REST-shaped JSON body with
``X-Shopify-Topic``, ``X-Shopify-Hmac-Sha256`` (base64 HMAC-SHA256 of the raw body keyed with
the app secret), ``X-Shopify-Shop-Domain``, ``X-Shopify-API-Version``, ``X-Shopify-Webhook-Id``,
``X-Shopify-Event-Id`` and ``X-Shopify-Triggered-At``. A non-2xx answer, a transport error or
no answer within 5 s is a failure; failures are retried with the *original* body and ids after
``retry_delays`` (Shopify: 8 retries over 4 hours; compressed here), then dropped.
Faults: ``duplicate_webhooks`` sends an event twice (same ids), ``reorder_webhooks`` delays an
event by up to 2 s so later events can overtake it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from dataclasses import dataclass
from functools import partial
from typing import Any

import httpx

from connectors.sandbox_delivery import Attempt, DeliveryQueue, Job, SignedRequest
from connectors.shopify.sandbox_state import ShopState, iso

DEFAULT_RETRY_DELAYS = (1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0)
TIMEOUT = 5.0


def sign(secret: str, body: bytes) -> str:
    """Shopify's ``X-Shopify-Hmac-Sha256`` value for ``body``."""
    digest = hmac.new(secret.encode(), body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


@dataclass
class Subscription:
    id: int
    topic: str
    address: str


@dataclass(frozen=True)
class Delivery:
    subscription: Subscription
    topic: str
    body: bytes
    webhook_id: str
    event_id: str
    triggered_at: str


class Webhooks:
    """Subscriptions, the delivery queue and a log of every attempt."""

    def __init__(self, state: ShopState, api_version: str = "2026-01") -> None:
        self.state = state
        self.api_version = api_version
        self.subscriptions: list[Subscription] = []
        self.log: list[dict[str, Any]] = []
        self.queue: DeliveryQueue[Delivery] = DeliveryQueue(
            retry_delays=DEFAULT_RETRY_DELAYS,
            attempt_timeout=TIMEOUT,
            client_timeout=httpx.Timeout(TIMEOUT, connect=1.0),
            on_attempt=self._record,
        )
        self.run = self.queue.run
        """Deliver queued webhooks until cancelled (see :meth:`DeliveryQueue.run`)."""

    @property
    def retry_delays(self) -> tuple[float, ...]:
        """Seconds before each retry; settable (a test compresses them)."""
        return self.queue.retry_delays

    @retry_delays.setter
    def retry_delays(self, delays: tuple[float, ...]) -> None:
        self.queue.retry_delays = delays

    @property
    def pending(self) -> list[Job[Delivery]]:
        return self.queue.pending

    def subscribe(self, topic: str, address: str) -> Subscription:
        subscription = Subscription(len(self.subscriptions) + 1, topic, address)
        self.subscriptions.append(subscription)
        return subscription

    def _uuid(self) -> str:
        return str(uuid.UUID(int=self.state.rng.getrandbits(128), version=4))

    def emit(self, topic: str, body: dict[str, Any]) -> None:
        """Queue ``body`` for every subscription to ``topic`` (one event id for all of them)."""
        raw = json.dumps(body, separators=(",", ":")).encode()
        event_id = self._uuid()
        triggered = iso(self.state.now()) or ""
        faults = self.state.faults
        rng = self.state.rng
        for subscription in self.subscriptions:
            if subscription.topic != topic:
                continue
            delivery = Delivery(subscription, topic, raw, self._uuid(), event_id, triggered)
            delay = 0.0
            if faults.reorder_webhooks and rng.random() < faults.reorder_webhooks:
                delay += rng.uniform(0.0, 2.0)
            copies = 1
            if faults.duplicate_webhooks and rng.random() < faults.duplicate_webhooks:
                copies = 2
            for _ in range(copies):
                self.queue.put(delivery, partial(self._request, delivery), delay=delay)

    def _request(self, delivery: Delivery) -> SignedRequest:
        headers = {
            "Content-Type": "application/json",
            "X-Shopify-Topic": delivery.topic,
            "X-Shopify-Hmac-Sha256": sign(self.state.webhook_secret, delivery.body),
            "X-Shopify-Shop-Domain": self.state.shop,
            "X-Shopify-API-Version": self.api_version,
            "X-Shopify-Webhook-Id": delivery.webhook_id,
            "X-Shopify-Event-Id": delivery.event_id,
            "X-Shopify-Triggered-At": delivery.triggered_at,
        }
        return SignedRequest(delivery.subscription.address, headers, delivery.body)

    def _record(self, delivery: Delivery, attempt: Attempt) -> None:
        self.log.append(
            {
                "webhook_id": delivery.webhook_id,
                "event_id": delivery.event_id,
                "topic": delivery.topic,
                "address": delivery.subscription.address,
                "attempt": attempt.number,
                "status": attempt.status,
                "error": attempt.error,
                "delivered": attempt.delivered,
            }
        )
