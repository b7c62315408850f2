"""Every event that real flows store is declared in the catalog (schemas/events/), with
its aggregate, and its payload validates against the declared model; every declared event
type is seen at least once.

The flows: the scripted demo (capture, routing, shipping with labels, invoicing, captures,
an agent's cancel, a return received and restocked, a discount, a reship), then the steps
it leaves out, each through the service the API or the worker calls: tracking, closing and
canceling returns, rejections and the reroutes they trigger, an expiring reservation, and
an agent's moves and retry of process exceptions. Four more flows, each a test of its own
(each needs a channel set up its own way), store the events the demo never does: a return
with a fee, partly returnless, whose refund the gateway refuses; an even exchange of an
over-authorized order whose authorization was verified at capture; an order of a channel
that captures on order; and a backorder routed in part.
"""

from __future__ import annotations

import io
from datetime import timedelta
from typing import Any

import httpx
from pydantic import ValidationError
from rich.console import Console
from sqlalchemy import select

from openoms.adapters.carriers import default_carriers
from openoms.adapters.db import models as m
from openoms.adapters.db.models import utcnow
from openoms.adapters.db.session import Database
from openoms.adapters.outbox import Outbox
from openoms.cli.main import run_demo  # the CLI imports the demo (importing it first cycles)
from openoms.domain.fulfillment import RESHIP, ProcessExceptionCategory, ShipmentStatus
from openoms.domain.inventory import LocationType
from openoms.domain.ports import GatewayResult
from openoms.schemas.events import BY_NAME, EVENT_TYPES
from openoms.schemas.flows import trigger_catalog
from openoms.services import (
    exceptions,
    flows,
    fulfillment,
    inventory,
    returns,
    service_actions,
    webhooks,
)
from openoms.services.inventory import InventoryLine, apply_inventory_import
from openoms.services.orders import (
    CapturePolicy,
    ChannelData,
    ShortagePolicy,
    place_hold,
    release_hold,
    upsert_channel,
)
from openoms.worker.consumers import default_registry
from tests.integration import returns_world
from tests.integration.conftest import Api
from tests.integration.helpers import capture
from tests.integration.service_shop import GRAND_TOTAL
from tests.integration.service_shop import make_shop as order_shop
from tests.integration.webhooks.receiver import URL, Receiver, webhook_worker
from tests.integration.worker import drain, drain_db
from tests.network import stock_network
from tests.payloads import order_payload

# The events each flow below stores that the demo's test does not; every other declared event
# the demo's test must see.
RETURN_FLOW = frozenset(
    {"invoice.credit_applied", "refund.failed", "return_order.returnless_refunded"}
)
EXCHANGE_FLOW = frozenset(
    {
        "order_summary.exchanged",
        "payment.authorization_reversed",
        "payment.authorizations_verified",
    }
)
ON_ORDER_FLOW = frozenset({"invoice.excess_applied"})
BACKORDER_FLOW = frozenset({"order_summary.partially_routed"})
# Capture holds units where routing ships them: only a change in between moves them.
MOVED_FLOW = frozenset({"reservation.transferred"})
# Automation flows (docs/flows.md) write these.
AUTOMATION_FLOW = frozenset(
    {"flow.upserted", "order_summary.note_added", "order_summary.routing_strategy_set"}
)
WEBHOOK_FLOW = frozenset({"webhook.test", "webhook_endpoint.disabled"})
HOLD_FLOW = frozenset({"order_summary.held", "order_summary.released"})
FLOWS = (
    RETURN_FLOW
    | EXCHANGE_FLOW
    | ON_ORDER_FLOW
    | BACKORDER_FLOW
    | MOVED_FLOW
    | HOLD_FLOW
    | AUTOMATION_FLOW
    | WEBHOOK_FLOW
)


def stored_events(db: Database) -> list[m.Event]:
    with db.reading() as session:
        return list(session.scalars(select(m.Event).order_by(m.Event.id)))


def problems_of(event: m.Event) -> list[str]:
    declared = BY_NAME.get(event.name)
    if declared is None:
        return [f"{event.name}: not declared"]
    found = []
    if declared.aggregate_type != event.aggregate_type:
        found.append(f"{event.name}: aggregate {event.aggregate_type!r}")
    try:
        declared.payload.model_validate(event.payload)
    except ValidationError as error:
        found.append(f"{event.name}: {error.errors(include_url=False)} in {event.payload}")
    return found


def assert_valid(db: Database, produced: frozenset[str]) -> None:
    """Every stored event is declared and valid, and each of `produced` was stored."""
    events = stored_events(db)
    assert [p for e in events for p in problems_of(e)] == []
    assert sorted(produced - {e.name for e in events}) == []


def first(db: Database, query: Any) -> Any:
    with db.reading() as session:
        return session.scalars(query.limit(1)).first()


def test_every_stored_event_is_declared_and_valid(db: Database) -> None:
    outbox = Outbox(default_registry())
    run_demo(db, outbox, Console(file=io.StringIO(), width=200))
    drain_db(db)
    _ship_one_more(db, outbox)
    _track_shipment(db, outbox)
    _close_and_cancel_returns(db, outbox)
    _reject_and_reroute(db, outbox)
    _expire_a_reservation(db, outbox)
    _move_and_retry_exceptions(db, outbox)

    assert_valid(db, frozenset(BY_NAME) - FLOWS)  # the flows below store the rest
    assert len(EVENT_TYPES) == len(BY_NAME)


def test_a_refused_returnless_refund_with_a_fee_stores_valid_events(
    stocked: Database, api: Api
) -> None:
    """An RMA credits the MUG (8.95, under the returnless threshold) without its coming back;
    a TEE-M handed back at WH-LDN is credited less the 2.95 fee (which the credit pays). The
    gateway refuses the first credit memo's refund for good when the ensure-refunds job
    sends it."""
    shop = returns_world.make_shop(stocked, api)
    shop.policy(returnless_threshold={"GBP": "10.00"}, return_fee={"GBP": "2.95"})
    shop.order()
    shop.create(("TEE-M", 1), ("MUG", 1), expected_location="WH-LDN")
    shop.sandbox.fail_next(1, GatewayResult.PERMANENT_FAIL, operation="refund")
    answer = shop.post(
        f"/order-summaries/{shop.summary_id}/actions/submit-return",
        {
            "items": [{"order_item_summary_id": shop.item_id("TEE-M"), "quantity": 1}],
            "location": "WH-LDN",
        },
    )
    assert answer.status_code == 200, answer.text
    shop.drain()
    # The MUG memo's refund was refused (FAILED, its balance given back); a later run of
    # ensure refunds refunded it under a new key.
    assert sorted(shop.money()["refunds"]) == [
        (895, "FAILED"),
        (895, "PROCESSED"),
        (1760, "PROCESSED"),
    ]
    assert_valid(stocked, RETURN_FLOW)


def test_an_even_exchange_of_a_verified_order_stores_valid_events(
    stocked: Database, api: Api
) -> None:
    """web-uk verifies the authorizations a storefront reports (a channel's default):
    checkout's 90.00 is verified before routing; once the §12 order (76.59) is shipped and
    paid, the 13.41 left is reversed; then a TEE-M is exchanged for a TEE-L of its value."""
    apply_inventory_import(
        stocked,
        Outbox(default_registry()),
        [InventoryLine(line=1, location="WH-LDN", sku="TEE-L", on_hand=5)],
        mode="delta",
    )
    shop = order_shop(api)
    reference = shop.sandbox.preauthorize("tok_visa", 9000, "GBP", key="checkout-1")
    card = {"token": "tok_visa", "amount": "90.00", "authorization_reference": reference}
    shop.capture(payments=[{"gateway": "sandbox", **card}])
    shop.drain()
    shop.ship("WH-LDN")
    shop.ship("STORE-LDN")
    shop.drain()
    assert [e.amount for e in shop.sandbox.movements("reverse")] == [9000 - GRAND_TOTAL]
    exchanged = shop.action(
        "submit-exchange",
        {
            "return_items": [{"order_item_summary_id": shop.item_id("TEE-M"), "quantity": 1}],
            "new_items": [{"sku": "TEE-L", "quantity": 1, "unit_price": "16.55", "tax": "4.00"}],
            "reason": "size exchange",
            "expected_location": "WH-LDN",
        },
    )
    assert exchanged.status_code == 200, exchanged.text
    shop.drain()
    assert_valid(stocked, EXCHANGE_FLOW)


def test_invoices_paid_from_funds_captured_on_order_store_valid_events(
    stocked: Database, api: Api
) -> None:
    """web-uk captures on order: the §12 order's 76.59 is captured once authorized, and the
    invoice of its first shipment is paid from those funds."""
    with stocked.transaction() as session:
        data = ChannelData(location_group="online", capture_policy=CapturePolicy.ON_ORDER)
        upsert_channel(session, Outbox(default_registry()), "web-uk", data)
    shop = order_shop(api)
    shop.capture()
    shop.drain()
    shop.ship("WH-LDN")
    shop.drain()
    assert [e.operation for e in shop.sandbox.ledger] == ["authorize", "capture"]
    assert_valid(stocked, ON_ORDER_FLOW)


def test_a_backorder_routed_in_part_stores_valid_events(db: Database) -> None:
    """Three TEE-M shipped home under a backorder policy, two in stock: two are routed,
    the third waits for stock."""
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
    capture(db, Outbox(default_registry()), payload)
    drain_db(db)
    assert_valid(db, BACKORDER_FLOW)


def test_units_moved_by_routing_store_valid_events(db: Database) -> None:
    """The §12 order's TEE-M held at WH-LDN, which stops shipping before routing runs:
    routing ships them from WH-MAN and moves the held units there."""
    held = {("WH-LDN", "TEE-M"): 10, ("WH-MAN", "TEE-M"): 10, ("STORE-LDN", "MUG"): 5}
    stock_network(db, stock=held)
    outbox = Outbox(default_registry())
    capture(db, outbox, order_payload())
    address = inventory.Address(line1="1 Test St", city="London", country="GB")
    place = inventory.LocationData(
        name="WH-LDN",
        type=LocationType.WAREHOUSE,
        address=address,
        can_ship=False,
        can_pickup=False,
        groups=("online",),
    )
    with db.transaction() as session:
        inventory.upsert_location(session, outbox, "WH-LDN", place)
    drain_db(db)
    assert_valid(db, MOVED_FLOW)


def test_automation_flows_store_valid_events(db: Database) -> None:
    """A flow that notes every new order and routes it by distance."""
    stock_network(db)
    outbox = Outbox(default_registry())
    flow = flows.FlowDocument(
        trigger="order_summary.created",
        actions=[
            {"type": "add_note", "note": "seen"},
            {"type": "set_routing_strategy", "strategy": "rank_by_distance"},
        ],
    )
    with db.transaction() as session:
        flows.put_flow(session, outbox, trigger_catalog(), "note-all", flow)
    capture(db, outbox, order_payload())
    drain_db(db)
    assert_valid(db, AUTOMATION_FLOW)


def test_holds_placed_and_released_store_valid_events(db: Database) -> None:
    """The §12 order held twice before routing, one hold released by name (a reason given),
    the other with every active one (none given); then routed."""
    stock_network(db)
    outbox = Outbox(default_registry())
    summary_id = capture(db, outbox, order_payload())
    with db.transaction() as session:
        first = place_hold(
            session, outbox, order_summary_id=summary_id, reason="review", held_by="flow:big"
        )
        place_hold(session, outbox, order_summary_id=summary_id, reason="fraud", held_by="agent")
    drain_db(db)
    with db.transaction() as session:
        release_hold(
            session,
            outbox,
            order_summary_id=summary_id,
            released_by="agent",
            hold_id=first.id,
            reason="reviewed",
        )
    with db.transaction() as session:
        release_hold(session, outbox, order_summary_id=summary_id, released_by="flow:big")
    drain_db(db)
    assert_valid(db, HOLD_FLOW | {"order_summary.routed"})


def _ship_one_more(db: Database, outbox: Outbox) -> None:
    """Ship one more order (the demo's orders are random: its first may leave no unit free
    to return or reship)."""
    fo = first(db, _allocated("standard"))
    with db.transaction() as session:
        fulfillment.ship(session, outbox, fo.id, carrier_choice=default_carriers(db, env={}))
    drain_db(db)


def _allocated(fo_type: str) -> Any:
    f = m.FulfillmentOrder
    return select(f).where(f.status == "ALLOCATED", f.type == fo_type).order_by(f.id)


def _track_shipment(db: Database, outbox: Outbox) -> None:
    shipment = first(db, select(m.Shipment).where(m.Shipment.status == "SHIPPED"))
    with db.transaction() as session:
        fulfillment.track_shipment(session, outbox, shipment.id, ShipmentStatus.IN_TRANSIT)
    with db.transaction() as session:
        fulfillment.mark_delivered(session, outbox, shipment.id)


def _close_and_cancel_returns(db: Database, outbox: Outbox) -> None:
    received = first(db, select(m.ReturnOrder).where(m.ReturnOrder.status == "RECEIVED"))
    with db.transaction() as session:
        returns.close_return_order(session, outbox, received.id)
    item = first(db, _shipped_item())
    with db.transaction() as session:
        ret = returns.create_return_order(
            session,
            outbox,
            item.order_summary_id,
            [returns.ReturnLineRequest(item.id, 1, "changed mind")],
            returnless=False,
        )
    with db.transaction() as session:
        returns.cancel_return_order(session, outbox, ret.return_order_id)


def _reject_and_reroute(db: Database, outbox: Outbox) -> None:
    item = first(db, _shipped_item())
    with db.transaction() as session:
        service_actions.submit_reship(
            session,
            outbox,
            item.order_summary_id,
            [service_actions.ReshipRequest(item.id, 1)],
            reason=service_actions.ReshipReason.DAMAGED,
        )
    drain_db(db)  # the reship job makes its fulfillment order
    for fo_type in (RESHIP, "standard"):
        fo = first(db, _allocated(fo_type))
        with db.transaction() as session:
            fulfillment.reject(session, outbox, fo.id, reason="no stock on the shelf")
        drain_db(db)  # routing (or the reship job) routes the units again


def _shipped_item() -> Any:
    """A product item with a shipped unit that is neither returned nor reshipped."""
    i = m.OrderItemSummary
    return select(i).where(
        i.type == "product",
        i.quantity_fulfilled
        > i.quantity_returned + i.quantity_return_initiated + i.quantity_reshipped,
    )


def _expire_a_reservation(db: Database, outbox: Outbox) -> None:
    record = first(db, select(m.InventoryRecord).where(m.InventoryRecord.on_hand > 0))
    with db.transaction() as session:
        inventory.reserve(
            session,
            outbox,
            owner="events-test",
            idempotency_key="expiring",
            request_hash="expiring",
            items={record.sku: 1},
            location_id=record.location_id,
            expires_at=utcnow() + timedelta(minutes=1),
        )
    assert inventory.expire_due(db, outbox, utcnow() + timedelta(minutes=2)) == 1


def _move_and_retry_exceptions(db: Database, outbox: Outbox) -> None:
    moves = {
        "a": [exceptions.ExceptionMove.TRIAGE, exceptions.ExceptionMove.PAUSE],
        "b": [exceptions.ExceptionMove.RESOLVE],
        "c": [exceptions.ExceptionMove.IGNORE],
        "d": [exceptions.ExceptionMove.VOID],
    }
    for key, steps in moves.items():
        with db.transaction() as session:
            raised, _ = exceptions.raise_exception(
                session,
                outbox,
                order_summary_id=None,
                category=ProcessExceptionCategory.INVENTORY,
                severity="low",
                dedupe_key=f"events-test:{key}",
                message="a test's exception",
                action=exceptions.retry_action("events_test", {"n": 1}, key=None),
            )
        for step in steps:
            with db.transaction() as session:
                exceptions.move_exception(session, outbox, raised.id, step, note="looked at")
    with db.transaction() as session:
        paused = exceptions.active_exception(session, "events-test:a")
        assert paused is not None
        exceptions.retry_exception(session, outbox, paused.id, note="again")


def test_a_test_event_and_a_gone_webhook_endpoint_store_valid_events(db: Database) -> None:
    """An admin's test event to an endpoint, which answers 410 Gone: it is disabled."""
    with db.transaction() as session:
        endpoint = webhooks.create_endpoint(
            session, url=URL, event_types=None, channels=None, description="", allow_private=False
        )
        webhooks.send_test(session, Outbox(default_registry()), endpoint.id)
    receiver = Receiver(default=lambda: httpx.Response(410))
    drain(webhook_worker(db, receiver))
    assert [r.body["type"] for r in receiver.received] == ["webhook.test"]
    assert_valid(db, WEBHOOK_FLOW)
