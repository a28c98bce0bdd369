"""The storefront platforms an end-to-end shop can be made of, each over its own sandbox.

A :class:`Storefront` is one storefront channel: its sandbox app and the host it answers on,
the channel's table for the config file (credentials as ``env:`` references, with the values
they resolve to), and what a test does to the store and reads back from it, in the same words
for every platform: place an order, cancel it, the store's SKUs and stock, the tracking
numbers of its fulfillments. Orders are known by :class:`Placed`, which carries both the
platform's own id (for its hooks) and the canonical one the hub keys on.
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, ClassVar

import httpx
import msgspec

from connectors.bigcommerce import sandbox as bigcommerce_sandbox
from connectors.registry import BUILTIN
from connectors.sandbox_server import SandboxOptions
from connectors.shipstation import sandbox as shipstation_sandbox
from connectors.shopify import sandbox as shopify_sandbox
from connectors.shopify.sandbox_state import LOCATION_ID
from connectors.wix import sandbox as wix_sandbox

SEED = 5
"""Every sandbox of a shop is seeded alike: two Shopify stores list the same catalog."""
CATALOG = 4
"""Variants (or products) each store is seeded with: few, since each becomes a product created
at ShipBob, which the daemon paces at ShipBob's 150 calls a minute."""


class Placed(msgspec.Struct, frozen=True):
    """An order a shopper placed on a storefront."""

    channel: str
    origin: str
    """The store's permanent identity, as the hub and ShipBob's reference id know it."""
    id: str
    """The platform's own id of the order, as its sandbox hooks take it."""
    store_order_id: str
    """The canonical store order id (:attr:`connectors.model.Order.store_order_id`)."""
    number: str
    """The store's order number, which becomes ShipBob's ``order_number``."""


class Site(msgspec.Struct, frozen=True):
    """Where a platform's store lives in a test: its sandbox and what that sandbox starts with."""

    sandbox: Callable[[SandboxOptions], Any]
    """The platform's sandbox factory (``create_app``)."""
    domain: str
    """The store answers at ``<channel>.<domain>``."""
    shipping: str
    """The shipping method the store's orders have unless a test says otherwise."""
    opens_with_orders: bool = True
    """False: the seed's orders are dropped, since they would reserve the very SKUs a test
    stocks before it places its own."""


class Storefront(abc.ABC):
    """One storefront channel over its sandbox; ``table`` entries override the channel's
    defaults (``ship_methods``, ``streams``, ``orders``, ...). With ``shared_catalog`` the
    sandbox lists the catalog every platform's sandbox shares (:mod:`connectors.sandbox_catalog`)
    instead of its own, so that stores of different platforms sell the same SKUs."""

    platform: ClassVar[str]
    keeps_stock: ClassVar[bool] = True
    """Whether the platform holds stock quantities the daemon sets."""
    cancel_hook: ClassVar[tuple[str, dict[str, str]]] = ("cancel", {})
    """The hook ``/_sandbox/orders/{id}/<action>`` that cancels an order, and its body."""

    site: ClassVar[Site]
    unpaid: ClassVar[dict[str, Any]] = {"paid": False}
    """The order hook's fields that place an order not paid for."""

    def __init__(self, channel: str, *, shared_catalog: bool = False, **table: Any) -> None:
        self.channel = channel
        self.host = f"{channel}.{self.site.domain}"
        options = SandboxOptions(seed=SEED, catalog=CATALOG, shared_catalog=shared_catalog)
        self.app = self.site.sandbox(options)
        if not self.site.opens_with_orders:
            self.state.orders.clear()
        self.overrides = table
        self.secrets: dict[str, str] = {}
        """Credential name → its value, filled by :meth:`connect`."""
        self.settings: dict[str, Any] = {}
        self.defaults: dict[str, Any] = {
            "ship_methods": {self.site.shipping: {"ship_option": "Ground"}},
        }
        """Channel table entries the tests expect unless overridden: the store's default
        shipping method goes by ShipBob's ``Ground``."""

    @property
    def state(self) -> Any:
        return self.app.state

    async def connect(self, http: httpx.AsyncClient) -> None:
        """Learn what the channel needs from the sandbox (credentials, settings); most
        sandboxes' values are known without asking."""
        return None

    def environ(self) -> dict[str, str]:
        """The variables the channel's ``env:`` credentials name, with their values."""
        return {self._variable(name): value for name, value in self.secrets.items()}

    def table(self) -> dict[str, Any]:
        """The channel's ``[[channels]]`` table; overridden ``settings`` add to the platform's."""
        credentials = {name: f"env:{self._variable(name)}" for name in self.secrets}
        return {
            "name": self.channel,
            "platform": self.platform,
            "credentials": credentials,
            **self.defaults,
            **self.overrides,
            "settings": self.settings | self.overrides.get("settings", {}),
        }

    @property
    def origin(self) -> str:
        """The store's origin, as the platform's connector derives it from the settings."""
        spec = BUILTIN[self.platform]
        assert spec.origin is not None
        return spec.origin(msgspec.convert(self.table()["settings"], spec.settings_type))

    def _variable(self, credential: str) -> str:
        return f"{self.channel}_{credential}".upper()

    async def _hook(self, http: httpx.AsyncClient, path: str, body: object) -> Any:
        """POST ``body`` to the sandbox hook ``path``; its JSON answer, which must be 2xx."""
        response = await http.post(f"https://{self.host}{path}", json=body)
        assert response.is_success, response.text
        return response.json()

    async def place(
        self,
        http: httpx.AsyncClient,
        sku: str,
        quantity: int,
        *,
        gift_message: str | None = None,
        shipping: str | None = None,
        **extra: object,
    ) -> Placed:
        """A shopper's order of ``quantity`` of ``sku``, with a gift message and shipping
        method if given (the store's defaults otherwise); ``extra``: the hook's own fields."""
        body = self._order(sku, quantity, gift_message, shipping) | extra
        answer = await self._hook(http, "/_sandbox/orders", body)
        native_id, store_order_id, number = self._placed(answer)
        return Placed(self.channel, self.origin, str(native_id), store_order_id, str(number))

    async def cancel(self, http: httpx.AsyncClient, order: Placed) -> None:
        """The merchant cancels ``order`` in the store."""
        action, body = self.cancel_hook
        await self._hook(http, f"/_sandbox/orders/{order.id}/{action}", body)

    # -- what each platform does its own way ----------------------------------------------

    @abc.abstractmethod
    def skus(self) -> set[str]:
        """The SKUs the store lists."""

    @abc.abstractmethod
    def available(self, sku: str) -> int | None:
        """The quantity of ``sku`` the store shows, or None when it keeps none for it."""

    def edit_stock(self, sku: str, quantity: int) -> None:
        """The merchant changes the quantity of ``sku`` in the store's admin: no webhook, and
        nothing changes at the fulfillment provider."""
        raise TypeError(f"{self.platform} keeps no stock")

    def _order(
        self, sku: str, quantity: int, gift_message: str | None, shipping: str | None
    ) -> dict[str, Any]:
        """The order hook's body; most sandboxes take these fields."""
        given = {"gift_message": gift_message, "shipping": shipping}
        lines = [{"sku": sku, "quantity": quantity}]
        return {"lines": lines} | {k: v for k, v in given.items() if v is not None}

    @abc.abstractmethod
    def _placed(self, answer: Any) -> tuple[object, str, object]:
        """From the order hook's answer: the order's platform id, canonical id and number."""

    @abc.abstractmethod
    def trackings(self, order: Placed) -> list[str]:
        """The tracking number of each of the order's fulfillments in the store, in order."""

    @abc.abstractmethod
    def fulfilled(self, order: Placed) -> bool:
        """Whether the store counts the whole order as shipped."""


class ShopifyStore(Storefront):
    platform = "shopify"
    site = Site(shopify_sandbox.create_app, "myshopify.com", "Standard")

    def __init__(self, channel: str, *, shared_catalog: bool = False, **table: Any) -> None:
        super().__init__(channel, shared_catalog=shared_catalog, **table)
        secret = self.state.webhook_secret
        self.secrets = {"token": self.state.access_token, "webhook_secret": secret}
        location = f"gid://shopify/Location/{LOCATION_ID}"
        self.settings = {"shop": self.host, "location_id": location}

    def skus(self) -> set[str]:
        return {v.sku for v in self.state.variants.values() if v.sku}

    def _level(self, sku: str) -> dict[str, Any] | None:
        """The inventory level of ``sku`` at the channel's location, if it is stocked there."""
        variant = next(v for v in self.state.variants.values() if v.sku == sku)
        level: dict[str, Any] | None = self.state.levels.get(
            (variant.inventory_item_id, LOCATION_ID)
        )
        return level

    def available(self, sku: str) -> int | None:
        level = self._level(sku)
        return None if level is None else int(level["available"])

    def edit_stock(self, sku: str, quantity: int) -> None:
        level = self._level(sku)
        assert level is not None, f"{sku} is not stocked at the location"
        level["available"] = quantity

    def _placed(self, answer: Any) -> tuple[object, str, object]:
        return answer["id"], answer["admin_graphql_api_id"], answer["name"]

    def trackings(self, order: Placed) -> list[str]:
        fulfillments = self.state.fulfillments.values()
        return [f.tracking["number"] for f in fulfillments if f.order_id == int(order.id)]

    def fulfilled(self, order: Placed) -> bool:
        return bool(self.state.orders[int(order.id)].fulfillment == "FULFILLED")


class WixStore(Storefront):
    platform = "wix"
    site = Site(
        wix_sandbox.create_app, "wixapis.test", "Standard Shipping", opens_with_orders=False
    )

    async def connect(self, http: httpx.AsyncClient) -> None:
        response = await http.get(f"https://{self.host}/_sandbox/public-key")
        assert response.status_code == 200, response.text
        keys = response.json()
        self.secrets = {"token": keys["apiKey"], "public_key": keys["publicKey"]}
        self.settings = {"site_id": keys["siteId"], "base_url": f"https://{self.host}"}

    def _variant(self, sku: str) -> tuple[Any, Any]:
        products = self.state.products.values()
        return next((p, v) for p in products for v in p.variants if v.sku == sku)

    def skus(self) -> set[str]:
        return {v.sku for p in self.state.products.values() for v in p.variants if v.sku}

    def available(self, sku: str) -> int | None:
        product, variant = self._variant(sku)
        # Catalog V1 keeps quantities only for products whose inventory is tracked.
        return int(variant.quantity) if product.track_inventory else None

    def edit_stock(self, sku: str, quantity: int) -> None:
        product, variant = self._variant(sku)
        assert product.track_inventory, f"{sku} is not tracked"
        variant.quantity = quantity

    def _placed(self, answer: Any) -> tuple[object, str, object]:
        return answer["id"], answer["id"], answer["number"]

    def trackings(self, order: Placed) -> list[str]:
        fulfillments = self.state.orders[order.id].fulfillments
        return [f["trackingInfo"]["trackingNumber"] for f in fulfillments]

    def fulfilled(self, order: Placed) -> bool:
        return bool(self.state.orders[order.id].fulfillment_status == "FULFILLED")


class ShipStationStore(Storefront):
    """One store of a ShipStation account: its orders, as ShipStation imported them."""

    platform = "shipstation"
    keeps_stock = False
    cancel_hook = ("status", {"status": "cancelled"})
    site = Site(shipstation_sandbox.create_app, "shipstation.test", "Standard Shipping")

    def __init__(self, channel: str, *, shared_catalog: bool = False, **table: Any) -> None:
        super().__init__(channel, shared_catalog=shared_catalog, **table)
        self.store_id = int(self.state.stores[0].store_id)
        self.secrets = {
            "api_key": shipstation_sandbox.SANDBOX_KEY,
            "api_secret": shipstation_sandbox.SANDBOX_SECRET,
            "webhook_secret": "sandbox-webhook-token",
        }
        self.settings = {"store_id": self.store_id, "base_url": f"https://{self.host}"}
        self.defaults = {
            # The sandbox picks each order's requested service among these three.
            "ship_methods": {
                "Standard Shipping": {"ship_option": "Ground"},
                "Free Shipping": {"ship_option": "Ground"},
                "Express": {"ship_option": "2-Day"},
            },
            # The account's seeded orders date from long before the merchant switched over.
            "orders": {"ship_start": datetime.now(UTC).date()},
        }

    def skus(self) -> set[str]:
        return {item.sku for item in self.state.catalog.items if item.sku}

    def available(self, sku: str) -> int | None:
        return None  # ShipStation V1 keeps no stock

    def _order(
        self, sku: str, quantity: int, gift_message: str | None, shipping: str | None
    ) -> dict[str, Any]:
        # The sandbox picks the requested service itself; the order is said to come from the
        # channel's store, so that the channel reads it.
        assert shipping is None, "the ShipStation sandbox picks each order's shipping service"
        return super()._order(sku, quantity, gift_message, None) | {"store_id": self.store_id}

    def _placed(self, answer: Any) -> tuple[object, str, object]:
        [order] = answer  # one order per "count"
        return order["orderId"], str(order["orderId"]), order["orderNumber"]

    def trackings(self, order: Placed) -> list[str]:
        fulfillments = self.state.fulfillments
        return [f.tracking_number for f in fulfillments if f.order_id == int(order.id)]

    def fulfilled(self, order: Placed) -> bool:
        return bool(self.state.orders[int(order.id)].order_status == "shipped")


class BigCommerceStore(Storefront):
    platform = "bigcommerce"
    site = Site(
        bigcommerce_sandbox.create_app, "bigcommerce.test", "Free Shipping", opens_with_orders=False
    )
    unpaid: ClassVar[dict[str, Any]] = {"status_id": 7, "payment_status": ""}  # Awaiting Payment

    def __init__(self, channel: str, *, shared_catalog: bool = False, **table: Any) -> None:
        super().__init__(channel, shared_catalog=shared_catalog, **table)
        self.secrets = {
            "token": bigcommerce_sandbox.SANDBOX_TOKEN,
            "webhook_secret": "sandbox-webhook-secret",
        }
        self.settings = {
            "store_hash": bigcommerce_sandbox.STORE_HASH,
            "base_url": f"https://{self.host}",
        }

    def skus(self) -> set[str]:
        return {v.sku for p in self.state.products.values() for v in p.variants if v.sku}

    def _stock_key(self, sku: str) -> tuple[int, int] | None:
        """Where the sandbox keeps the stock of ``sku``: None if it is not tracked; stock
        tracked by product is kept on its first variant's key, at location 1."""
        product, variant = self.state.find_sku(sku)
        if product.inventory_tracking == "none":
            return None
        tracked = product.variants[0] if product.inventory_tracking == "product" else variant
        return (1, tracked.id)

    def available(self, sku: str) -> int | None:
        key = self._stock_key(sku)
        level = None if key is None else self.state.stock.get(key)
        return None if level is None else int(level)

    def edit_stock(self, sku: str, quantity: int) -> None:
        key = self._stock_key(sku)
        assert key is not None, f"{sku} is not tracked"
        self.state.stock[key] = quantity

    def _order(
        self, sku: str, quantity: int, gift_message: str | None, shipping: str | None
    ) -> dict[str, Any]:
        # BigCommerce's gift message is the line's gift-wrapping message.
        line = {"sku": sku, "quantity": quantity, "wrapping_message": gift_message or ""}
        return {"lines": [line]} | ({"shipping_method": shipping} if shipping else {})

    def _placed(self, answer: Any) -> tuple[object, str, object]:
        return answer["id"], str(answer["id"]), answer["id"]  # the order number is its id

    def trackings(self, order: Placed) -> list[str]:
        return [s.tracking_number for s in self.state.orders[int(order.id)].shipments]

    def fulfilled(self, order: Placed) -> bool:
        return bool(self.state.orders[int(order.id)].status_id == 2)  # Shipped


STOCKING_PLATFORMS: dict[str, type[Storefront]] = {
    "shopify": ShopifyStore,
    "wix": WixStore,
    "bigcommerce": BigCommerceStore,
}
"""The storefront platforms that keep stock, by platform name: a test parametrized over them
runs once per platform."""
