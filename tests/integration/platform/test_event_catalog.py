"""Every event that real flows store is declared in the catalog (schemas/events.py), with
its aggregate, and its payload validates against the declared model; every declared event
type is seen at least once.

The flows: the scripted demo (capture, routing, shipping with labels, invoicing, captures,
an agent's cancel, a return received and restocked, a discount, a reship), then the steps
it leaves out, each through the service the API or the worker calls: tracking, closing and
canceling returns, rejections and the reroutes they trigger, an expiring reservation, and
an agent's moves and retry of process exceptions.
"""

from __future__ import annotations

import io
from collections import Counter
from datetime import timedelta
from typing import Any

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
from openoms.schemas.events import BY_NAME, EVENT_TYPES
from openoms.services import exceptions, fulfillment, inventory, returns, service_actions
from openoms.worker.consumers import default_registry
from tests.integration.conftest import Api
from tests.integration.returns_world import make_shop
from tests.integration.worker import drain_db

# Declared events no flow of this test produces (each named in the report with why).
# Produced by the return test below (a channel with a returnless threshold and a fee).
RETURN_FLOW = frozenset({"invoice.credit_applied", "return_order.returnless_refunded"})
NOT_PRODUCED = frozenset(
    {
        "invoice.excess_applied",
        "order_summary.exchanged",
        "order_summary.partially_routed",
        "payment.authorization_reversed",
        "payment.authorizations_verified",
        "refund.failed",
    }
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

    events = stored_events(db)
    assert [p for e in events for p in problems_of(e)] == []
    seen = Counter(e.name for e in events)
    assert sorted(set(BY_NAME) - set(seen) - NOT_PRODUCED - RETURN_FLOW) == []
    assert len(EVENT_TYPES) == len(BY_NAME)


def test_a_returnless_refund_with_a_fee_stores_valid_events(stocked: Database, api: Api) -> None:
    shop = make_shop(stocked, api)
    shop.policy(returnless_threshold={"GBP": "10.00"}, return_fee={"GBP": "2.95"})
    shop.order()
    shop.create(("TEE-M", 1), ("MUG", 1), expected_location="WH-LDN")
    answer = shop.post(
        f"/order-summaries/{shop.summary_id}/actions/submit-return",
        {
            "items": [{"order_item_summary_id": shop.item_id("TEE-M"), "quantity": 1}],
            "location": "WH-LDN",
        },
    )
    assert answer.status_code == 200, answer.text
    shop.drain()
    events = stored_events(stocked)
    assert [p for e in events for p in problems_of(e)] == []
    assert {e.name for e in events} >= RETURN_FLOW


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
