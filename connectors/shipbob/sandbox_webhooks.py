"""The ShipBob sandbox's webhook sender: Standard Webhooks signing, redelivery, replay faults.

Each event is delivered to every subscription of its topic, signed with that subscription's
``whsec_`` secret, with ``x-webhook-topic``. A non-2xx answer (or no answer) is retried on a
bounded schedule, keeping the same ``webhook-id``; sleeps use trio's clock so a test with a
virtual clock runs the whole schedule instantly. The ``webhook-timestamp`` comes from the
state's ``now`` (wall clock by default), since receivers compare it with theirs.
"""

from __future__ import annotations

from collections import deque

import httpx
import msgspec
import trio

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
        self._pending: deque[Delivery] = deque()
        self._wake = trio.Event()
        self._sequence = 0

    def enqueue(self, topic: str, order: wire.Order) -> None:
        """Queue ``topic`` about ``order`` for every subscription to it (a sync call)."""
        if self.state.faults.webhooks_without_tracking:
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
            copies = 2 if self.state.faults.duplicate_webhooks else 1
            self._pending.extend([delivery] * copies)
        self._wake.set()

    async def run(
        self,
        http: httpx.AsyncClient | None = None,
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Send queued deliveries until cancelled, each in its own task.

        Uses ``http`` (tests pass one mounted on a receiver) or a client of its own, closed on
        exit. Started means ready: events queued after ``started()`` will be sent.
        """
        lent = httpx.AsyncClient() if http is None else _borrowed(http)
        async with lent as client, trio.open_nursery() as nursery:
            task_status.started()
            while True:
                await self._wake.wait()
                self._wake = trio.Event()
                while self._pending:
                    nursery.start_soon(self._deliver, client, self._pending.popleft())

    async def _deliver(self, client: httpx.AsyncClient, delivery: Delivery) -> None:
        if self.state.faults.reorder_webhooks:
            # Random hold-back so later events can overtake earlier ones.
            await trio.sleep(self.state.rng.uniform(0.0, 2.0))
        for attempt, wait in enumerate(RETRY_SCHEDULE, start=1):
            await trio.sleep(wait)
            timestamp = int(self.state.now().timestamp())
            headers = webhooks.sign(delivery.secret, delivery.webhook_id, timestamp, delivery.body)
            headers |= {"x-webhook-topic": delivery.topic, "content-type": "application/json"}
            status: int | None = None
            with trio.move_on_after(ATTEMPT_TIMEOUT):
                try:
                    response = await client.post(
                        delivery.url, content=delivery.body, headers=headers
                    )
                    status = response.status_code
                except httpx.HTTPError:
                    status = None
            self.log.append(
                DeliveryLog(delivery.webhook_id, delivery.topic, delivery.url, attempt, status)
            )
            if status is not None and 200 <= status < 300:
                return


class _borrowed:
    """An async context manager that lends a client without closing it."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    async def __aenter__(self) -> httpx.AsyncClient:
        return self.client

    async def __aexit__(self, *exc: object) -> None:
        return None
