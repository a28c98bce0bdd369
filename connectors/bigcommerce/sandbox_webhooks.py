"""The BigCommerce sandbox's webhook sender: thin callbacks to every matching active hook.

A callback is BigCommerce's thin body (``scope``, ``store_id``, ``data``, ``hash``,
``created_at``, ``producer``) sent with the hook's custom ``headers``. A hook's scope matches
its own scope or, ending in ``/*``, every scope under it. Only 2xx is success; otherwise the
same body (same ``hash``) is sent again after BigCommerce's documented intervals (60 s up to
a day), and after the last one the hook is deactivated (``is_active: false``), as BigCommerce
does after about 48 hours. Sleeps use trio's clock, so a test with a virtual clock runs the
whole ladder at once. ``duplicate_webhooks`` sends each callback twice; ``out_of_order_webhooks``
holds every other callback of a hook back by one interval, so a later event arrives first.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from functools import partial
from typing import Any

import httpx
import msgspec

from connectors.bigcommerce.sandbox_state import STORE_HASH, STORE_ID, Hook, StoreState
from connectors.sandbox_delivery import Attempt, DeliveryQueue, SignedRequest

RETRY_INTERVALS = (
    60.0,
    180.0,
    300.0,
    600.0,
    900.0,
    1800.0,
    3600.0,
    7200.0,
    21600.0,
    50400.0,
    86400.0,
)
"""Seconds between attempts after a failure, as BigCommerce documents them."""
ATTEMPT_TIMEOUT = 15.0


class Delivery(msgspec.Struct):
    hook_id: int
    scope: str
    url: str
    headers: dict[str, str]
    body: bytes
    hash: str


class DeliveryLog(msgspec.Struct):
    hook_id: int
    scope: str
    hash: str
    attempt: int
    status: int | None
    """The receiver's HTTP status, or None when it could not be reached."""


def matches(hook: Hook, scope: str) -> bool:
    if hook.scope.endswith("/*"):
        return scope.startswith(hook.scope[:-1])
    return hook.scope == scope


class WebhookSender:
    def __init__(self, state: StoreState) -> None:
        self.state = state
        self.log: list[DeliveryLog] = []
        self.queue: DeliveryQueue[Delivery] = DeliveryQueue(
            retry_delays=RETRY_INTERVALS,
            attempt_timeout=ATTEMPT_TIMEOUT,
            client_timeout=httpx.Timeout(5.0),
            on_attempt=self._record,
        )
        self.run = self.queue.run
        """Deliver queued callbacks until cancelled (see :meth:`DeliveryQueue.run`)."""
        self._sequence = 0
        self._events_to: Counter[int] = Counter()

    def enqueue(self, scope: str, data: dict[str, Any]) -> None:
        """Queue the callback of one event for every active hook matching ``scope``."""
        hooks = [h for h in self.state.hooks.values() if h.is_active and matches(h, scope)]
        if not hooks:
            return
        self._sequence += 1
        digest = hashlib.sha1(f"{scope}|{sorted(data.items())}|{self._sequence}".encode())
        body = msgspec.json.encode(
            {
                "scope": scope,
                "store_id": STORE_ID,
                "data": data,
                "hash": digest.hexdigest(),
                "created_at": int(self.state.now().timestamp()),
                "producer": f"stores/{STORE_HASH}",
            }
        )
        faults = self.state.faults
        for hook in hooks:
            headers = {"content-type": "application/json"} | (hook.headers or {})
            delivery = Delivery(hook.id, scope, hook.destination, headers, body, digest.hexdigest())
            held = False
            if faults.out_of_order_webhooks:
                self._events_to[hook.id] += 1
                held = self._events_to[hook.id] % 2 == 1
            for _ in range(2 if faults.duplicate_webhooks else 1):
                request = partial(SignedRequest, delivery.url, delivery.headers, delivery.body)
                self.queue.put(delivery, request, delay=RETRY_INTERVALS[0] if held else 0.0)

    def _record(self, delivery: Delivery, attempt: Attempt) -> None:
        self.log.append(
            DeliveryLog(
                delivery.hook_id, delivery.scope, delivery.hash, attempt.number, attempt.status
            )
        )
        if not attempt.delivered and attempt.number > len(RETRY_INTERVALS):
            hook = self.state.hooks.get(delivery.hook_id)
            if hook is not None:
                hook.is_active = False
