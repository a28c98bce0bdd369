"""Playing a shop on running sandboxes, in the canonical vocabulary: what ``shelfsync demo``
does to them and reads back from them.

A storefront sandbox is played through a :class:`StorefrontPlay` (shoppers place orders; the
store shows stock and fulfillments), the fulfillment provider's through a :class:`ProviderPlay`
(the warehouse ships and receives). Each platform implements them in its own package's
``sandbox_play`` module, over its in-process sandbox app and its HTTP hooks, so nothing here
or in the demo knows a platform's field names.
"""

from __future__ import annotations

import abc
from typing import Any, Protocol, runtime_checkable

import httpx
import msgspec


class SandboxFaults(msgspec.Struct, frozen=True):
    """Faults to turn on in a sandbox, in the platforms' common terms; each play sets them as
    its sandbox's own knobs (:meth:`StorefrontPlay.inject`)."""

    error_rate: float = 0.0
    """Share of API calls answered with a server error."""
    latency_ms: int = 0
    timeout_rate: float = 0.0
    """Share of API calls that hang (longer than any client waits)."""
    throttle_burst: int = 0
    """The next N API calls are throttled (429)."""
    duplicate_webhooks: bool = False
    """Every webhook is delivered twice, as the same event."""
    out_of_order_webhooks: bool = False
    """Some webhooks are held back, so that later events overtake them."""
    rate_scale: float | None = None
    """The platform's request limits times this from now on, counted afresh (an empty window,
    a full bucket) as after a quiet spell; None leaves the sandbox's limits as they are."""


class ApiUsage(msgspec.Struct, frozen=True):
    """What a sandbox's API has been asked since it started, and the limit it enforces, in
    the platform's budget unit: a call, or for a cost-priced API a point of query cost."""

    calls: int
    """API calls answered (``/_sandbox/`` hooks are not API calls), throttled ones included."""
    spent: float
    """Budget units the admitted calls used (``calls`` less the throttled, or their cost)."""
    throttled: int
    """Calls refused as over the rate limit (429, or Shopify's ``THROTTLED``)."""
    noop_writes: int
    """Stock writes that changed nothing: every quantity sent already was the store's."""
    rate: float
    """Budget units the platform allows per second, sustained."""
    burst: float
    """Budget units it allows at once (a window's quota, a bucket's size)."""


class Throttled(Exception):
    """A sandbox refused a call as over its rate limit; ``wait`` is the seconds it asks for."""

    def __init__(self, wait: float) -> None:
        super().__init__(f"throttled: retry in {wait:.2f}s")
        self.wait = wait


@runtime_checkable
class OneAtATime(Protocol):
    """A store's stock the way a cron script or plugin syncs it: one SKU per call."""

    async def read_one(self, http: httpx.AsyncClient, sku: str) -> tuple[str, int] | None:
        """The SKU's id for :meth:`write_one` and the units the store shows; None if the
        store does not list it. :class:`Throttled` when the platform refuses the call."""

    async def write_one(self, http: httpx.AsyncClient, item: str, quantity: int) -> None:
        """Set the units of the item :meth:`read_one` named; :class:`Throttled` likewise."""


class Webhooked(Protocol):
    """A played sandbox that sends webhooks and has fault knobs."""

    async def subscribe(self, http: httpx.AsyncClient, url: str) -> None:
        """Have the sandbox deliver every event the daemon listens to to ``url`` (the
        channel's ``/webhooks/<channel>``), signed as the channel's credentials expect."""

    async def inject(self, http: httpx.AsyncClient, faults: SandboxFaults) -> None:
        """Set the sandbox's fault knobs to ``faults`` (all off: ``SandboxFaults()``, which
        leaves the rate limits as they are)."""

    def usage(self) -> ApiUsage:
        """The sandbox's API calls so far and the rate limit it enforces."""


class StorefrontPlay(Webhooked, Protocol):
    origin: str
    """The store's :func:`~connectors.model.origin`, as its orders carry it."""

    def listed_skus(self) -> list[str]:
        """SKUs a shopper can put in a basket: listed, and stocked at the store's location."""

    async def place(
        self, http: httpx.AsyncClient, lines: list[tuple[str, int]], shipping: str
    ) -> str:
        """Place a paid order for ``lines`` of (SKU, quantity) with the shipping method named
        ``shipping``, as a shopper would; returns the store order id the order's canonical form
        carries (:attr:`~connectors.model.Order.store_order_id`)."""

    def shown_stock(self) -> dict[str, int]:
        """What the store shows as available, per listed SKU."""

    def tracking_numbers(self) -> dict[str, list[str]]:
        """Store order id → the tracking number of each of its fulfillments (one entry per
        fulfillment, so a duplicate shows twice)."""


class ProviderShipment(msgspec.Struct, frozen=True):
    shipment_id: str
    shipped: bool
    tracking_number: str | None


class ProviderOrder(msgspec.Struct, frozen=True):
    order_id: int
    origin: str | None
    """The origin and store order id the order was created for; None for an order made
    outside shelfsync."""
    store_order_id: str | None
    cancelled: bool
    shipments: list[ProviderShipment]
    products: dict[str, int] = {}
    """SKU → the units the order asks the warehouse for."""


class ProviderPlay(Webhooked, Protocol):
    def orders(self) -> list[ProviderOrder]: ...

    async def ship(self, http: httpx.AsyncClient, order_id: int, *, split: bool) -> bool:
        """Ship the whole order, in two packages if ``split`` and it has more than one unit;
        False if the warehouse cannot (not in stock, cancelled, already gone)."""

    async def receive(self, http: httpx.AsyncClient, sku: str, units: int) -> None:
        """Receive ``units`` of ``sku`` into stock."""

    def sellable(self) -> dict[str, int]:
        """Fulfillable minus exception units per SKU, over every location."""


class HookedStorefront(abc.ABC):
    """Base of a storefront play over a sandbox served at ``base_url``, whose shoppers order
    through its ``/_sandbox/orders`` hook (:attr:`orders_hook`) and who can buy what the
    store shows stock of."""

    def __init__(self, origin: str, base_url: str) -> None:
        self.origin = origin
        self.base_url = base_url

    @property
    def orders_hook(self) -> str:
        return f"{self.base_url}/_sandbox/orders"

    @abc.abstractmethod
    def shown_stock(self) -> dict[str, int]:
        """What the store shows as available, per listed SKU."""

    def listed_skus(self) -> list[str]:
        return sorted(self.shown_stock())

    async def inject(self, http: httpx.AsyncClient, faults: SandboxFaults) -> None:
        await inject_knobs(http, self.base_url, faults)


async def shopper_hook(
    http: httpx.AsyncClient, url: str, lines: list[tuple[str, int]], **fields: Any
) -> Any:
    """POST a shopper's order of ``lines`` (SKU, quantity), with the platform's other
    ``fields``, to a sandbox's order hook at ``url`` and return its JSON answer;
    :class:`httpx.HTTPStatusError` when the sandbox refuses it (a SKU it does not sell), as
    :meth:`StorefrontPlay.place` promises."""
    body = {"lines": [{"sku": sku, "quantity": n} for sku, n in lines], **fields}
    return await post_hook(http, url, body)


async def inject_knobs(http: httpx.AsyncClient, base_url: str, faults: SandboxFaults) -> None:
    """Set ``faults`` at the sandbox served at ``base_url`` whose knobs have their names."""
    knobs = msgspec.structs.asdict(faults)
    if faults.rate_scale is None:
        del knobs["rate_scale"]  # the sandbox's limits are left as they are
    await post_hook(http, f"{base_url}/_sandbox/faults", knobs)


async def post_hook(http: httpx.AsyncClient, url: str, body: Any) -> Any:
    """POST ``body`` to a sandbox's hook (or API) at ``url``; its JSON answer, or
    :class:`httpx.HTTPStatusError` if it refused."""
    response = await http.post(url, json=body)
    response.raise_for_status()
    return response.json()


class Played(msgspec.Struct, frozen=True):
    """A storefront sandbox, served, as the demo connects a channel to it."""

    play: StorefrontPlay
    settings: dict[str, Any]
    """The channel's ``[channels.settings]`` for this sandbox."""
    secrets: dict[str, str]
    """Credential name → the value this sandbox accepts."""


class StorefrontSandbox(Protocol):
    """What a platform's ``sandbox_play.demo_storefront(options)`` returns: the sandbox app to
    serve, and how to play it once it is served at ``url``."""

    platform: str
    app: Any

    def played(self, url: str) -> Played: ...
