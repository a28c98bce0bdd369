"""The consistency report ``shelfsync demo`` ends with: did every flow do its job?

:func:`build_report` compares what the shoppers placed and the warehouse shipped with what the
daemon decided and what the sandboxes now hold. An inconsistency is a broken promise (an order
lost or created twice, tracking missing or written twice, a store showing the wrong stock);
holds and oversells are not: they are the daemon doing its job, and are listed with reasons.
So is a tracking write its store refused and the daemon holds for an operator (a store that
keeps one tracking number per order cannot take a second package's).
"""

from __future__ import annotations

from collections import Counter

import msgspec

from actors.pool import Pool
from actors.rules.bundles import Bundles, expand
from actors.rules.inventory import bundle_quantity, posted
from connectors.model import OrderLine, TrackingPush
from connectors.sandbox_play import ProviderOrder, StorefrontPlay
from daemon.demo_play import PlacedOrder
from daemon.store import HeldException


class StoreLine(msgspec.Struct, frozen=True):
    channel: str
    placed: int
    imported: int
    held: dict[str, int]
    skipped: dict[str, int]
    stock_checked: int
    stock_wrong: list[str]
    """``"SKU: shows N, should show M"`` for each SKU the store shows wrongly."""


class Report(msgspec.Struct, frozen=True):
    stores: list[StoreLine]
    fulfillment_orders: int
    duplicate_fulfillment_orders: int
    imported_without_fulfillment_order: int
    shipments_shipped: int
    tracking_written: int
    tracking_missing: int
    tracking_duplicated: int
    tracking_held: dict[str, int]
    """Reason → shipments whose tracking write the store refused, held for an operator."""
    oversells: int
    unseen_orders: int
    """Orders placed that the daemon never decided about."""
    bundle_orders: int
    """Orders placed with a bundle and created at the fulfillment provider."""
    bundle_orders_wrong: int
    """Of those, the ones not created as the bundles' components (and the other lines)."""
    problems: list[str]

    @property
    def consistent(self) -> bool:
        return not self.problems


def held_tracking(held_writes: list[HeldException]) -> dict[str, str]:
    """Shipment id → the reason its tracking write waits in the exception queue, of the
    held writes that are tracking writes (``Daemon.held_writes``)."""
    held: dict[str, str] = {}
    for write in held_writes:
        try:
            push = msgspec.json.decode(write.payload or b"", type=TrackingPush)
        except (msgspec.DecodeError, msgspec.ValidationError):
            continue  # another kind of write
        held[push.shipment.shipment_id] = write.reason
    return held


def build_report(
    placed: list[PlacedOrder],
    pool: Pool,
    stores: dict[str, StorefrontPlay],
    provider_orders: list[ProviderOrder],
    sellable: dict[str, int],
    thresholds: dict[str, int],
    oversells: int,
    tracking_held: dict[str, str] | None = None,
    bundles: Bundles | None = None,
) -> Report:
    """The report on a settled shop (nothing left in hand: see ``Daemon.quiet``);
    ``tracking_held`` is :func:`held_tracking` of the daemon's held writes, ``bundles`` the
    shop's bundles (bundle SKU → its components)."""
    tracking_held = tracking_held or {}
    bundles = bundles or {}
    held_reasons: Counter[str] = Counter()
    problems: list[str] = []
    ours = [o for o in provider_orders if o.origin is not None]
    created = Counter((o.origin, o.store_order_id) for o in ours)
    duplicates = sum(n - 1 for n in created.values() if n > 1)
    if duplicates:
        problems.append(f"{duplicates} store orders have more than one fulfillment order")

    imported = [o for o in pool.orders.values() if o.state in ("imported", "cancelled")]
    missing = [o for o in imported if (o.origin, o.store_order_id) not in created]
    if missing:
        problems.append(f"{len(missing)} imported orders have no fulfillment order")

    unseen = [p for p in placed if pool.order(p.origin, p.store_order_id) is None]
    if unseen:
        problems.append(f"{len(unseen)} placed orders were never decided")

    by_origin = {store.origin: store for store in stores.values()}
    shipped = written = missing_tracking = duplicated = 0
    for order in ours:
        store = by_origin.get(order.origin or "")
        numbers = store.tracking_numbers().get(order.store_order_id or "", []) if store else []
        for shipment in order.shipments:
            if not shipment.shipped or shipment.tracking_number is None:
                continue
            shipped += 1
            count = numbers.count(shipment.tracking_number)
            written += min(count, 1)
            if count == 0 and shipment.shipment_id in tracking_held:
                held_reasons[tracking_held[shipment.shipment_id]] += 1
                continue
            missing_tracking += count == 0
            duplicated += max(count - 1, 0)
    if missing_tracking:
        problems.append(f"{missing_tracking} shipped shipments have no store fulfillment")
    if duplicated:
        problems.append(f"{duplicated} store fulfillments were written twice")

    bundle_orders, bundle_orders_wrong = _bundle_orders(placed, ours, bundles)
    if bundle_orders_wrong:
        problems.append(
            f"{bundle_orders_wrong} orders with a bundle were not created as its components"
        )
    at_provider = sorted(bundles.keys() & sellable.keys())
    if at_provider:
        problems.append(f"bundles held as products at the provider: {', '.join(at_provider)}")
    # What every store should show before its threshold: the provider's sellable units, and
    # for a bundle the floor of its scarcest component.
    units = dict(sellable) | {
        sku: bundle_quantity(parts, sellable) for sku, parts in bundles.items()
    }

    lines = []
    for channel, store in sorted(stores.items()):
        mine = [p for p in placed if p.channel == channel]
        decisions = [pool.order(p.origin, p.store_order_id) for p in mine]
        wrong = [
            f"{sku}: shows {shown}, should show {posted(units[sku], thresholds[channel])}"
            for sku, shown in sorted(store.shown_stock().items())
            if sku in units and shown != posted(units[sku], thresholds[channel])
        ]
        if wrong:
            problems.append(f"{channel}: {len(wrong)} SKUs show the wrong stock")
        lines.append(
            StoreLine(
                channel=channel,
                placed=len(mine),
                imported=sum(1 for d in decisions if d and d.state in ("imported", "cancelled")),
                held=dict(Counter(d.reason or "" for d in decisions if d and d.state == "held")),
                skipped=dict(
                    Counter(d.reason or "" for d in decisions if d and d.state == "skipped")
                ),
                stock_checked=sum(1 for sku in store.shown_stock() if sku in units),
                stock_wrong=wrong,
            )
        )
    return Report(
        stores=lines,
        fulfillment_orders=len(ours),
        duplicate_fulfillment_orders=duplicates,
        imported_without_fulfillment_order=len(missing),
        shipments_shipped=shipped,
        tracking_written=written,
        tracking_missing=missing_tracking,
        tracking_duplicated=duplicated,
        tracking_held=dict(held_reasons),
        oversells=oversells,
        unseen_orders=len(unseen),
        bundle_orders=bundle_orders,
        bundle_orders_wrong=bundle_orders_wrong,
        problems=problems,
    )


def _bundle_orders(
    placed: list[PlacedOrder], created: list[ProviderOrder], bundles: Bundles
) -> tuple[int, int]:
    """How many placed orders with a bundle the provider holds, and how many of those do
    not ask it for exactly the bundles' components (with the orders' other lines)."""
    by_store_order = {(o.origin, o.store_order_id): o for o in created}
    made = wrong = 0
    for order in placed:
        if not any(sku in bundles for sku, _ in order.lines):
            continue
        at_provider = by_store_order.get((order.origin, order.store_order_id))
        if at_provider is None:
            continue  # held or skipped: whether that was right is reported above
        made += 1
        ordered = [OrderLine(sku=sku, quantity=n, name=sku) for sku, n in order.lines]
        picked: Counter[str] = Counter()
        for line in expand(ordered, bundles):
            picked[line.sku] += line.quantity
        wrong += dict(picked) != at_provider.products
    return made, wrong


def unaccounted_orders(
    placed: list[PlacedOrder], pool: Pool, held_orders: list[HeldException]
) -> list[str]:
    """The placed orders the daemon did not import and cannot account for: held without an
    open exception of the same reason (``held_orders``: ``Daemon.held_records("orders")``),
    or skipped without a reason; one ``"<channel> <store order id>: ..."`` line each."""
    open_holds = {(h.channel, h.entity, h.reason) for h in held_orders}
    lines = []
    for order in placed:
        decision = pool.order(order.origin, order.store_order_id)
        if decision is None or decision.state in ("imported", "cancelled"):
            continue  # never decided is a problem of its own (``Report.unseen_orders``)
        where = f"{order.channel} {order.store_order_id}"
        if (
            decision.state == "held"
            and (
                decision.channel,
                order.store_order_id,
                decision.reason,
            )
            not in open_holds
        ):
            lines.append(f"{where}: held ({decision.reason}) with no open exception")
        if not decision.reason:
            lines.append(f"{where}: {decision.state} without a reason")
    return lines


def render(report: Report) -> str:
    """The report as the terminal shows it."""
    out = ["", "shelfsync demo: consistency report", ""]
    for line in report.stores:
        held = ", ".join(f"{n} {reason}" for reason, n in sorted(line.held.items())) or "none"
        skipped = ", ".join(f"{n} {r}" for r, n in sorted(line.skipped.items())) or "none"
        out.append(
            f"  {line.channel:<10} placed {line.placed:>4}  imported {line.imported:>4}  "
            f"held: {held}  skipped: {skipped}"
        )
        out.append(
            f"  {'':<10} stock right for {line.stock_checked - len(line.stock_wrong)}"
            f"/{line.stock_checked} SKUs"
        )
        out += [f"  {'':<10}   {wrong}" for wrong in line.stock_wrong[:5]]
    out += [
        "",
        f"  fulfillment orders created: {report.fulfillment_orders} "
        f"(duplicates: {report.duplicate_fulfillment_orders})",
        f"  shipments shipped: {report.shipments_shipped}, tracking written: "
        f"{report.tracking_written} (missing {report.tracking_missing}, "
        f"twice {report.tracking_duplicated})",
        "  tracking held for review: "
        + (", ".join(f"{n} {r}" for r, n in sorted(report.tracking_held.items())) or "none"),
        f"  oversells held for review: {report.oversells}",
        f"  orders with a bundle: {report.bundle_orders} "
        f"(not created as its components: {report.bundle_orders_wrong})",
        "",
    ]
    if report.consistent:
        out.append("  consistent: every order once, every shipment's tracking once, stock right")
    else:
        out += ["  INCONSISTENT:", *(f"    - {problem}" for problem in report.problems)]
    return "\n".join(out) + "\n"
