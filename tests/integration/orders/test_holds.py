"""Holds through the HTTP API, on SQLite and PostgreSQL: the §12 order (3× TEE-M shipped
home from WH-LDN, 1× MUG picked up at STORE-LDN) held before its routing job runs stays
unrouted (status, no fulfillment orders, its capture's stock held as it was) until its last
hold is released, which routes it at once; a hold on a routed order undoes nothing, but the
new round a rejection asks for waits for the release; every refusal changes nothing."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from sqlalchemy import select

from openoms.adapters.db import models as m
from openoms.adapters.db.models import utcnow
from openoms.adapters.db.session import Database
from openoms.adapters.jobs import JobContext
from openoms.adapters.outbox import Outbox
from openoms.services.inventory import InventoryLine, apply_inventory_import
from openoms.services.orders import ShortagePolicy, is_held, place_hold, release_hold
from openoms.services.routing.jobs import run_route_order_job
from openoms.worker.consumers import default_registry
from tests.integration.conftest import Api
from tests.integration.helpers import assert_problem, capture
from tests.integration.service_shop import Shop, make_shop
from tests.integration.worker import drain_db
from tests.network import stock_network
from tests.payloads import order_payload

ROUTED = [
    ("STORE-LDN", "ALLOCATED", [("MUG", 1, 1, 0)]),
    ("WH-LDN", "ALLOCATED", [("TEE-M", 3, 3, 0)]),
]
# What capture holds for the §12 order: where routing will ship from.
CAPTURE_HOLDS = {("WH-LDN", "TEE-M"): 3, ("STORE-LDN", "MUG"): 1}


@pytest.fixture
def shop(api: Api, stocked: Database) -> Shop:
    shop = make_shop(api)
    shop.capture()
    return shop


def hold(shop: Shop, reason: str = "manual review", **kwargs: Any) -> dict[str, Any]:
    answer = shop.action("hold", {"reason": reason}, **kwargs)
    assert answer.status_code == 201, answer.text
    body: dict[str, Any] = answer.json()
    return body


def release(shop: Shop, body: dict[str, Any] | None = None) -> dict[str, Any]:
    answer = shop.action("release-hold", body or {})
    assert answer.status_code == 200, answer.text
    result: dict[str, Any] = answer.json()
    return result


def fos(shop: Shop) -> list[tuple[str, str, list[tuple[str, int, int, int]]]]:
    return sorted(shop.fos())


def jobs(shop: Shop, kind: str) -> list[tuple[str, str, int]]:
    """(key, status, attempts) of the jobs of `kind`, oldest first."""
    with shop.api.db.reading() as session:
        rows = session.execute(
            select(m.Job.dedupe_key, m.Job.status, m.Job.attempts)
            .where(m.Job.kind == kind)
            .order_by(m.Job.id)
        ).all()
    return [(str(k), str(s), int(a)) for k, s, a in rows]


def hold_events(shop: Shop) -> list[tuple[str, dict[str, Any]]]:
    with shop.api.db.reading() as session:
        rows = session.execute(
            select(m.Event.name, m.Event.payload)
            .where(
                m.Event.order_summary_id == shop.summary_id,
                m.Event.name.in_(["order_summary.held", "order_summary.released"]),
            )
            .order_by(m.Event.id)
        ).all()
    return [(str(n), dict(p)) for n, p in rows]


def agent_key_id(shop: Shop) -> str:
    with shop.api.db.reading() as session:
        return str(session.scalar(select(m.ApiKey.id).where(m.ApiKey.name == "test agent")))


def test_a_held_order_stays_unrouted_until_released(shop: Shop) -> None:
    placed = hold(shop, "  manual review over 1000  ")
    agent = f"api_key:{agent_key_id(shop)}"
    (the_hold,) = placed["holds"]
    assert placed == {
        "order_summary_id": shop.summary_id,
        "holds": [
            {
                "id": the_hold["id"],
                "reason": "manual review over 1000",
                "held_by": agent,
                "held_at": the_hold["held_at"],
                "released_at": None,
                "released_by": None,
                "release_reason": None,
            }
        ],
        "on_hold": True,
    }
    held_stock = shop.held()
    assert held_stock == CAPTURE_HOLDS
    stock_before = shop.stock()

    shop.drain()
    shop.let_backoffs_run_out()
    shop.drain()

    view = shop.view()
    assert (view["status"], view["on_hold"], view["holds"]) == ("CREATED", True, placed["holds"])
    assert view["fulfillment_orders"] == []
    assert view["process_exceptions"] == []
    assert (shop.held(), shop.stock()) == (held_stock, stock_before)
    # The routing job ended without routing, its attempts unspent on waiting.
    assert jobs(shop, "route_order") == [(f"route_order:{shop.summary_id}", "done", 1)]
    assert jobs(shop, "route_group") == []

    released = release(shop, {"reason": "looks fine"})
    assert released["on_hold"] is False
    (lifted,) = released["holds"]
    assert (lifted["id"], lifted["released_by"], lifted["release_reason"]) == (
        the_hold["id"],
        agent,
        "looks fine",
    )
    assert lifted["released_at"] is not None
    resume = f"route_order:{shop.summary_id}:released:{the_hold['id']}"
    assert jobs(shop, "route_order")[-1] == (resume, "pending", 0)

    shop.drain()  # due at once: no clock moved
    view = shop.view()
    assert (view["status"], view["on_hold"], view["holds"]) == (
        "WAITING_TO_FULFILL",
        False,
        [lifted],
    )
    assert fos(shop) == ROUTED
    assert shop.held() == CAPTURE_HOLDS  # routed where capture held
    assert [name for name, _ in hold_events(shop)] == [
        "order_summary.held",
        "order_summary.released",
    ]
    assert hold_events(shop)[1][1] == {
        "order_summary_id": shop.summary_id,
        "hold_id": the_hold["id"],
        "reason": "looks fine",
        "hold_reason": "manual review over 1000",
        "by": agent,
        "at": lifted["released_at"],
        "on_hold": False,
    }


def test_releasing_one_of_two_holds_keeps_the_order_waiting(shop: Shop) -> None:
    first = hold(shop, "fraud check")["holds"][0]
    second = hold(shop, "address check")["holds"][0]
    shop.drain()

    answer = release(shop, {"hold_id": first["id"]})
    assert (answer["on_hold"], [h["id"] for h in answer["holds"]]) == (True, [first["id"]])
    assert [k for k, _, _ in jobs(shop, "route_order")] == [f"route_order:{shop.summary_id}"]
    shop.drain()
    view = shop.view()
    assert (view["status"], view["on_hold"], view["fulfillment_orders"]) == ("CREATED", True, [])
    assert [(h["id"], h["released_at"] is None) for h in view["holds"]] == [
        (first["id"], False),
        (second["id"], True),
    ]

    assert release(shop, {"hold_id": second["id"]})["on_hold"] is False
    shop.drain()
    assert fos(shop) == ROUTED
    names = [(n, p["hold_id"]) for n, p in hold_events(shop)]
    assert names == [
        ("order_summary.held", first["id"]),
        ("order_summary.held", second["id"]),
        ("order_summary.released", first["id"]),
        ("order_summary.released", second["id"]),
    ]
    assert [p["on_hold"] for n, p in hold_events(shop) if n.endswith("released")] == [True, False]


def test_releasing_without_a_hold_id_releases_every_active_hold(shop: Shop) -> None:
    ids = [hold(shop, reason)["holds"][0]["id"] for reason in ("one", "two")]
    answer = release(shop)
    assert ([h["id"] for h in answer["holds"]], answer["on_hold"]) == (ids, False)
    shop.drain()
    assert fos(shop) == ROUTED


def test_a_hold_on_a_routed_order_undoes_nothing_but_its_reroute_waits(shop: Shop) -> None:
    """Routed first; then held. A location rejects its fulfillment order: the new round
    that rejection asks for waits for the release, then goes to WH-MAN."""
    shop.drain()
    assert fos(shop) == ROUTED
    hold(shop)
    assert fos(shop) == ROUTED  # a hold does not un-route
    (ldn,) = [f for f in shop.view()["fulfillment_orders"] if f["location"] == "WH-LDN"]
    answer = shop.api.client.post(
        f"/api/v1/fulfillment-orders/{ldn['id']}/actions/reject",
        json={"reason": "shelf empty"},
        headers=shop.api.headers("warehouse"),
    )
    assert answer.status_code == 200, answer.text
    shop.drain()
    shop.let_backoffs_run_out()
    shop.drain()
    rejected = [
        ("STORE-LDN", "ALLOCATED", [("MUG", 1, 1, 0)]),
        ("WH-LDN", "REJECTED", [("TEE-M", 3, 3, 0)]),
    ]
    assert fos(shop) == rejected
    view = shop.view()
    assert view["process_exceptions"] == []
    (group_job,) = jobs(shop, "route_group")
    assert group_job[1] == "done"  # it ended waiting, its retries unspent

    release(shop)
    shop.drain()
    assert fos(shop) == [*rejected, ("WH-MAN", "ALLOCATED", [("TEE-M", 3, 3, 0)])]


def test_a_reship_on_a_held_order_waits_for_the_release(shop: Shop) -> None:
    """The mug ships, the tee is still to ship, the order is held; a reship of the lost mug
    is accepted but not routed until the release, which routes it once."""
    shop.drain()
    shop.ship("STORE-LDN")
    shop.drain()
    hold(shop)
    answer = shop.action(
        "submit-reship",
        {
            "items": [{"order_item_summary_id": shop.item_id("MUG"), "quantity": 1}],
            "reason": "lost_in_transit",
        },
    )
    assert answer.status_code == 200, answer.text
    shop.drain()
    shop.let_backoffs_run_out()
    shop.drain()
    reships = [f for f in shop.view()["fulfillment_orders"] if f["type"] == "reship"]
    assert reships == []
    assert [status for _, status, _ in jobs(shop, "route_reship")] == ["done"]

    release(shop)
    shop.drain()
    reships = [f for f in shop.view()["fulfillment_orders"] if f["type"] == "reship"]
    assert [(f["location"], f["status"]) for f in reships] == [("STORE-LDN", "ALLOCATED")]
    assert [(ln["sku"], ln["quantity"]) for ln in reships[0]["lines"]] == [("MUG", 1)]
    held_again = shop.action("hold", {"reason": "again"})
    assert held_again.status_code == 201, held_again.text
    release(shop)  # a second release runs the reship's round again: it finds its order
    shop.drain()
    again = [f for f in shop.view()["fulfillment_orders"] if f["type"] == "reship"]
    assert again == reships


def test_a_held_order_can_be_canceled_and_then_cannot_be_held_again(shop: Shop) -> None:
    the_hold = hold(shop)["holds"][0]
    lines = [
        {"order_item_summary_id": shop.item_id(sku), "quantity": n}
        for sku, n in (("TEE-M", 3), ("MUG", 1))
    ]
    canceled = shop.action("submit-cancel", {"items": lines, "refund_shipping": True})
    assert canceled.status_code == 200, canceled.text
    assert shop.view()["status"] == "CANCELED"
    before = shop.snapshot()
    assert_problem(shop.action("hold", {"reason": "again"}), 409, "order_not_holdable")
    assert shop.snapshot() == before
    # Its hold can still be released; the routing that queues finds nothing to route.
    assert [h["id"] for h in release(shop)["holds"]] == [the_hold["id"]]
    shop.drain()
    assert shop.view()["fulfillment_orders"] == []
    assert shop.held() == {}


def test_the_idempotency_key_is_optional(shop: Shop) -> None:
    path = f"/api/v1/order-summaries/{shop.summary_id}/actions/hold"
    answer = shop.api.keyless.post(path, json={"reason": "r"}, headers=shop.api.headers("agent"))
    assert answer.status_code == 201, answer.text
    assert [h["reason"] for h in shop.view()["holds"]] == ["r"]


def test_a_retried_hold_with_the_same_key_holds_once(shop: Shop) -> None:
    first = shop.action("hold", {"reason": "review"}, key="hold-1")
    again = shop.action("hold", {"reason": "review"}, key="hold-1")
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert len(shop.view()["holds"]) == 1
    assert len(hold_events(shop)) == 1
    other = shop.action("hold", {"reason": "other"}, key="hold-1")
    assert_problem(other, 409, "idempotency_key_reused")


@pytest.mark.parametrize(
    ("action", "body", "status", "code"),
    [
        ("hold", {"reason": "   "}, 400, "hold_reason_required"),
        ("hold", {"reason": ""}, 400, "hold_reason_required"),
        ("hold", {}, 422, "payload_invalid"),
        ("hold", {"reason": "x" * 501}, 422, "payload_invalid"),
        ("hold", {"reason": "ok", "until": "later"}, 422, "payload_invalid"),
        ("release-hold", {}, 409, "hold_not_active"),
        ("release-hold", {"hold_id": "hold_unknown"}, 409, "hold_not_active"),
        ("release-hold", {"hold_id": 7}, 422, "payload_invalid"),
    ],
)
def test_bad_input_changes_nothing(
    shop: Shop, action: str, body: dict[str, Any], status: int, code: str
) -> None:
    before = shop.snapshot()
    assert_problem(shop.action(action, body), status, code)
    assert shop.snapshot() == before


def test_a_released_hold_cannot_be_released_again(shop: Shop) -> None:
    first = hold(shop, "one")["holds"][0]
    hold(shop, "two")
    release(shop, {"hold_id": first["id"]})
    before = shop.snapshot()
    answer = shop.action("release-hold", {"hold_id": first["id"]})
    assert_problem(answer, 409, "hold_not_active")
    assert shop.snapshot() == before


def test_another_orders_hold_is_not_active_on_this_one(shop: Shop) -> None:
    mine = hold(shop)["holds"][0]
    first_order = shop.summary_id
    shop.capture(external_reference="SECOND-1")
    before = shop.snapshot()
    assert_problem(shop.action("release-hold", {"hold_id": mine["id"]}), 409, "hold_not_active")
    assert shop.snapshot() == before
    shop.summary_id = first_order
    assert shop.view()["on_hold"] is True


@pytest.mark.parametrize("action", ["hold", "release-hold"])
def test_holds_need_the_agent_scope_and_a_known_order(shop: Shop, action: str) -> None:
    before = shop.snapshot()
    body = {"reason": "review"}
    for scope in ("storefront", "warehouse"):
        assert_problem(shop.action(action, body, scope=scope), 403, "forbidden")
    path = f"/api/v1/order-summaries/{shop.summary_id}/actions/{action}"
    nobody = shop.api.keyless.post(path, json=body, headers={"Idempotency-Key": "k"})
    assert_problem(nobody, 401, "unauthenticated")
    unknown = shop.api.client.post(
        f"/api/v1/order-summaries/os_missing/actions/{action}",
        json=body,
        headers=shop.api.headers("agent"),
    )
    assert_problem(unknown, 404, "order_summary_not_found")
    assert shop.snapshot() == before


def test_a_hold_placed_while_a_round_runs_waits_for_it(stocked: Database) -> None:
    """The order's routing job holds the summary's lock; a hold asked for meanwhile waits
    for its commit, so the round routes the order whole and the hold applies after it (it
    undoes nothing). The lock is the summary row on PostgreSQL, the write lock on SQLite."""
    outbox = Outbox(default_registry())
    summary_id = capture(stocked, outbox, order_payload())
    placed = threading.Event()

    def place() -> None:
        with stocked.transaction() as session:
            place_hold(session, outbox, order_summary_id=summary_id, reason="late", held_by="test")
        placed.set()

    hold_thread = threading.Thread(target=place)
    with stocked.transaction() as session:
        context = JobContext(stocked, outbox, job_id=0, attempt=1, now=utcnow())
        run_route_order_job(context, session, {"order_summary_id": summary_id})
        hold_thread.start()
        assert not placed.wait(0.5)  # the hold waits for the round's lock
    hold_thread.join(timeout=30)
    assert placed.is_set()
    with stocked.reading() as session:
        routed = session.scalars(
            select(m.FulfillmentOrder.status).where(
                m.FulfillmentOrder.order_summary_id == summary_id
            )
        ).all()
        assert is_held(session, summary_id)
    assert sorted(routed) == ["ALLOCATED", "ALLOCATED"]


def test_stock_coming_back_for_a_held_backorder_waits_for_the_release(db: Database) -> None:
    """Three TEE-M under a backorder policy, two in stock: two are routed, the third
    waits. Held; stock arrives: its round waits for the release, then routes the third."""
    stock_network(db, stock={("WH-LDN", "TEE-M"): 2}, shortage_policy=ShortagePolicy.BACKORDER)
    home = order_payload()["delivery_groups"][0]
    tees = {"sku": "TEE-M", "quantity": 3, "unit_price": "10.00", "tax": "0.00"}
    payload = order_payload(
        external_reference="BACK-1",
        delivery_groups=[home],
        items=[{**tees, "delivery_group": "home"}],
        adjustments=[],
        payments=[],
    )
    outbox = Outbox(default_registry())
    summary_id = capture(db, outbox, payload)
    drain_db(db)
    assert routed_units(db, summary_id) == [(1, 2)]
    with db.transaction() as session:
        place_hold(session, outbox, order_summary_id=summary_id, reason="r", held_by="agent")
    more = [InventoryLine(line=1, location="WH-LDN", sku="TEE-M", on_hand=5)]
    apply_inventory_import(db, outbox, more, mode="delta")
    drain_db(db)
    assert routed_units(db, summary_id) == [(1, 2)]
    with db.transaction() as session:
        release_hold(session, outbox, order_summary_id=summary_id, released_by="agent")
    drain_db(db)
    assert routed_units(db, summary_id) == [(1, 2), (2, 1)]


def routed_units(db: Database, summary_id: str) -> list[tuple[int, int]]:
    """(routing round, units) of the order's fulfillment orders."""
    with db.reading() as session:
        rows = session.execute(
            select(m.FulfillmentOrder.routing_round, m.FulfillmentOrderLineItem.quantity)
            .join(m.FulfillmentOrder)
            .where(m.FulfillmentOrder.order_summary_id == summary_id)
            .order_by(m.FulfillmentOrder.routing_round)
        ).all()
    return [(int(r), int(q)) for r, q in rows]
