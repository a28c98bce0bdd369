"""The Shopify Admin GraphQL client: one method per operation the daemon performs.

Every call goes through :meth:`ShopifyClient.execute`, which

- goes through ``gate.call(cost)`` with the query's requested cost as :mod:`.cost` computes
  it (Shopify's published rules, applied to the document and its variables), and reports
  each answer's ``extensions.cost.throttleStatus`` through that call, so the channel's
  limiter paces by Shopify's leaky bucket rather than by request count;
- re-sends a ``THROTTLED`` answer (HTTP 200; Shopify executed nothing) up to
  :data:`THROTTLE_RETRIES` times, each after reporting the bucket to the gate and going
  through ``gate.call`` again, so throttling does not spend the actor's retry attempts;
- turns every failure into :mod:`connectors.errors`: transport trouble and 5xx →
  ``Retryable``; 401/403 and ``ACCESS_DENIED`` → ``AuthFailed``; a ``THROTTLED`` answer that
  persists past the re-sends → ``RateLimited`` whose ``retry_after`` is
  ``(requested - currentlyAvailable) / restoreRate``;
  a body that does not decode → ``RecordError(reason="schema")`` naming the field path;
  ``userErrors`` → ``RecordError(reason="remote_validation")``, except a stale compare-and-set
  answer (``CHANGE_FROM_QUANTITY_STALE``/``COMPARE_QUANTITY_STALE``) →
  ``RecordError(reason="stale")``, which tells the caller to re-read the
  quantity and decide again. No httpx exception escapes.

The client does not own ``http``: whoever made the ``httpx.AsyncClient`` closes it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, TypeVar

import httpx
import msgspec
from graphql import DocumentNode, parse

from connectors.base import CallGate, CallReport, RateSignal
from connectors.errors import AuthFailed, ChannelFatal, RateLimited, RecordError, Retryable
from connectors.http import check_status, translate_errors
from connectors.shopify import queries, wire
from connectors.shopify.cost import requested_cost
from daemon.credentials import Secret

T = TypeVar("T")

STALE_CODES = frozenset({"CHANGE_FROM_QUANTITY_STALE", "COMPARE_QUANTITY_STALE"})
"""userError codes meaning "the quantity changed since you read it" (2026-01 has both)."""


THROTTLE_RETRIES = 3
"""How many times :meth:`ShopifyClient.execute` re-sends a ``THROTTLED`` call (after waiting at
the gate again) before it raises ``RateLimited``."""


class QueryTooCostly(ChannelFatal):
    """Shopify refused a query as over its single-query cost limit (``MAX_COST_EXCEEDED``).

    Fatal for a fixed query; a paged read asks again with a smaller page.
    """


class _Throttled(Exception):
    """A ``THROTTLED`` answer: nothing was executed, the call may be sent again."""

    def __init__(self, retry_after: float | None) -> None:
        super().__init__(retry_after)
        self.retry_after = retry_after


class InventorySet(msgspec.Struct, frozen=True):
    """Set one item's quantity at one location, if it is still ``change_from``.

    ``change_from=None`` is sent as an explicit ``null``: Shopify's documented opt-out of the
    compare-and-set check (from 2026-04 leaving the field out altogether is an error).
    """

    inventory_item_id: str
    location_id: str
    quantity: int
    change_from: int | None


class Tracking(msgspec.Struct, frozen=True):
    company: str | None = None
    number: str | None = None
    url: str | None = None


class Stock(msgspec.Struct, frozen=True):
    """Where a variant's stock is kept at a location, and how much is ``available`` there."""

    inventory_item_id: str
    available: int | None
    """None when Shopify reports no ``available`` quantity for the item there."""


class FulfillmentLine(msgspec.Struct, frozen=True):
    fulfillment_order_line_item_id: str
    quantity: int


class NodesPage(msgspec.Struct, frozen=True):
    nodes: list[tuple[wire.NodeStamp, bytes]]
    """Each node's id and ``updatedAt``, with its raw JSON."""
    end_cursor: str | None
    has_next_page: bool


@lru_cache(maxsize=64)
def _parsed(document: str) -> DocumentNode:
    return parse(document)


def _timestamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def search_query(since: datetime | None, **filters: str | bool | None) -> str | None:
    """A ``query:`` search string: ``updated_at:>='…'`` (inclusive) and ``field:value`` filters.

    A filter value starting with ``-`` negates the field (``status="-cancelled"`` gives
    ``-status:cancelled``); booleans are written ``true``/``false``.
    """
    terms: list[str] = []
    if since is not None:
        terms.append(f"updated_at:>={_quote(_timestamp(since))}")
    for name, value in filters.items():
        if value is None:
            continue
        if isinstance(value, bool):
            terms.append(f"{name}:{'true' if value else 'false'}")
        elif value.startswith("-"):
            terms.append(f"-{name}:{value[1:]}")
        else:
            terms.append(f"{name}:{value}")
    return " ".join(terms) or None


def any_of(field: str, values: Sequence[str]) -> str:
    """A search for ``field`` equal to any of ``values``: ``name:'#1001' OR name:'1002'``."""
    return " OR ".join(f"{field}:{_quote(value)}" for value in values)


def _decode(data: bytes, type_: type[T], what: str, under: str = "") -> T:
    try:
        return msgspec.json.decode(data, type=type_, strict=True)
    except msgspec.ValidationError as exc:
        # A part decoded on its own (``data``, one node) gets its place in the answer back.
        message = str(exc).replace("`$", f"`${under}", 1)
        raise RecordError(f"{what}: {message}", entity=what, reason="schema") from None
    except msgspec.DecodeError as exc:
        raise RecordError(f"{what}: {exc}", entity=what, reason="schema") from None


class ShopifyClient:
    def __init__(
        self,
        http: httpx.AsyncClient,
        shop: str,
        api_version: str,
        token: Secret,
        gate: CallGate,
        *,
        scheme: str = "https",
    ) -> None:
        """``shop`` is the shop's domain; ``scheme="http"`` is for a sandbox on loopback only."""
        self._http = http
        self._url = f"{scheme}://{shop}/admin/api/{api_version}/graphql.json"
        self._token = token
        self._gate = gate
        self.last_cost: wire.Cost | None = None
        """The ``extensions.cost`` of the latest answer (for statistics and tests)."""

    async def execute(self, operation: str, variables: dict[str, Any], data_type: type[T]) -> T:
        """Run the document ``queries.ALL[operation]`` and decode its ``data`` as ``data_type``.

        Raises the errors listed in the module docstring. Cancellation abandons the request;
        a mutation cancelled in flight may or may not have been applied (replay its
        idempotency key to find out).
        """
        document = queries.ALL[operation]
        cost_points = requested_cost(_parsed(document), variables)
        for attempt in range(THROTTLE_RETRIES + 1):
            try:
                async with self._gate.call(cost_points) as call:
                    return await self._send(call, operation, document, variables, data_type)
            except _Throttled as throttled:
                # Shopify executed nothing: the gate has seen the bucket's level, so waiting
                # for the points again and re-sending is safe, even for a mutation.
                if attempt == THROTTLE_RETRIES:
                    raise RateLimited(
                        f"shopify {operation}: throttled", retry_after=throttled.retry_after
                    ) from None
        raise AssertionError("unreachable")

    async def _send(
        self,
        call: CallReport,
        operation: str,
        document: str,
        variables: dict[str, Any],
        data_type: type[T],
    ) -> T:
        with translate_errors(f"shopify {operation}"):
            response = await self._http.post(
                self._url,
                json={"query": document, "variables": variables, "operationName": operation},
                headers={"X-Shopify-Access-Token": self._token.reveal()},
            )
        check_status(response, f"shopify {operation}")
        if response.status_code != 200:
            raise ChannelFatal(
                f"shopify {operation}: HTTP {response.status_code} {response.text[:200]}"
            )
        envelope = _decode(response.content, wire.Envelope, operation)
        cost = envelope.extensions.cost if envelope.extensions else None
        if cost is not None:
            self.last_cost = cost
            status = cost.throttle_status
            # No reset_after: a leaky bucket has no window to wait out; it refills continuously
            # at restoreRate, which the limiter already models, so the next call waits only for
            # the points it needs.
            call.observe(
                RateSignal(
                    remaining=status.currently_available,
                    limit=status.maximum_available,
                    restore_rate=status.restore_rate,
                )
            )
        if envelope.errors:
            self._raise_errors(call, operation, envelope.errors, cost)
        if bytes(envelope.data) == b"null":
            raise Retryable(f"shopify {operation}: answer without data or errors")
        return _decode(envelope.data, data_type, operation, ".data")

    def _raise_errors(
        self,
        call: CallReport,
        operation: str,
        errors: list[wire.GraphQLError],
        cost: wire.Cost | None,
    ) -> None:
        codes = {e.extensions.code for e in errors if e.extensions and e.extensions.code}
        messages = "; ".join(e.message for e in errors)
        what = f"shopify {operation}"
        if "THROTTLED" in codes:
            wait = None
            if cost is not None:
                status = cost.throttle_status
                short = cost.requested_query_cost - status.currently_available
                # currentlyAvailable is rounded: a bucket reported full enough can still be a
                # hair short, so wait for at least one point (else the re-send is throttled too).
                wait = max(1.0, short) / status.restore_rate
                call.observe(RateSignal(retry_after=wait))
            raise _Throttled(wait)
        if "ACCESS_DENIED" in codes:
            raise AuthFailed(f"{what}: access denied: {messages}")
        if "INTERNAL_SERVER_ERROR" in codes:
            raise Retryable(f"{what}: {messages}")
        if "MAX_COST_EXCEEDED" in codes:
            raise QueryTooCostly(f"{what}: {messages}")
        # Anything else (a validation error) is a bug on our side that no retry fixes.
        raise ChannelFatal(f"{what}: {messages}")

    # -- reads --------------------------------------------------------------------------------

    async def products_page(
        self, since: datetime | None, after: str | None, *, first: int = queries.PRODUCTS_PAGE_SIZE
    ) -> NodesPage:
        """One page of ``first`` products changed at or after ``since``, oldest change first.

        Each body is the product node with every variant: those past the first
        :data:`~.queries.PRODUCT_VARIANTS_PAGE_SIZE` are read with ``MoreVariants`` and added.
        Raises :class:`QueryTooCostly` when Shopify refuses the page as too costly.
        """
        data = await self.execute(
            "Products",
            {
                "first": first,
                "variantsFirst": queries.PRODUCT_VARIANTS_PAGE_SIZE,
                "after": after,
                "query": search_query(since),
            },
            wire.ProductsPage,
        )
        nodes: list[tuple[wire.NodeStamp, bytes]] = []
        for index, raw in enumerate(data.products.nodes):
            stamp = _decode(
                bytes(raw), wire.ProductStamp, "Products", f".data.products.nodes[{index}]"
            )
            body = bytes(raw)
            if stamp.variants.page_info.has_next_page:
                body = await self._with_all_variants(stamp, body)
            nodes.append((wire.NodeStamp(id=stamp.id, updated_at=stamp.updated_at), body))
        page_info = data.products.page_info
        return NodesPage(
            nodes=nodes, end_cursor=page_info.end_cursor, has_next_page=page_info.has_next_page
        )

    async def _with_all_variants(self, stamp: wire.ProductStamp, body: bytes) -> bytes:
        """``body`` (a product node) with the variants after its first page appended."""
        product = msgspec.json.decode(body)
        variants = product["variants"]
        after = stamp.variants.page_info.end_cursor
        while True:
            data = await self.execute(
                "MoreVariants",
                {"id": stamp.id, "first": queries.MORE_VARIANTS_PAGE_SIZE, "after": after},
                wire.MoreVariantsData,
            )
            if data.product is None:
                # Deleted while we read it: the next read no longer sees it.
                raise Retryable(f"shopify product {stamp.id} disappeared during the read")
            more = data.product.variants
            variants["nodes"].extend(msgspec.json.decode(bytes(node)) for node in more.nodes)
            after = more.page_info.end_cursor or after
            if not more.page_info.has_next_page:
                break
        variants["pageInfo"] = {"hasNextPage": False, "endCursor": after}
        return msgspec.json.encode(product)

    async def orders_page(
        self,
        since: datetime | None,
        after: str | None,
        *,
        financial_status: str | None = None,
        fulfillment_status: str | None = None,
        status: str | None = None,
        test: bool | None = None,
        extra: str | None = None,
        first: int = queries.ORDERS_PAGE_SIZE,
    ) -> NodesPage:
        """One page of ``first`` orders changed at or after ``since``, oldest change first.

        Filters use Shopify's search values (``financial_status="paid"``,
        ``status="-cancelled"``); see :func:`search_query`. ``extra`` is appended verbatim.
        """
        query = search_query(
            since,
            financial_status=financial_status,
            fulfillment_status=fulfillment_status,
            status=status,
            test=test,
        )
        query = " ".join(q for q in (query, extra) if q) or None
        data = await self.execute(
            "Orders", {"first": first, "after": after, "query": query}, wire.OrdersPage
        )
        return _page(data.orders, "Orders", "orders")

    async def orders_by_id(self, ids: Sequence[str]) -> list[tuple[wire.NodeStamp, bytes]]:
        """The orders among ``ids`` (Order GIDs) that Shopify has, each node as
        :meth:`orders_page` gives it; an id naming no order is left out.
        :data:`~.queries.ORDERS_PAGE_SIZE` ids a call."""
        found: list[tuple[wire.NodeStamp, bytes]] = []
        for index in range(0, len(ids), queries.ORDERS_PAGE_SIZE):
            batch = list(ids[index : index + queries.ORDERS_PAGE_SIZE])
            data = await self.execute("OrdersById", {"ids": batch}, wire.RawNodes)
            found += [
                (_decode(bytes(raw), wire.NodeStamp, "OrdersById", f".data.nodes[{i}]"), bytes(raw))
                for i, raw in enumerate(data.nodes)
                if bytes(raw) != b"null"
            ]
        return found

    async def fulfillment_orders(self, order_id: str) -> list[wire.FulfillmentOrder]:
        """The fulfillment orders of ``order_id`` (the first 5: one per assigned location).

        Raises ``RecordError(reason="not_found")`` when Shopify has no such order.
        """
        data = await self.execute("FulfillmentOrders", {"id": order_id}, wire.FulfillmentOrdersData)
        return _found(data.order, order_id).fulfillment_orders.nodes

    async def fulfillments(self, order_id: str) -> list[wire.FulfillmentRef]:
        """The fulfillments of ``order_id`` (the first 10) with what each shipped.

        Raises ``RecordError(reason="not_found")`` when Shopify has no such order.
        """
        data = await self.execute("Fulfillments", {"id": order_id}, wire.FulfillmentsData)
        return _found(data.order, order_id).fulfillments

    async def variants_by_sku(
        self, skus: Sequence[str], variant_ids: Sequence[str], location_id: str
    ) -> list[wire.StockedVariant]:
        """The variants whose SKU is in ``skus`` or whose GID is in ``variant_ids``, with their
        inventory item and its quantities at ``location_id``.

        Shopify's ``sku:`` search also matches SKUs that only start alike: the caller keeps the
        exact matches.
        """
        terms = [f"sku:{_quote(sku)}" for sku in skus] + [
            f"id:{variant_id.rsplit('/', 1)[-1]}" for variant_id in variant_ids
        ]
        found: list[wire.StockedVariant] = []
        for index in range(0, len(terms), queries.VARIANTS_BY_SKU_PAGE):
            batch = terms[index : index + queries.VARIANTS_BY_SKU_PAGE]
            after: str | None = None
            while True:
                data = await self.execute(
                    "VariantsBySku",
                    {
                        "first": queries.VARIANTS_BY_SKU_PAGE,
                        "after": after,
                        "query": " OR ".join(batch),
                        "locationId": location_id,
                    },
                    wire.VariantsBySkuData,
                )
                found.extend(data.product_variants.nodes)
                # Prefix matches can outnumber the terms: an exact match may be on a later page.
                if not data.product_variants.page_info.has_next_page:
                    break
                after = data.product_variants.page_info.end_cursor
        return found

    async def inventory_levels(
        self, inventory_item_ids: Sequence[str], location_id: str
    ) -> dict[str, dict[str, int]]:
        """Current ``available``/``on_hand`` per item at the location, 250 items per call.

        The re-read after ``RecordError(reason="stale")``. Items Shopify does not know, or that
        are not stocked at the location, are absent from the answer.
        """
        levels: dict[str, dict[str, int]] = {}
        for index in range(0, len(inventory_item_ids), queries.INVENTORY_BATCH):
            batch = list(inventory_item_ids[index : index + queries.INVENTORY_BATCH])
            data = await self.execute(
                "InventoryLevels",
                {"ids": batch, "locationId": location_id},
                wire.InventoryLevelsData,
            )
            for node in data.nodes:
                if node is not None and node.inventory_level is not None:
                    levels[node.id] = {q.name: q.quantity for q in node.inventory_level.quantities}
        return levels

    # -- writes -------------------------------------------------------------------------------

    async def set_inventory(
        self,
        changes: Sequence[InventorySet],
        *,
        key: str,
        name: str = "available",
        reason: str = "correction",
        reference_document_uri: str | None = None,
    ) -> list[wire.InventoryChange]:
        """Set quantities, 250 per call, each idempotent under ``{key}:{batch index}:{input hash}``.

        Calls run in order and stop at the first batch Shopify refuses: earlier batches are
        applied, and calling again with the same ``key`` replays them without effect.
        Raises ``RecordError(reason="stale")`` when a ``change_from`` no longer matches (re-read
        and decide again), ``RecordError(reason="remote_validation")`` for other userErrors.
        """
        applied: list[wire.InventoryChange] = []
        for index in range(0, len(changes), queries.INVENTORY_BATCH):
            batch = changes[index : index + queries.INVENTORY_BATCH]
            payload: dict[str, Any] = {
                "name": name,
                "reason": reason,
                "quantities": [
                    {
                        "inventoryItemId": c.inventory_item_id,
                        "locationId": c.location_id,
                        "quantity": c.quantity,
                        "changeFromQuantity": c.change_from,
                    }
                    for c in batch
                ],
            }
            if reference_document_uri is not None:
                payload["referenceDocumentUri"] = reference_document_uri
            # The key covers the batch's input too: a recomputed batch (new change_from after
            # a stale answer) is a new request, not a mismatched replay of the old key.
            digest = hashlib.sha256(
                json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()
            ).hexdigest()[:16]
            batch_key = f"{key}:{index // queries.INVENTORY_BATCH}:{digest}"
            data = await self.execute(
                "InventorySetQuantities",
                {"input": payload, "key": batch_key},
                wire.InventorySetData,
            )
            result = data.inventory_set_quantities
            if result is None:
                raise Retryable("shopify InventorySetQuantities: null payload")
            if result.user_errors:
                raise _inventory_error(result.user_errors, batch)
            if result.inventory_adjustment_group is not None:
                applied.extend(result.inventory_adjustment_group.changes)
        return applied

    async def create_fulfillment(
        self,
        groups: Sequence[tuple[str, Sequence[FulfillmentLine] | None]],
        tracking: Tracking,
        *,
        notify_customer: bool = True,
    ) -> wire.Fulfillment:
        """Fulfil, as one package, ``(fulfillment order id, lines)`` groups (None: all remaining).

        Each call creates a new Fulfillment on Shopify: the caller keeps it to one call per
        shipment (DESIGN rule 3). Raises ``RecordError(reason="remote_validation")`` with
        Shopify's userError messages.
        """
        by_order: list[dict[str, Any]] = []
        for fulfillment_order_id, lines in groups:
            group: dict[str, Any] = {"fulfillmentOrderId": fulfillment_order_id}
            if lines is not None:
                group["fulfillmentOrderLineItems"] = [
                    {"id": line.fulfillment_order_line_item_id, "quantity": line.quantity}
                    for line in lines
                ]
            by_order.append(group)
        fulfillment = {
            "notifyCustomer": notify_customer,
            "trackingInfo": {
                k: v
                for k, v in {
                    "company": tracking.company,
                    "number": tracking.number,
                    "url": tracking.url,
                }.items()
                if v is not None
            },
            "lineItemsByFulfillmentOrder": by_order,
        }
        data = await self.execute(
            "FulfillmentCreate", {"fulfillment": fulfillment}, wire.FulfillmentCreateData
        )
        result = data.fulfillment_create
        if result is None:
            raise Retryable("shopify FulfillmentCreate: null payload")
        if result.user_errors or result.fulfillment is None:
            messages = "; ".join(e.message for e in result.user_errors) or "no fulfillment"
            raise RecordError(
                f"shopify fulfillmentCreate: {messages}",
                entity=groups[0][0] if groups else "fulfillment",
                reason="remote_validation",
            )
        return result.fulfillment


def _found(order: T | None, order_id: str) -> T:
    if order is None:
        raise RecordError(
            f"shopify order {order_id} not found", entity=order_id, reason="not_found"
        )
    return order


def _page(connection: wire.RawConnection, what: str, field: str) -> NodesPage:
    nodes = [
        (_decode(bytes(raw), wire.NodeStamp, what, f".data.{field}.nodes[{i}]"), bytes(raw))
        for i, raw in enumerate(connection.nodes)
    ]
    return NodesPage(
        nodes=nodes,
        end_cursor=connection.page_info.end_cursor,
        has_next_page=connection.page_info.has_next_page,
    )


def _inventory_error(
    errors: list[wire.InventoryUserError], batch: Sequence[InventorySet]
) -> RecordError:
    messages = "; ".join(f"{e.code or 'ERROR'}: {e.message}" for e in errors)
    entity = "inventory"
    field = errors[0].field or []
    # ["input", "quantities", "3", ...] names the offending quantity.
    if len(field) >= 3 and field[1] == "quantities" and field[2].isdigit():
        position = int(field[2])
        if position < len(batch):
            entity = batch[position].inventory_item_id
    stale = any(e.code in STALE_CODES for e in errors)
    return RecordError(
        f"shopify inventorySetQuantities: {messages}",
        entity=entity,
        reason="stale" if stale else "remote_validation",
    )
