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
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Any

import httpx
import trio

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


@dataclass
class Delivery:
    subscription: Subscription
    topic: str
    body: bytes
    webhook_id: str
    event_id: str
    triggered_at: str
    due: float
    attempt: int = 0


class Webhooks:
    """Subscriptions, the delivery queue and a log of every attempt."""

    def __init__(self, state: ShopState, api_version: str = "2026-01") -> None:
        self.state = state
        self.api_version = api_version
        self.retry_delays: tuple[float, ...] = DEFAULT_RETRY_DELAYS
        self.subscriptions: list[Subscription] = []
        self.pending: list[Delivery] = []
        self.log: list[dict[str, Any]] = []
        self._changed: trio.Event | None = None

    def subscribe(self, topic: str, address: str) -> Subscription:
        subscription = Subscription(len(self.subscriptions) + 1, topic, address)
        self.subscriptions.append(subscription)
        return subscription

    def _uuid(self) -> str:
        return str(uuid.UUID(int=self.state.rng.getrandbits(128), version=4))

    def emit(self, topic: str, body: dict[str, Any]) -> None:
        """Queue ``body`` for every subscription to ``topic`` (one event id for all of them)."""
        raw = json.dumps(body, separators=(",", ":")).encode()
        now = trio.current_time()
        event_id = self._uuid()
        triggered = iso(self.state.now()) or ""
        faults = self.state.faults
        for subscription in self.subscriptions:
            if subscription.topic != topic:
                continue
            delivery = Delivery(subscription, topic, raw, self._uuid(), event_id, triggered, now)
            if faults.reorder_webhooks and self.state.rng.random() < faults.reorder_webhooks:
                delivery.due += self.state.rng.uniform(0.0, 2.0)
            self.pending.append(delivery)
            if faults.duplicate_webhooks and self.state.rng.random() < faults.duplicate_webhooks:
                twin = Delivery(**{**delivery.__dict__})
                self.pending.append(twin)
        self._wake()

    def _wake(self) -> None:
        if self._changed is not None:
            self._changed.set()

    async def run(
        self,
        http: httpx.AsyncClient | None = None,
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Deliver queued webhooks until cancelled; ``started()`` once it is listening.

        ``http`` is used (not closed) when given, so tests can route deliveries in process;
        otherwise a client is opened and closed here.
        """
        async with AsyncExitStack() as stack:
            if http is None:
                timeout = httpx.Timeout(TIMEOUT, connect=1.0)
                http = await stack.enter_async_context(httpx.AsyncClient(timeout=timeout))
            # The nursery closes before the client: no attempt outlives the client it uses.
            async with trio.open_nursery() as nursery:
                task_status.started()
                while True:
                    self._changed = trio.Event()
                    now = trio.current_time()
                    due = [d for d in self.pending if d.due <= now]
                    for delivery in due:
                        self.pending.remove(delivery)
                        nursery.start_soon(self._attempt, http, delivery)
                    upcoming = min((d.due for d in self.pending), default=None)
                    with trio.move_on_at(upcoming if upcoming is not None else float("inf")):
                        await self._changed.wait()

    async def _attempt(self, http: httpx.AsyncClient, delivery: Delivery) -> None:
        delivery.attempt += 1
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
        status: int | None = None
        error: str | None = None
        with trio.move_on_after(TIMEOUT) as scope:
            try:
                response = await http.post(
                    delivery.subscription.address, content=delivery.body, headers=headers
                )
                status = response.status_code
            except httpx.HTTPError as exc:
                error = type(exc).__name__
        if scope.cancelled_caught:
            error = "timeout"
        ok = status is not None and 200 <= status < 300
        self.log.append(
            {
                "webhook_id": delivery.webhook_id,
                "event_id": delivery.event_id,
                "topic": delivery.topic,
                "address": delivery.subscription.address,
                "attempt": delivery.attempt,
                "status": status,
                "error": error,
                "delivered": ok,
            }
        )
        if not ok and delivery.attempt <= len(self.retry_delays):
            delivery.due = trio.current_time() + self.retry_delays[delivery.attempt - 1]
            self.pending.append(delivery)
            self._wake()
