"""Routing queued by capture (services/orders/capture_routing.py) and run as one
`route_order` job per order (services/routing/jobs.py), on SQLite and PostgreSQL: queued in
capture's own transaction, held back by the authorization gate, idempotent when retried,
and handing a group it cannot place to the group's own job."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import delete, func, select, update

from openoms.adapters.db import models as m
from openoms.adapters.db.models import utcnow
from openoms.adapters.db.session import Database
from openoms.adapters.jobs import JobContext, run_due_jobs
from openoms.adapters.outbox import Outbox
from openoms.adapters.payments.sandbox import SandboxGateway
from openoms.schemas.orders import OrderCreate
from openoms.services.orders import (
    ROUTE_ORDER_JOB,
    ChannelData,
    capture_order,
    route_order_job_key,
    routing_gate_key,
    upsert_channel,
)
from openoms.services.routing import ROUTE_JOB, routing_job_kinds
from openoms.worker.consumers import default_jobs, default_registry
from tests.integration.helpers import capture as capture_payload
from tests.integration.helpers import stock
from tests.integration.worker import drain_db as drain
from tests.network import stock_network
from tests.payloads import order_payload


class Boom(Exception):
    pass


def outbox() -> Outbox:
    return Outbox(default_registry())


def capture(db: Database, **overrides: Any) -> str:
    return capture_payload(db, outbox(), order_payload(**overrides))


def jobs(db: Database) -> list[tuple[str, str, str]]:
    """(kind, key, status) of every routing job, by id."""
    with db.reading() as session:
        rows = session.scalars(
            select(m.Job).where(m.Job.kind.in_((ROUTE_JOB, ROUTE_ORDER_JOB))).order_by(m.Job.id)
        )
        return [(j.kind, j.dedupe_key, j.status) for j in rows]


def routed(db: Database, summary_id: str) -> tuple[int, int, int]:
    """(fulfillment orders, their line units, routed events) of the order."""
    with db.reading() as session:
        fos = session.scalar(
            select(func.count()).where(m.FulfillmentOrder.order_summary_id == summary_id)
        )
        units = session.scalar(
            select(func.coalesce(func.sum(m.FulfillmentOrderLineItem.quantity), 0))
            .join(m.FulfillmentOrder)
            .where(m.FulfillmentOrder.order_summary_id == summary_id)
        )
        events = session.scalar(
            select(func.count()).where(
                m.Event.order_summary_id == summary_id, m.Event.name == "order_summary.routed"
            )
        )
        return int(fos or 0), int(units or 0), int(events or 0)


def route_jobs_only(db: Database) -> int:
    """Run the due jobs once (no delivery relayed): how many ran."""
    return run_due_jobs(db, outbox(), default_jobs(db), now=utcnow() + timedelta(minutes=1))


def test_capture_queues_routing_in_its_own_transaction(db: Database) -> None:
    stock_network(db)
    summary_id = capture(db)
    # no delivery relayed yet: the job is there, with the order's groups by position
    assert jobs(db) == [(ROUTE_ORDER_JOB, route_order_job_key(summary_id), "pending")]
    with db.reading() as session:
        job = session.scalars(select(m.Job).where(m.Job.kind == ROUTE_ORDER_JOB)).one()
        groups = session.scalars(
            select(m.OrderDeliveryGroupSummary.id)
            .where(m.OrderDeliveryGroupSummary.order_summary_id == summary_id)
            .order_by(m.OrderDeliveryGroupSummary.position)
        ).all()
        assert job.payload == {"order_summary_id": summary_id, "group_summary_ids": list(groups)}
        # the event is still recorded for its other consumers
        assert session.scalar(select(func.count()).where(m.Event.name == "order_summary.created"))


def test_a_rolled_back_capture_queues_nothing(db: Database) -> None:
    stock_network(db)
    before = stock(db)
    draft = OrderCreate.model_validate(order_payload()).to_draft()

    def capture_then_fail() -> None:
        with db.transaction() as session:
            assert capture_order(session, outbox(), draft).created
            raise Boom

    with pytest.raises(Boom):
        capture_then_fail()
    assert jobs(db) == []
    assert stock(db) == before
    with db.reading() as session:
        assert session.scalar(select(func.count()).select_from(m.OrderSummary)) == 0


def test_one_job_routes_every_group_and_a_retry_does_nothing_twice(db: Database) -> None:
    stock_network(db)
    summary_id = capture(db)  # a home group and a store pickup
    assert route_jobs_only(db) == 1
    first = (routed(db, summary_id), stock(db))
    assert first[0] == (2, 4, 2)
    with db.reading() as session:
        transferred = session.scalar(
            select(func.count()).where(m.Event.name == "reservation.transferred")
        )
    assert transferred == 0  # capture held the units where routing ships them

    with db.transaction() as session:  # the job runs again (a crash after its commit, say)
        session.execute(update(m.Job).values(status="pending", available_at=utcnow()))
    assert route_jobs_only(db) == 1

    assert (routed(db, summary_id), stock(db)) == first
    assert jobs(db) == [(ROUTE_ORDER_JOB, route_order_job_key(summary_id), "done")]


def test_the_verification_gate_holds_routing(db: Database) -> None:
    stock_network(db)
    with db.transaction() as session:
        upsert_channel(session, outbox(), "web-uk", ChannelData(location_group="online"))
    drain(db)  # the set-up's own events first
    gateway = SandboxGateway(db)
    reference = gateway.preauthorize("tok_visa", 7659, "GBP", key="checkout")
    payment = {
        "gateway": "sandbox",
        "token": "tok_visa",
        "amount": "76.59",
        "authorization_reference": reference,
    }
    summary_id = capture(db, payments=[payment])
    # the check is queued and routing is not: the check queues it when it passes
    assert jobs(db) == []
    with db.reading() as session:
        gate = session.scalars(
            select(m.Job.status).where(m.Job.dedupe_key == routing_gate_key(summary_id))
        ).one()
    assert gate == "pending"
    # an order job queued anyway (by the created event's consumer) routes nothing yet
    with db.transaction() as session:
        session.execute(
            update(m.Job)
            .where(m.Job.dedupe_key == routing_gate_key(summary_id))
            .values(available_at=utcnow() + timedelta(days=1))
        )
    drain(db)
    assert routed(db, summary_id) == (0, 0, 0)
    assert jobs(db) == [(ROUTE_ORDER_JOB, route_order_job_key(summary_id), "done")]


def test_an_order_captured_before_routing_was_queued_at_capture_is_routed(db: Database) -> None:
    stock_network(db)
    drain(db)  # the set-up's own events first
    summary_id = capture(db)
    with db.transaction() as session:  # as an older capture left it: the event only
        session.execute(delete(m.Job).where(m.Job.kind == ROUTE_ORDER_JOB))

    drain(db)  # the created event's consumer queues the order's job, which routes it

    assert routed(db, summary_id) == (2, 4, 2)
    [(kind, key, status)] = jobs(db)
    assert (kind, key, status) == (ROUTE_ORDER_JOB, route_order_job_key(summary_id), "done")
    with db.reading() as session:
        job = session.scalars(select(m.Job).where(m.Job.kind == ROUTE_ORDER_JOB)).one()
        assert job.payload == {"order_summary_id": summary_id}


def test_when_the_order_job_gives_up_each_group_gets_its_own_job(db: Database) -> None:
    stock_network(db)
    summary_id = capture(db)
    kind = routing_job_kinds()[ROUTE_ORDER_JOB]
    assert kind.on_dead is not None
    with db.reading() as session:
        payload = dict(session.scalars(select(m.Job.payload)).one())
    context = JobContext(db=db, outbox=outbox(), job_id=0, attempt=3, now=utcnow())
    with db.transaction() as session:
        kind.on_dead(context, session, payload, "OperationalError: lost")
    group_jobs = [key for job_kind, key, _ in jobs(db) if job_kind == ROUTE_JOB]
    assert group_jobs == [f"route:{g}:1" for g in payload["group_summary_ids"]]

    drain(db)  # both run (the order's own job too): each group is routed once

    assert routed(db, summary_id) == (2, 4, 2)
