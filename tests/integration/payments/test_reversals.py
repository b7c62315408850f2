"""Reversing unused authorizations once an order is settled (DESIGN.md §7), on SQLite and
PostgreSQL: the split order of test_money_flow.py (grand total 72.99) paid by a card
authorized at checkout for 90.00, so 17.01 is never captured and is released at the
gateway when the last invoice is paid — once, however often the job runs."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from openoms.adapters.db import models as m
from openoms.adapters.payments import Gateways
from openoms.domain.ports import GatewayResult
from openoms.services.payments import REVERSE_JOB, reverse_unused_authorizations
from tests.integration.helpers import count
from tests.integration.money_world import GRAND_TOTAL, Flow, start

AUTHORIZED = 9000
UNUSED = AUTHORIZED - GRAND_TOTAL  # 17.01


def over_authorized(db: Any, token: str = "tok_visa", **sandbox: Any) -> Flow:
    return start(db, {"token": token, "amount": "90.00", "preauthorize": True}, **sandbox)


def amounts(flow: Flow) -> tuple[int, int, int, int]:
    """(authorized, captured, pending_capture, reversed) of the one payment summary."""
    with flow.db.reading() as session:
        ps = session.scalars(
            select(m.OrderPaymentSummary).where(
                m.OrderPaymentSummary.order_summary_id == flow.summary_id
            )
        ).one()
        return ps.authorized, ps.captured, ps.pending_capture, ps.reversed


def reverse_logs(flow: Flow) -> list[tuple[str, int, str]]:
    with flow.db.reading() as session:
        rows = session.scalars(
            select(m.PaymentGatewayLog)
            .where(m.PaymentGatewayLog.operation == "reverse")
            .order_by(m.PaymentGatewayLog.id)
        )
        return [(g.idempotency_key, g.amount, g.result) for g in rows]


def authorization_id(flow: Flow) -> str:
    with flow.db.reading() as session:
        return session.scalars(select(m.PaymentAuthorization.id)).one()


def run_again(flow: Flow, **kwargs: Any) -> int:
    result = reverse_unused_authorizations(
        flow.db, flow.outbox, Gateways({"sandbox": flow.sandbox}), flow.summary_id, **kwargs
    )
    return result.reversed


def settle(flow: Flow, rounds: int = 1) -> None:
    for _ in range(rounds):
        flow.backoff_passes()
        flow.drain()


def test_full_shipment_reverses_the_unused_remainder_once(db: Any) -> None:
    flow = over_authorized(db)
    flow.ship_all()
    flow.drain()
    assert amounts(flow) == (AUTHORIZED, GRAND_TOTAL, 0, UNUSED)
    auth = authorization_id(flow)
    ledger = flow.sandbox.movements("reverse")
    assert [(e.idempotency_key, e.amount) for e in ledger] == [(f"reverse:{auth}:1", UNUSED)]
    assert reverse_logs(flow) == [(f"reverse:{auth}:1", UNUSED, "SUCCESS")]
    assert count(db, m.Event, m.Event.name == "payment.authorization_reversed") == 1
    [ps] = flow.view()["payment_summaries"]
    assert (ps["reversed"], ps["available_to_capture"], ps["available_to_refund"]) == (
        "17.01",
        "0.00",
        "72.99",
    )
    # The sandbox agrees: everything authorized is either captured or released.
    assert sum(e.amount for e in flow.sandbox.movements("capture")) == GRAND_TOTAL
    assert flow.sandbox.captured_on(ledger[0].on or "") + UNUSED == AUTHORIZED
    row = flow.reconciliation()
    assert (row["reversed"], row["outstanding"], row["mismatches"]) == ("17.01", "0.00", [])

    # A second run — direct, or the worker with every backoff over — moves nothing more.
    assert run_again(flow) == 0
    settle(flow, 2)
    assert len(flow.sandbox.movements("reverse")) == 1
    assert amounts(flow) == (AUTHORIZED, GRAND_TOTAL, 0, UNUSED)
    assert count(db, m.Event, m.Event.name == "payment.authorization_reversed") == 1


def test_partial_shipment_reverses_nothing(db: Any) -> None:
    flow = over_authorized(db)
    flow.ship_from("WH-MAN")
    settle(flow, 2)
    assert flow.view()["status"] == "PARTIALLY_FULFILLED"
    assert [i[2] for i in flow.invoices().values()] == ["PAID"]
    assert run_again(flow) == 0
    assert flow.sandbox.movements("reverse") == []
    assert reverse_logs(flow) == []
    assert count(db, m.Job, m.Job.kind == REVERSE_JOB) == 0
    assert amounts(flow)[3] == 0


def test_an_unpaid_invoice_reverses_nothing(db: Any) -> None:
    """Everything shipped, but one capture is declined: not settled, nothing released."""
    flow = over_authorized(db)
    flow.sandbox.fail_next(1, GatewayResult.DECLINE, operation="capture")
    flow.ship_all()
    flow.drain()
    assert sorted(i[2] for i in flow.invoices().values()) == ["PAID", "POSTED"]
    assert run_again(flow) == 0
    assert flow.sandbox.movements("reverse") == []
    settle(flow)  # the capture's retry pays it; then the remainder is released
    assert amounts(flow) == (AUTHORIZED, GRAND_TOTAL, 0, UNUSED)
    assert len(flow.sandbox.movements("reverse")) == 1


def test_an_unknown_answer_is_retried_with_the_same_key(db: Any) -> None:
    """`tok_timeout`: the gateway releases the money but the answer is lost; the job's
    retry sends the same key and amount and learns it, one release."""
    flow = over_authorized(db, "tok_timeout")
    flow.ship_all()
    settle(flow, 6)
    auth = authorization_id(flow)
    key = f"reverse:{auth}:1"
    assert reverse_logs(flow) == [(key, UNUSED, "INDETERMINATE"), (key, UNUSED, "SUCCESS")]
    assert [(e.idempotency_key, e.amount) for e in flow.sandbox.movements("reverse")] == [
        (key, UNUSED)
    ]
    assert amounts(flow) == (AUTHORIZED, GRAND_TOTAL, 0, UNUSED)
    with db.reading() as session:
        job = session.scalars(select(m.Job).where(m.Job.kind == REVERSE_JOB)).one()
        assert (job.status, job.attempts) == ("done", 2)
        pe = session.scalars(
            select(m.ProcessException).where(m.ProcessException.dedupe_key.like("payment:rev%"))
        ).one()
        assert (pe.severity, pe.status) == ("medium", "RESOLVED")


def test_a_hard_failure_raises_an_exception_and_waits_for_a_person(db: Any) -> None:
    flow = over_authorized(db)
    flow.sandbox.fail_next(1, GatewayResult.PERMANENT_FAIL, operation="reverse")
    flow.ship_all()
    settle(flow, 2)
    auth = authorization_id(flow)
    assert reverse_logs(flow) == [(f"reverse:{auth}:1", UNUSED, "PERMANENT_FAIL")]
    assert amounts(flow)[3] == 0
    assert flow.sandbox.movements("reverse") == []
    with db.reading() as session:
        pe = session.scalars(
            select(m.ProcessException).where(m.ProcessException.dedupe_key.like("payment:rev%"))
        ).one()
        assert (pe.category, pe.severity, pe.status) == ("payment", "high", "NEW")
        assert pe.action == {
            "kind": REVERSE_JOB,
            "payload": {"order_summary_id": flow.summary_id, "retry_blocked": True},
        }
    assert run_again(flow) == 0  # blocked: the gateway is not asked again by itself
    assert run_again(flow, retry_blocked=True) == UNUSED  # a person asked: a new key
    assert reverse_logs(flow)[-1] == (f"reverse:{auth}:2", UNUSED, "SUCCESS")
    assert amounts(flow) == (AUTHORIZED, GRAND_TOTAL, 0, UNUSED)
    with db.reading() as session:
        assert (
            session.scalars(
                select(m.ProcessException.status).where(
                    m.ProcessException.dedupe_key.like("payment:rev%")
                )
            ).one()
            == "RESOLVED"
        )


def test_an_exactly_authorized_order_has_nothing_to_reverse(db: Any) -> None:
    flow = start(db, {"token": "tok_visa"})
    flow.ship_all()
    settle(flow, 2)
    assert amounts(flow) == (GRAND_TOTAL, GRAND_TOTAL, 0, 0)
    assert count(db, m.Job, m.Job.kind == REVERSE_JOB) == 0
    assert reverse_logs(flow) == []
