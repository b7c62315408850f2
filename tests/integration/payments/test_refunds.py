"""Ensure refunds on SQLite and PostgreSQL: a credit memo is refunded exactly once — under
retries, a decline, and four racing callers — money already owed back by a memo is never
refunded again as excess funds (the Salesforce double-refund trap), and the sandbox
gateway's ledger shows one refund.

Setup: the §12 order captured, shipped whole (three invoices, 76.59), its 76.59 captured at
the sandbox gateway and recorded as a PROCESSED Payment, then 1 TEE-M returned: a credit
memo of 20.55."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import select

from openoms.adapters.db import models as m
from openoms.adapters.db.ids import new_id
from openoms.adapters.db.session import Database
from openoms.adapters.jobs import run_due_jobs
from openoms.adapters.outbox import ConsumerRegistry, Outbox
from openoms.adapters.payments import Gateways, SandboxGateway
from openoms.domain.finance import DocumentLine
from openoms.domain.ports import GatewayRequest, GatewayResult
from openoms.services.finance import create_credit_memo
from openoms.services.payments import REFUND_JOB, ensure_refunds
from openoms.services.views import order_summary_view
from openoms.worker.consumers import default_jobs, default_registry
from openoms.worker.relay import process_batch
from tests.integration.conftest import Api
from tests.integration.fulfillment_world import capture, make_fo, ship
from tests.integration.helpers import count

RETURN_ONE_TEE = 2055  # 20.00 − 3.45 + 4.00


@dataclass
class World:
    db: Database
    outbox: Outbox
    registry: ConsumerRegistry
    sandbox: SandboxGateway
    gateways: Gateways
    summary_id: str
    payment_id: str


def drain(db: Database, registry: ConsumerRegistry) -> None:
    while process_batch(db, registry):
        pass


@pytest.fixture
def world(stocked: Database) -> World:
    db = stocked
    registry = default_registry()
    outbox = Outbox(registry)
    summary_id = capture(db, outbox)
    ship(db, outbox, make_fo(db, outbox, summary_id=summary_id))
    ship(
        db, outbox, make_fo(db, outbox, summary_id=summary_id, location="STORE-LDN", group="store")
    )
    drain(db, registry)
    sandbox = SandboxGateway(db, "sandbox")
    auth = sandbox.preauthorize("tok_visa", 7659, "GBP", key=f"auth:{summary_id}")
    charge = sandbox.capture(GatewayRequest(f"capture:{summary_id}", "tok_visa", 7659, "GBP", auth))
    assert charge.result is GatewayResult.SUCCESS
    with db.transaction() as session:
        ops = session.scalars(
            select(m.OrderPaymentSummary).where(
                m.OrderPaymentSummary.order_summary_id == summary_id
            )
        ).one()
        ops.authorized = ops.captured = 7659  # authorized and captured at the sandbox above
        payment = m.Payment(
            id=new_id("pay"),
            order_payment_summary_id=ops.id,
            amount=7659,
            status="PROCESSED",
            idempotency_key=f"capture:{summary_id}",
            gateway_reference=charge.reference,
        )
        session.add(payment)
        summary = session.get(m.OrderSummary, summary_id)
        assert summary is not None
        assert summary.status == "FULFILLED"
    return World(
        db, outbox, registry, sandbox, Gateways({"sandbox": sandbox}), summary_id, payment.id
    )


def return_one_tee(w: World, *, source_key: str = "return:1") -> str:
    with w.db.transaction() as session:
        tee = session.scalars(
            select(m.OrderItemSummary).where(
                m.OrderItemSummary.order_summary_id == w.summary_id,
                m.OrderItemSummary.sku == "TEE-M",
            )
        ).one()
        memo = create_credit_memo(
            session,
            w.outbox,
            w.summary_id,
            None,
            [DocumentLine(tee.key, 1, 2000, -345, 400)],
            source_key=source_key,
        )
        return memo.id


def money(w: World) -> dict[str, Any]:
    """Everything that moves when a refund is paid."""
    with w.db.reading() as session:
        ops = session.scalars(
            select(m.OrderPaymentSummary).where(
                m.OrderPaymentSummary.order_summary_id == w.summary_id
            )
        ).one()
        memos = session.scalars(select(m.CreditMemo).order_by(m.CreditMemo.id)).all()
        refunds = session.scalars(select(m.Refund).order_by(m.Refund.id)).all()
        logs = session.scalars(
            select(m.PaymentGatewayLog).where(m.PaymentGatewayLog.operation == "refund")
        ).all()
        return {
            "captured": ops.captured,
            "refunded": ops.refunded,
            "pending_refund": ops.pending_refund,
            "memos": [(c.grand_total, c.balance, c.status) for c in memos],
            "refunds": [(r.amount, r.status, r.idempotency_key) for r in refunds],
            "logged": sorted((g.idempotency_key, g.result) for g in logs),
            "ledger": [(e.operation, e.amount) for e in w.sandbox.movements("refund")],
        }


def refunded_once(w: World, memo_id: str) -> dict[str, Any]:
    return {
        "captured": 7659,
        "refunded": RETURN_ONE_TEE,
        "pending_refund": 0,
        "memos": [(RETURN_ONE_TEE, 0, "REFUNDED")],
        "refunds": [(RETURN_ONE_TEE, "PROCESSED", f"refund:{memo_id}:{w.payment_id}")],
        "logged": [(f"refund:{memo_id}:{w.payment_id}", "SUCCESS")],
        "ledger": [("refund", RETURN_ONE_TEE)],
    }


def test_a_credit_memo_is_refunded_once_however_often_it_runs(world: World) -> None:
    w = world
    memo_id = return_one_tee(w)
    first = ensure_refunds(w.db, w.outbox, w.gateways, w.summary_id)
    assert len(first.processed) == 1
    assert not first.pending
    assert not first.failed
    for _ in range(3):
        again = ensure_refunds(w.db, w.outbox, w.gateways, w.summary_id)
        assert (again.processed, again.pending, again.failed) == ([], [], [])
    assert money(w) == refunded_once(w, memo_id)
    with w.db.reading() as session:
        view = order_summary_view(session, w.summary_id)
    assert [(c["grand_total"], c["balance"], c["status"]) for c in view["credit_memos"]] == [
        ("20.55", "0.00", "REFUNDED")
    ]
    assert view["payment_summaries"][0]["refunded"] == "20.55"


def test_the_excess_funds_trap_stays_shut(world: World) -> None:
    """Captured 76.59 against invoices 76.59 less a 20.55 credit memo: the 20.55 looks like
    excess funds, but the memo already owes it. It is refunded once, not twice — before the
    memo's refund, after it, and on every later run."""
    w = world
    memo_id = return_one_tee(w)
    ensure_refunds(w.db, w.outbox, w.gateways, w.summary_id)
    ensure_refunds(w.db, w.outbox, w.gateways, w.summary_id)
    assert money(w) == refunded_once(w, memo_id)
    assert count(w.db, m.Refund, m.Refund.credit_memo_id.is_(None)) == 0


def test_four_racing_callers_refund_once(world: World) -> None:
    w = world
    memo_id = return_one_tee(w)
    barrier = threading.Barrier(4)
    errors: list[BaseException] = []

    def call() -> None:
        try:
            barrier.wait()
            ensure_refunds(w.db, w.outbox, w.gateways, w.summary_id)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=call) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert money(w) == refunded_once(w, memo_id)
    assert w.sandbox.calls == 2  # the capture in the setup, and one refund


def test_a_declined_refund_retries_with_the_same_key(world: World) -> None:
    w = world
    memo_id = return_one_tee(w)
    w.sandbox.fail_next(1, GatewayResult.DECLINE, operation="refund")
    first = ensure_refunds(w.db, w.outbox, w.gateways, w.summary_id)
    assert len(first.pending) == 1
    assert not first.processed
    key = f"refund:{memo_id}:{w.payment_id}"
    mid = money(w)
    assert mid["pending_refund"] == RETURN_ONE_TEE
    assert mid["refunded"] == 0
    assert mid["memos"] == [(RETURN_ONE_TEE, 0, "POSTED")]  # claimed, not yet paid
    assert mid["ledger"] == []
    with w.db.reading() as session:
        pe = session.scalars(select(m.ProcessException)).one()
        assert (pe.category, pe.status, pe.dedupe_key) == ("payment", "NEW", key)

    second = ensure_refunds(w.db, w.outbox, w.gateways, w.summary_id)
    assert len(second.processed) == 1
    after = money(w)
    assert after["logged"] == sorted([(key, "DECLINE"), (key, "SUCCESS")])
    assert {k: v for k, v in after.items() if k != "logged"} == {
        k: v for k, v in refunded_once(w, memo_id).items() if k != "logged"
    }
    with w.db.reading() as session:
        assert session.scalars(select(m.ProcessException.status)).one() == "RESOLVED"


def test_a_permanent_failure_gives_the_balance_back(world: World) -> None:
    w = world
    memo_id = return_one_tee(w)
    w.sandbox.fail_next(1, GatewayResult.PERMANENT_FAIL, operation="refund")
    outcome = ensure_refunds(w.db, w.outbox, w.gateways, w.summary_id)
    assert len(outcome.failed) == 1
    after = money(w)
    assert (after["refunded"], after["pending_refund"]) == (0, 0)
    assert after["memos"] == [(RETURN_ONE_TEE, RETURN_ONE_TEE, "POSTED")]
    assert after["refunds"] == [(RETURN_ONE_TEE, "FAILED", f"refund:{memo_id}:{w.payment_id}")]
    with w.db.reading() as session:
        pe = session.scalars(select(m.ProcessException)).one()
        assert (pe.category, pe.severity) == ("payment", "high")


def test_a_later_refund_of_the_memo_resolves_its_exception(world: World) -> None:
    """Refused for good twice (keys `…`, `…:2`), paid on the third run (`…:3`): the memo's
    one exception is refreshed by the second refusal and resolved by the payment."""
    w = world
    memo_id = return_one_tee(w)
    key = f"refund:{memo_id}:{w.payment_id}"
    for attempt in (1, 2):
        w.sandbox.fail_next(1, GatewayResult.PERMANENT_FAIL, operation="refund")
        outcome = ensure_refunds(w.db, w.outbox, w.gateways, w.summary_id)
        assert (len(outcome.processed), len(outcome.failed)) == (0, 1)
        with w.db.reading() as session:
            pe = session.scalars(select(m.ProcessException)).one()
            summary = session.get(m.OrderSummary, w.summary_id)
            assert summary is not None
            assert summary.active_process_exception_count == 1
        assert (pe.dedupe_key, pe.status, pe.severity, pe.occurrences) == (
            key,
            "NEW",
            "high",
            attempt,
        )
    assert money(w)["memos"] == [(RETURN_ONE_TEE, RETURN_ONE_TEE, "POSTED")]

    outcome = ensure_refunds(w.db, w.outbox, w.gateways, w.summary_id)
    assert (len(outcome.processed), len(outcome.failed)) == (1, 0)
    after = money(w)
    assert after["refunds"] == [
        (RETURN_ONE_TEE, "FAILED", key),
        (RETURN_ONE_TEE, "FAILED", f"{key}:2"),
        (RETURN_ONE_TEE, "PROCESSED", f"{key}:3"),
    ]
    assert (after["refunded"], after["pending_refund"]) == (RETURN_ONE_TEE, 0)
    assert after["memos"] == [(RETURN_ONE_TEE, 0, "REFUNDED")]
    assert after["ledger"] == [("refund", RETURN_ONE_TEE)]
    with w.db.reading() as session:
        pe = session.scalars(select(m.ProcessException)).one()
        summary = session.get(m.OrderSummary, w.summary_id)
        assert summary is not None
        assert summary.active_process_exception_count == 0
        names = session.scalars(
            select(m.Event.name)
            .where(m.Event.name.startswith("process_exception."))
            .order_by(m.Event.id)
        ).all()
    assert (pe.status, pe.occurrences) == ("RESOLVED", 2)
    assert names == ["process_exception.raised", "process_exception.resolved"]


def test_credit_memo_created_queues_the_refund_job(world: World) -> None:
    w = world
    memo_id = return_one_tee(w)
    drain(w.db, w.registry)
    assert count(w.db, m.Job, m.Job.kind == REFUND_JOB) == 1
    jobs = default_jobs(w.db, gateways=w.gateways)
    assert run_due_jobs(w.db, w.outbox, jobs) >= 1
    assert money(w) == refunded_once(w, memo_id)
    with w.db.reading() as session:
        assert session.scalars(select(m.Job.status).where(m.Job.kind == REFUND_JOB)).one() == "done"


def test_same_source_key_makes_one_credit_memo(world: World) -> None:
    w = world
    assert return_one_tee(w) == return_one_tee(w)
    assert count(w.db, m.CreditMemo) == 1
    assert count(w.db, m.Event, m.Event.name == "credit_memo.created") == 1


def test_api_ensure_refunds_and_reconciliation(world: World, api: Api) -> None:
    w = world
    memo_id = return_one_tee(w)
    api.client.app.state.gateways = w.gateways  # type: ignore[attr-defined]
    url = f"/api/v1/order-summaries/{w.summary_id}/actions/ensure-refunds"
    assert api.client.post(url, headers=api.headers("storefront")).status_code == 403
    before = money(w)
    keyless = api.keyless.post(url, headers=api.headers("agent"))
    assert (keyless.status_code, keyless.json()["code"]) == (400, "idempotency_key_required")
    assert money(w) == before
    key = {"Idempotency-Key": "refunds-1"}
    answer = api.client.post(url, headers=api.headers("agent", **key))
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert [(r["amount"], r["status"], r["credit_memo_id"]) for r in body["processed"]] == [
        ("20.55", "PROCESSED", memo_id)
    ]
    assert (body["pending"], body["failed"], body["shortfall"]) == ([], [], "0.00")
    replayed = api.client.post(url, headers=api.headers("agent", **key))
    assert (replayed.json(), replayed.headers["Idempotent-Replayed"]) == (body, "true")
    again = api.client.post(url, headers=api.headers("agent")).json()
    assert again["processed"] == []
    assert money(w) == refunded_once(w, memo_id)

    report = api.client.get("/api/v1/finance/reconciliation", headers=api.headers("admin"))
    assert report.status_code == 200, report.text
    (row,) = report.json()["orders"]
    assert {k: row[k] for k in ("authorized", "captured", "refunded", "invoiced", "credited")} == {
        "authorized": "76.59",
        "captured": "76.59",
        "refunded": "20.55",
        "invoiced": "76.59",
        "credited": "20.55",
    }
    assert row["outstanding"] == "0.00"
    # The return lowered what is owed only through the memo: the summary's total is still
    # 76.59 here (no change order was applied), so the documents do not match it.
    assert row["mismatches"] == ["invoices − credit memos 56.04 ≠ grand total 76.59"]
    assert report.json()["mismatches"] == 1
