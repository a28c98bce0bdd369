"""The ShipBob sandbox's stock as the inventory API reports it: orders commit units where they
are routed, shipping takes them off on-hand, cancels release them, receipts add them, an order
beyond the stock waits out of stock; and on_hand >= committed >= 0 through any of it."""

from __future__ import annotations

from typing import Any

import httpx
import msgspec
import trio
import trio.testing
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from connectors.sandbox_server import SandboxOptions
from connectors.shipbob.client import ShipBobClient
from connectors.shipbob.sandbox import SANDBOX_TOKEN, SandboxApp, create_app
from connectors.shipbob.sandbox_stock import held
from connectors.shipbob.wire import CreateWebhookRequest
from tests.helpers import delivering_to
from tests.shipbob.conftest import BASE_URL, SECRET, Receiver, order_request

AUTH = {"Authorization": f"Bearer {SANDBOX_TOKEN}"}
CICERO, MORENO = 10, 28
Counts = tuple[int, int, int]
"""``(on_hand, committed, fulfillable)`` as the API reports them."""


async def levels(http: httpx.AsyncClient, sku: str) -> dict[int | str, Counts]:
    """``sku``'s counts per fulfillment center (``inventory-level/locations``) and, as
    ``"total"``, network-wide (``inventory-level``). A zero count is left out of the JSON."""
    located = await http.get(f"{BASE_URL}/2026-01/inventory-level/locations", headers=AUTH)
    totals = await http.get(f"{BASE_URL}/2026-01/inventory-level", headers=AUTH)
    assert located.status_code == totals.status_code == 200
    [item] = [i for i in located.json()["items"] if i["sku"] == sku]
    [total] = [t for t in totals.json()["items"] if t["sku"] == sku]
    counts: dict[int | str, Counts] = {
        loc["location_id"]: (
            loc.get("on_hand_quantity", 0),
            loc.get("committed_quantity", 0),
            loc.get("fulfillable_quantity", 0),
        )
        for loc in item["locations"]
    }
    counts["total"] = (
        total.get("total_on_hand_quantity", 0),
        total.get("total_committed_quantity", 0),
        total.get("total_fulfillable_quantity", 0),
    )
    return counts


async def backordered(http: httpx.AsyncClient, sku: str) -> int:
    totals = await http.get(f"{BASE_URL}/2026-01/inventory-level", headers=AUTH)
    [total] = [t for t in totals.json()["items"] if t["sku"] == sku]
    return int(total.get("total_backordered_quantity", 0))


async def stock(http: httpx.AsyncClient, sku: str, location: int, **counts: int) -> None:
    """The warehouse hook: set (``on_hand``, ``committed``) or add (``received``) units."""
    body = {"sku": sku, "location_id": location, **counts}
    answer = await http.post(f"{BASE_URL}/_sandbox/inventory", json=body)
    assert answer.status_code == 200, answer.text


async def order(http: httpx.AsyncClient, reference: str, **lines: int) -> Any:
    """``POST /order`` of ``quantity`` of each SKU, named with ``_`` (``SKU_0001=3``)."""
    request = order_request(reference, *(sku.replace("_", "-") for sku in lines))
    body = msgspec.to_builtins(request)
    for line in body["products"]:
        line["quantity"] = lines[line["sku"].replace("-", "_")]
    created = await http.post(
        f"{BASE_URL}/2026-01/order", json=body, headers=AUTH | {"shipbob_channel_id": "4007"}
    )
    assert created.status_code == 201, created.text
    return created.json()


async def ship(
    http: httpx.AsyncClient, order_id: int, *shipments: dict[str, int], to: str = "Completed"
) -> Any:
    """``/_sandbox/ship``: one shipment per mapping of SKU to quantity."""
    body = {
        "order_id": order_id,
        "to": to,
        "shipments": [
            {"products": [{"sku": sku, "quantity": n} for sku, n in lines.items()]}
            for lines in shipments
        ],
    }
    answer = await http.post(f"{BASE_URL}/_sandbox/ship", json=body)
    assert answer.status_code == 200, answer.text
    return answer.json()


async def step(http: httpx.AsyncClient, shipment_id: int, to: str) -> httpx.Response:
    return await http.post(f"{BASE_URL}/_sandbox/shipments/{shipment_id}", json={"to": to})


async def cancel(http: httpx.AsyncClient, order_id: int) -> Any:
    answer = await http.post(f"{BASE_URL}/2026-01/order/{order_id}:cancel", headers=AUTH)
    assert answer.status_code == 200, answer.text
    return answer.json()


async def test_an_order_commits_its_units_at_the_first_center_that_has_them(
    http: httpx.AsyncClient,
) -> None:
    await stock(http, "SKU-0003", CICERO, on_hand=5, committed=0)
    await stock(http, "SKU-0003", MORENO, on_hand=20, committed=1)
    assert await levels(http, "SKU-0003") == {
        CICERO: (5, 0, 5),
        MORENO: (20, 1, 19),
        "total": (25, 1, 24),
    }

    first = await order(http, "web-a", SKU_0003=3)
    [shipment] = first["shipments"]
    assert (first["status"], shipment["status"], shipment["location"]["id"]) == (
        "Processing",
        "Processing",
        CICERO,
    )
    [item] = shipment["products"][0]["inventory_items"]
    assert (item["quantity"], item["quantity_committed"]) == (3, 3)
    assert await levels(http, "SKU-0003") == {
        CICERO: (5, 3, 2),  # fulfillable falls at once; nothing has left
        MORENO: (20, 1, 19),
        "total": (25, 4, 21),
    }

    # Cicero has 2 left: the next order of 4 goes where all 4 are.
    second = await order(http, "web-b", SKU_0003=4)
    assert second["shipments"][0]["location"]["id"] == MORENO
    assert await levels(http, "SKU-0003") == {
        CICERO: (5, 3, 2),
        MORENO: (20, 5, 15),
        "total": (25, 8, 17),
    }


async def test_shipping_takes_the_units_off_on_hand_and_committed_when_it_leaves(
    http: httpx.AsyncClient,
) -> None:
    await stock(http, "SKU-0004", CICERO, on_hand=10, committed=2)
    await stock(http, "SKU-0004", MORENO, on_hand=0, committed=0)
    created = await order(http, "web-ship", SKU_0004=3)
    shipment_id = created["shipments"][0]["id"]
    committed = {CICERO: (10, 5, 5), MORENO: (0, 0, 0), "total": (10, 5, 5)}
    for to in ("Picked", "Packed", "LabeledCreated"):
        assert (await step(http, shipment_id, to)).status_code == 200
        assert await levels(http, "SKU-0004") == committed  # still in the building
    assert (await step(http, shipment_id, "Completed")).status_code == 200
    shipped = {CICERO: (7, 2, 5), MORENO: (0, 0, 0), "total": (7, 2, 5)}
    assert await levels(http, "SKU-0004") == shipped
    assert (await step(http, shipment_id, "Delivered")).status_code == 200
    assert await levels(http, "SKU-0004") == shipped  # delivery moves no stock

    # The whole-order hook does the same in one call.
    again = await order(http, "web-ship-2", SKU_0004=4)
    assert await levels(http, "SKU-0004") == {
        CICERO: (7, 6, 1),
        MORENO: (0, 0, 0),
        "total": (7, 6, 1),
    }
    await ship(http, again["id"], {"SKU-0004": 4})
    assert await levels(http, "SKU-0004") == {
        CICERO: (3, 2, 1),
        MORENO: (0, 0, 0),
        "total": (3, 2, 1),
    }


async def test_a_split_ship_moves_only_what_each_shipment_holds(
    http: httpx.AsyncClient,
) -> None:
    for sku in ("SKU-0006", "SKU-0007"):
        await stock(http, sku, CICERO, on_hand=10, committed=0)
        await stock(http, sku, MORENO, on_hand=10, committed=0)
    created = await order(http, "web-split", SKU_0006=2, SKU_0007=2)
    assert created["shipments"][0]["location"]["id"] == CICERO

    # One SKU split off: it ships from the other center, which now holds its commitment.
    split = await ship(http, created["id"], {"SKU-0006": 2}, to="LabeledCreated")
    rest, labeled = split["shipments"]
    assert (rest["location"]["id"], labeled["location"]["id"]) == (CICERO, MORENO)
    assert await levels(http, "SKU-0006") == {
        CICERO: (10, 0, 10),
        MORENO: (10, 2, 8),
        "total": (20, 2, 18),
    }
    assert await levels(http, "SKU-0007") == {
        CICERO: (10, 2, 8),
        MORENO: (10, 0, 10),
        "total": (20, 2, 18),
    }
    assert (await step(http, labeled["id"], "Completed")).status_code == 200
    assert await levels(http, "SKU-0006") == {
        CICERO: (10, 0, 10),
        MORENO: (8, 0, 8),
        "total": (18, 0, 18),
    }
    assert (await levels(http, "SKU-0007"))[CICERO] == (10, 2, 8)  # untouched

    # A part of one line: one unit ships, one stays committed.
    await ship(http, created["id"], {"SKU-0007": 1})
    after = await levels(http, "SKU-0007")
    assert after["total"] == (19, 1, 18)
    await ship(http, created["id"], {"SKU-0007": 1})
    assert (await levels(http, "SKU-0007"))["total"] == (18, 0, 18)


async def test_a_split_stays_at_its_center_when_no_other_has_the_units(
    http: httpx.AsyncClient,
) -> None:
    await stock(http, "SKU-0008", CICERO, on_hand=5, committed=0)
    await stock(http, "SKU-0008", MORENO, on_hand=0, committed=0)
    created = await order(http, "web-one-centre", SKU_0008=4)
    split = await ship(http, created["id"], {"SKU-0008": 1})
    assert [s["location"]["id"] for s in split["shipments"]] == [CICERO, CICERO]
    assert await levels(http, "SKU-0008") == {
        CICERO: (4, 3, 1),
        MORENO: (0, 0, 0),
        "total": (4, 3, 1),
    }


async def test_a_cancel_releases_what_unpicked_shipments_committed(
    http: httpx.AsyncClient,
) -> None:
    await stock(http, "SKU-0005", CICERO, on_hand=8, committed=1)
    await stock(http, "SKU-0005", MORENO, on_hand=8, committed=0)
    before = await levels(http, "SKU-0005")
    created = await order(http, "web-cancel", SKU_0005=3)
    assert (await levels(http, "SKU-0005"))["total"] == (16, 4, 12)
    answer = await cancel(http, created["id"])
    assert answer["status"] == "Success"
    assert await levels(http, "SKU-0005") == before
    assert (await cancel(http, created["id"]))["status"] == "Success"  # nothing left to free
    assert await levels(http, "SKU-0005") == before

    # A picked shipment cannot be cancelled: its units stay committed until it ships.
    picked = await order(http, "web-picked", SKU_0005=2)
    assert (await step(http, picked["shipments"][0]["id"], "Picked")).status_code == 200
    assert (await cancel(http, picked["id"]))["status"] == "Failure"
    assert (await levels(http, "SKU-0005"))[CICERO] == (8, 3, 5)


async def test_an_order_beyond_the_stock_waits_out_of_stock_until_a_receipt(
    app: SandboxApp,
    client: ShipBobClient,
    http: httpx.AsyncClient,
    virtual_clock: trio.testing.MockClock,
) -> None:
    await stock(http, "SKU-0009", CICERO, on_hand=3, committed=2)
    await stock(http, "SKU-0009", MORENO, on_hand=1, committed=0)
    before = await levels(http, "SKU-0009")
    receiver = Receiver(SECRET)
    async with delivering_to(app, receiver) as nursery:
        await client.subscribe_webhook(
            CreateWebhookRequest(
                url="http://receiver.test/hook",
                topics=["order.shipment.exception"],
                secret=SECRET,
            )
        )
        # Two fulfillable in all (1 + 1), none with both: ShipBob accepts and backorders.
        created = await order(http, "web-short", SKU_0009=2)
        await receiver.arrived.wait()
        nursery.cancel_scope.cancel()
    [shipment] = created["shipments"]
    assert created["status"] == shipment["status"] == "Exception"
    assert shipment["status_details"][0]["name"] == "OutOfStock"
    assert "quantity_committed" not in shipment["products"][0]["inventory_items"][0]
    assert [e.topic for e in receiver.accepted] == ["order.shipment.exception"]
    assert await levels(http, "SKU-0009") == before  # nothing committed, nothing negative
    assert await backordered(http, "SKU-0009") == 2
    # Out of stock, there is nothing to pick.
    refused = await http.post(
        f"{BASE_URL}/_sandbox/ship",
        json={
            "order_id": created["id"],
            "shipments": [{"products": [{"sku": "SKU-0009", "quantity": 2}]}],
        },
    )
    assert refused.status_code == 422

    # A receipt at Moreno Valley: the order is routed there and committed.
    await stock(http, "SKU-0009", MORENO, received=4)
    assert await levels(http, "SKU-0009") == {
        CICERO: (3, 2, 1),
        MORENO: (5, 2, 3),
        "total": (8, 4, 4),
    }
    assert await backordered(http, "SKU-0009") == 0
    [listed] = (await http.get(f"{BASE_URL}/2026-01/order", headers=AUTH)).json()
    assert (listed["status"], listed["shipments"][0]["location"]["id"]) == ("Processing", MORENO)
    assert app.state.orders[created["id"]].shipments[0].status_details == []


async def test_cancelling_an_order_waiting_out_of_stock_frees_nothing_and_ends_the_backorder(
    http: httpx.AsyncClient,
) -> None:
    await stock(http, "SKU-0012", CICERO, on_hand=1, committed=0)
    await stock(http, "SKU-0012", MORENO, on_hand=0, committed=0)
    before = await levels(http, "SKU-0012")
    created = await order(http, "web-short-cancel", SKU_0012=3)
    assert await backordered(http, "SKU-0012") == 3
    assert (await cancel(http, created["id"]))["status"] == "Success"
    assert await levels(http, "SKU-0012") == before
    assert await backordered(http, "SKU-0012") == 0
    await stock(http, "SKU-0012", CICERO, received=5)  # a cancelled order is not released
    assert (await levels(http, "SKU-0012"))[CICERO] == (6, 0, 6)


async def test_a_receipt_adds_to_on_hand_and_an_adjustment_sets_it(
    http: httpx.AsyncClient,
) -> None:
    await stock(http, "SKU-0010", CICERO, on_hand=6, committed=1)
    await stock(http, "SKU-0010", CICERO, received=10)
    assert (await levels(http, "SKU-0010"))[CICERO] == (16, 1, 15)
    await stock(http, "SKU-0010", CICERO, received=0)
    assert (await levels(http, "SKU-0010"))[CICERO] == (16, 1, 15)
    created = await order(http, "web-receipt", SKU_0010=5)
    assert created["shipments"][0]["location"]["id"] == CICERO
    assert (await levels(http, "SKU-0010"))[CICERO] == (16, 6, 10)
    for body in (
        {"received": 1, "on_hand": 3},  # added or set, not both
        {"received": -2},
        {"committed": 4},  # below the 5 the open order holds here
        {"on_hand": 5},  # below what is committed (6)
    ):
        answer = await http.post(
            f"{BASE_URL}/_sandbox/inventory",
            json={"sku": "SKU-0010", "location_id": CICERO, **body},
        )
        assert (answer.status_code, body) == (400, body)
    assert (await levels(http, "SKU-0010"))[CICERO] == (16, 6, 10)
    # The one unit committed beyond the order (an order the sandbox does not model) can go.
    await stock(http, "SKU-0010", CICERO, committed=5)
    assert (await levels(http, "SKU-0010"))[CICERO] == (16, 5, 11)


async def test_a_hook_exception_gives_its_units_back_and_processing_takes_them_again(
    app: SandboxApp, http: httpx.AsyncClient
) -> None:
    await stock(http, "SKU-0011", CICERO, on_hand=4, committed=0)
    await stock(http, "SKU-0011", MORENO, on_hand=0, committed=0)
    created = await order(http, "web-exc", SKU_0011=3)
    shipment_id = created["shipments"][0]["id"]
    assert (await step(http, shipment_id, "Exception")).status_code == 200
    assert (await levels(http, "SKU-0011"))[CICERO] == (4, 0, 4)
    # Another order takes two of the four meanwhile: three no longer fit anywhere.
    await order(http, "web-exc-2", SKU_0011=2)
    assert (await step(http, shipment_id, "Processing")).status_code == 422
    assert app.state.orders[created["id"]].shipments[0].status == "Exception"
    await stock(http, "SKU-0011", MORENO, received=3)  # the receipt releases it, at Moreno
    assert (await levels(http, "SKU-0011"))[MORENO] == (3, 3, 0)
    assert app.state.orders[created["id"]].status == "Processing"


# --- property: on_hand >= committed >= 0, whatever happens --------------------------------

SKUS = ("SKU-0001", "SKU-0002")
CENTERS = (CICERO, MORENO)
operations = st.lists(
    st.one_of(
        st.tuples(st.just("order"), st.sampled_from(SKUS), st.integers(1, 6)),
        st.tuples(st.just("both"), st.integers(1, 4), st.integers(1, 4)),
        st.tuples(st.just("ship"), st.integers(0, 7), st.integers(1, 3)),
        st.tuples(st.just("step"), st.integers(0, 7), st.sampled_from(["Picked", "Exception"])),
        st.tuples(st.just("step"), st.integers(0, 7), st.sampled_from(["Processing", "OnHold"])),
        st.tuples(st.just("cancel"), st.integers(0, 7), st.just(0)),
        st.tuples(st.just("receive"), st.sampled_from(SKUS), st.integers(0, 6)),
        st.tuples(st.just("count"), st.sampled_from(SKUS), st.integers(0, 12)),
    ),
    max_size=20,
)
opening = st.lists(st.integers(0, 6), min_size=len(SKUS) * 2, max_size=len(SKUS) * 2)


class Books:
    """What the counts must be, kept apart from the sandbox: on-hand is what the warehouse
    hook put there less the units of shipments that have left; committed is what open
    shipments hold (the test starts every count of committed at 0 and never sets it)."""

    def __init__(self, app: SandboxApp, start: list[int]) -> None:
        self.app = app
        self.base = {
            (sku, loc): start[2 * i + j]
            for i, sku in enumerate(SKUS)
            for j, loc in enumerate(CENTERS)
        }

    def inventory_id(self, sku: str) -> int:
        return next(s.inventory_id for s in self.app.state.stock.values() if s.sku == sku)

    def shipped(self, sku: str, location: int) -> int:
        return sum(
            item.quantity
            for o in self.app.state.orders.values()
            for s in o.shipments
            if s.status == "Completed" and s.location is not None and s.location.id == location
            for p in s.products
            for item in p.inventory_items
            if item.id == self.inventory_id(sku)
        )

    async def check(self, http: httpx.AsyncClient) -> None:
        shipments = [s for o in self.app.state.orders.values() for s in o.shipments]
        for sku in SKUS:
            counts = await levels(http, sku)
            for location, (on_hand, committed, fulfillable) in counts.items():
                assert on_hand >= committed >= 0, (sku, location, counts)
                assert fulfillable == on_hand - committed
            per_center = [counts[loc] for loc in CENTERS]
            assert counts["total"] == tuple(map(sum, zip(*per_center, strict=True)))
            for loc in CENTERS:
                holding = held(shipments, loc)[self.inventory_id(sku)]
                expected = (self.base[sku, loc] - self.shipped(sku, loc), holding)
                assert counts[loc][:2] == expected, (sku, loc, counts)
        for shipment in shipments:
            items = [i for p in shipment.products for i in p.inventory_items]
            committed = [i.quantity_committed for i in items]
            if shipment.status in ("Exception", "Cancelled"):
                assert not any(committed)
            else:  # routed whole or not at all: nothing is ever half committed
                assert committed == [i.quantity for i in items]

    async def apply(self, http: httpx.AsyncClient, op: tuple[str, Any, Any]) -> None:
        """One operation through HTTP; refusals (400, 422) are part of the game."""
        kind, target, n = op
        orders = sorted(self.app.state.orders)
        picked = orders[target % len(orders)] if orders and isinstance(target, int) else None
        event(kind)
        if kind == "order":
            created = await order(http, f"p-{len(orders)}", **{target.replace("-", "_"): n})
            event(f"order {created['status']}")
        elif kind == "both":
            created = await order(http, f"p-{len(orders)}", SKU_0001=target, SKU_0002=n)
            event(f"order {created['status']}")
        elif kind == "ship" and picked is not None:
            sku = self.app.state.orders[picked].products[0].sku
            body = {"order_id": picked, "shipments": [{"products": [{"sku": sku, "quantity": n}]}]}
            answer = await http.post(f"{BASE_URL}/_sandbox/ship", json=body)
            event(f"ship {answer.status_code}")
        elif kind == "step" and picked is not None:
            for shipment in self.app.state.orders[picked].shipments:
                event(f"{n} {(await step(http, shipment.id, n)).status_code}")
        elif kind == "cancel" and picked is not None:
            event(f"cancel {(await cancel(http, picked))['status']}")
        elif kind in ("receive", "count"):
            location = MORENO if kind == "receive" else CICERO
            body = {"sku": target, "location_id": location}
            body |= {"received": n} if kind == "receive" else {"on_hand": n}
            answer = await http.post(f"{BASE_URL}/_sandbox/inventory", json=body)
            event(f"{kind} {answer.status_code}")
            if answer.status_code == 200 and kind == "receive":
                self.base[target, location] += n
            elif answer.status_code == 200:
                self.base[target, location] = n + self.shipped(target, location)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(opening, operations)
def test_on_hand_never_falls_below_committed_nor_committed_below_zero(
    start: list[int], ops: list[tuple[str, Any, Any]]
) -> None:
    async def scenario() -> None:
        app = create_app(SandboxOptions(seed=3, catalog=2))
        books = Books(app, start)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app)) as http:
            for (sku, location), units in books.base.items():
                await stock(http, sku, location, on_hand=units, committed=0)
            await books.check(http)
            for op in ops:
                await books.apply(http, op)
                await books.check(http)

    trio.run(scenario)
