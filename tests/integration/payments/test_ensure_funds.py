"""Ensure funds (DESIGN.md §7) on both backends: invoices captured against authorizations
through the sandbox gateway, whose ledger shows every charge exactly once."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from openoms.adapters.db import models as m
from openoms.adapters.db.models import utcnow
from openoms.adapters.db.session import Database
from openoms.adapters.jobs import enqueue, run_due_jobs
from openoms.domain.money import Money
from openoms.domain.payments import AuthorizationStatus
from openoms.domain.ports import GatewayResult
from openoms.services import payments
from openoms.services.payments import ENSURE_FUNDS_JOB, capture_payment
from openoms.worker.consumers import default_jobs
from tests.integration.conftest import Api
from tests.integration.funds_world import GRAND_TOTAL, Shop, shop_with
from tests.integration.helpers import count
from tests.network import stock_network


def captures(shop: Shop) -> list[int]:
    return [e.amount for e in shop.sandbox.movements("capture")]


def test_one_invoice_is_captured_exactly(stocked: Database) -> None:
    shop = shop_with(stocked, "tok_visa")
    invoice = shop.invoice(5000)
    result = shop.ensure()
    assert result.retry is False
    assert [
        (f.invoice_id, f.captured, f.from_excess, f.balance, f.status) for f in result.invoices
    ] == [(invoice, 5000, 0, 0, "PAID")]
    assert captures(shop) == [5000]
    ps = shop.payment_summary()
    assert (ps.authorized, ps.captured, ps.pending_capture) == (GRAND_TOTAL, 5000, 0)
    [(amount, status, key)] = shop.payments()
    assert (amount, status) == (5000, "PROCESSED")
    assert key.startswith(f"capture:{invoice}:pa_")
    assert key.endswith(":1")
    assert count(stocked, m.Event, m.Event.name == "payment.captured") == 1
    assert count(stocked, m.Event, m.Event.name == "invoice.paid") == 1
    with stocked.reading() as session:
        logs = session.scalars(select(m.PaymentGatewayLog)).all()
        assert [(g.operation, g.result, g.amount) for g in logs] == [("capture", "SUCCESS", 5000)]
        assert all("tok_" not in (g.message or "") + g.idempotency_key for g in logs)
        assert logs[0].order_payment_summary_id == ps.id
    # Running again captures nothing more.
    again = shop.ensure()
    assert again.invoices == ()
    assert captures(shop) == [5000]


def test_two_invoices_are_two_captures(stocked: Database) -> None:
    shop = shop_with(stocked, "tok_visa")
    first, second = shop.invoice(3000, ref="a"), shop.invoice(4659, ref="b")
    result = shop.ensure()
    assert {f.invoice_id: (f.captured, f.status) for f in result.invoices} == {
        first: (3000, "PAID"),
        second: (4659, "PAID"),
    }
    assert sorted(captures(shop)) == [3000, 4659]
    ps = shop.payment_summary()
    assert (ps.captured, ps.pending_capture) == (GRAND_TOTAL, 0)
    assert ps.captured <= ps.authorized


def test_excess_captured_funds_are_applied_first(stocked: Database) -> None:
    shop = shop_with(stocked, "tok_visa")
    ps = shop.payment_summary()
    capture_payment(stocked, shop.outbox, shop.gateways, shop.summary_id, ps.id, Money(2000, "GBP"))
    invoice = shop.invoice(5000)
    [funds] = shop.ensure().invoices
    assert (funds.invoice_id, funds.from_excess, funds.captured, funds.status) == (
        invoice,
        2000,
        3000,
        "PAID",
    )
    assert captures(shop) == [2000, 3000]
    assert shop.payment_summary().captured == 5000


def test_soft_decline_raises_an_exception_and_the_retry_succeeds_after_recovery(
    stocked: Database,
) -> None:
    shop = shop_with(stocked, "tok_soft_decline")
    invoice = shop.invoice(5000)
    with stocked.transaction() as session:
        payload = {"order_summary_id": shop.summary_id, "invoice_id": invoice}
        enqueue(session, ENSURE_FUNDS_JOB, f"ensure_funds:{invoice}", payload)
    jobs = default_jobs(stocked, gateways=shop.gateways)
    assert run_due_jobs(stocked, shop.outbox, jobs) == 1
    with stocked.reading() as session:
        job = session.scalars(select(m.Job).where(m.Job.kind == ENSURE_FUNDS_JOB)).one()
        assert (job.status, job.attempts) == ("pending", 1)
        assert "DECLINE" in (job.last_error or "")
    assert captures(shop) == []
    assert shop.get_invoice(invoice) == (5000, "POSTED")
    ps = shop.payment_summary()
    assert (ps.captured, ps.pending_capture) == (0, 0)
    assert shop.payments()[0][:2] == (5000, "FAILED")
    assert shop.exceptions() == [("payment", "medium", "NEW")]

    shop.sandbox.recover("tok_soft_decline")
    assert run_due_jobs(stocked, shop.outbox, jobs, now=utcnow() + timedelta(hours=2)) == 1
    with stocked.reading() as session:
        assert (
            session.scalars(select(m.Job.status).where(m.Job.kind == ENSURE_FUNDS_JOB)).one()
            == "done"
        )
    assert captures(shop) == [5000]
    assert shop.get_invoice(invoice) == (0, "PAID")
    assert [(a, s, k.rsplit(":", 1)[1]) for a, s, k in shop.payments()] == [
        (5000, "FAILED", "1"),
        (5000, "PROCESSED", "2"),  # a decline was final for its key: the retry uses a new one
    ]
    assert shop.exceptions() == [("payment", "medium", "RESOLVED")]


def test_hard_decline_raises_a_high_exception_and_is_not_retried(stocked: Database) -> None:
    shop = shop_with(stocked, "tok_hard_decline")
    invoice = shop.invoice(5000)
    result = shop.ensure()
    assert result.retry is False
    assert shop.exceptions() == [("payment", "high", "NEW")]
    assert shop.payments()[0][:2] == (5000, "FAILED")
    calls = shop.sandbox.calls
    # The job (not an agent) leaves it alone while the exception is open.
    shop.ensure(invoice_id=invoice)
    assert shop.sandbox.calls == calls
    assert captures(shop) == []
    assert shop.get_invoice(invoice) == (5000, "POSTED")
    assert shop.payment_summary().pending_capture == 0


def test_timeout_is_retried_with_the_same_key_and_charges_once(stocked: Database) -> None:
    shop = shop_with(stocked, "tok_timeout")
    invoice = shop.invoice(5000)
    first = shop.ensure()
    assert first.retry is True
    [(amount, status, key)] = shop.payments()
    assert (amount, status) == (5000, "PENDING")
    assert shop.payment_summary().pending_capture == 5000
    assert captures(shop) == [5000]  # charged, but the answer was lost
    assert shop.exceptions() == [("payment", "medium", "NEW")]

    second = shop.ensure()
    assert second.retry is False
    assert [(f.invoice_id, f.captured, f.status) for f in second.invoices] == [
        (invoice, 5000, "PAID")
    ]
    assert shop.payments() == [(5000, "PROCESSED", key)]
    [charge] = shop.sandbox.movements("capture")
    assert charge.idempotency_key == key
    with stocked.reading() as session:
        payment = session.scalars(select(m.Payment)).one()
        assert payment.gateway_reference == charge.reference
    ps = shop.payment_summary()
    assert (ps.captured, ps.pending_capture) == (5000, 0)
    assert shop.exceptions() == [("payment", "medium", "RESOLVED")]


def pending_authorization(shop: Shop) -> None:
    """What capture records for a payment without an authorization reference."""
    with shop.db.transaction() as session:
        ps = session.scalars(
            select(m.OrderPaymentSummary).where(
                m.OrderPaymentSummary.order_summary_id == shop.summary_id
            )
        ).one()
        ps.authorized = 0
        auth = session.scalars(
            select(m.PaymentAuthorization).where(
                m.PaymentAuthorization.order_payment_summary_id == ps.id
            )
        ).one()
        auth.status = AuthorizationStatus.PENDING.value
        auth.gateway_reference = None


def test_authorize_then_capture(stocked: Database) -> None:
    shop = shop_with(stocked, "tok_visa")
    pending_authorization(shop)
    result = payments.authorize_payments(stocked, shop.outbox, shop.gateways, shop.summary_id)
    assert (result.authorized, result.retry) == (1, False)
    assert shop.payment_summary().authorized == GRAND_TOTAL
    shop.invoice(GRAND_TOTAL)
    assert shop.ensure().invoices[0].status == "PAID"
    assert [e.operation for e in shop.sandbox.ledger] == ["authorize", "authorize", "capture"]


def test_partial_authorization_leaves_a_shortfall_exception(stocked: Database) -> None:
    shop = shop_with(stocked, "tok_partial")
    pending_authorization(shop)
    invoice = shop.invoice(GRAND_TOTAL)
    [funds] = shop.ensure().invoices  # authorizes first: half approved
    assert (funds.invoice_id, funds.captured, funds.balance) == (invoice, 3829, 3830)
    ps = shop.payment_summary()
    assert (ps.authorized, ps.captured) == (3829, 3829)
    assert shop.exceptions() == [("payment", "high", "NEW")]


def test_invoice_created_queues_the_ensure_funds_job(stocked: Database) -> None:
    shop = shop_with(stocked, "tok_visa")
    invoice = shop.invoice(100)
    event = m.Event(
        payload={"invoice_id": invoice, "order_summary_id": shop.summary_id, "grand_total": "1.00"}
    )
    with stocked.transaction() as session:
        payments.on_invoice_created(session, event)
        payments.on_invoice_created(session, event)
    assert count(stocked, m.Job, m.Job.dedupe_key == f"ensure_funds:{invoice}") == 1


# --- the API ---------------------------------------------------------------------------------


@pytest.fixture
def shop_api(api: Api) -> tuple[Api, Shop]:

    stock_network(api.db)
    shop = shop_with(api.db, "tok_visa")
    api.client.app.state.gateways = shop.gateways  # type: ignore[attr-defined]
    return api, shop


def test_api_ensure_funds(shop_api: tuple[Api, Shop]) -> None:
    api, shop = shop_api
    invoice = shop.invoice(5000)
    url = f"/api/v1/order-summaries/{shop.summary_id}/actions/ensure-funds"
    key = {"Idempotency-Key": "funds-1"}
    answer = api.client.post(url, headers=api.headers("agent", **key))
    assert answer.status_code == 200, answer.text
    replayed = api.client.post(url, headers=api.headers("agent", **key))
    assert (replayed.json(), replayed.headers["Idempotent-Replayed"]) == (answer.json(), "true")
    assert answer.json()["invoices"] == [
        {
            "invoice_id": invoice,
            "status": "PAID",
            "grand_total": "50.00",
            "applied_from_excess": "0.00",
            "captured": "50.00",
            "balance": "0.00",
        }
    ]
    for _ in range(2):  # a refusal stores nothing under its key: a retry is refused again
        missing = api.client.post(
            "/api/v1/order-summaries/os_nope/actions/ensure-funds",
            headers=api.headers("agent", **{"Idempotency-Key": "funds-nope"}),
        )
        assert (missing.status_code, missing.json()["code"]) == (404, "order_summary_not_found")
        assert count(api.db, m.IdempotencyRecord, m.IdempotencyRecord.key == "funds-nope") == 0
    forbidden = api.client.post(url, headers=api.headers("storefront"))
    assert forbidden.status_code == 403


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"amount": "76.60"}, 409, "capture_exceeds_authorized"),
        ({"amount": "10.00", "currency": "USD"}, 400, "currency_mismatch"),
        ({"amount": "abc"}, 400, "amount_invalid"),
        ({"amount": "1.001"}, 400, "amount_invalid"),
        ({"amount": "0"}, 400, "amount_invalid"),
        ({"amount": "-5.00"}, 400, "amount_invalid"),
    ],
)
def test_api_capture_refusals_move_nothing(
    shop_api: tuple[Api, Shop], body: dict[str, str], status: int, code: str
) -> None:
    api, shop = shop_api
    ps = shop.payment_summary()
    url = f"/api/v1/order-summaries/{shop.summary_id}/payment-summaries/{ps.id}/actions/capture"
    answer = api.client.post(url, json=body, headers=api.headers("agent"))
    assert (answer.status_code, answer.json()["code"]) == (status, code)
    assert shop.sandbox.movements("capture") == []
    assert count(api.db, m.Payment) == 0
    after = shop.payment_summary()
    assert (after.captured, after.pending_capture) == (0, 0)


def test_api_capture_unknown_payment_summary_is_404(shop_api: tuple[Api, Shop]) -> None:
    api, shop = shop_api
    url = f"/api/v1/order-summaries/{shop.summary_id}/payment-summaries/ops_nope/actions/capture"
    answer = api.client.post(url, json={"amount": "1.00"}, headers=api.headers("agent"))
    assert (answer.status_code, answer.json()["code"]) == (404, "payment_summary_not_found")
    assert shop.sandbox.movements("capture") == []


def test_api_capture_is_idempotent(shop_api: tuple[Api, Shop]) -> None:
    api, shop = shop_api
    ps = shop.payment_summary()
    url = f"/api/v1/order-summaries/{shop.summary_id}/payment-summaries/{ps.id}/actions/capture"
    headers = api.headers("agent", **{"Idempotency-Key": "cap-1"})
    first = api.client.post(url, json={"amount": "76.59"}, headers=headers)
    again = api.client.post(url, json={"amount": "76.59"}, headers=headers)
    assert (first.status_code, again.status_code) == (201, 201)
    assert first.json()["captured"] == again.json()["captured"] == "76.59"
    assert first.json()["available_to_capture"] == "0.00"
    assert captures(shop) == [GRAND_TOTAL]


# --- the job's retry_blocked flag --------------------------------------------------------------


def blocked_shop(db: Database) -> tuple[Shop, str]:
    """An approving card whose first capture was refused for good: the invoice is blocked
    behind a high payment exception."""
    shop = shop_with(db, "tok_visa")
    invoice = shop.invoice(5000)
    shop.sandbox.fail_next(1, GatewayResult.PERMANENT_FAIL, operation="capture")
    shop.ensure()
    assert shop.exceptions() == [("payment", "high", "NEW")]
    return shop, invoice


def queue_ensure(shop: Shop, key: str, **payload: Any) -> None:
    with shop.db.transaction() as session:
        body = {"order_summary_id": shop.summary_id, **payload}
        enqueue(session, ENSURE_FUNDS_JOB, key, body)


def test_the_job_leaves_a_blocked_invoice_alone_without_the_flag(stocked: Database) -> None:
    shop, invoice = blocked_shop(stocked)
    calls = shop.sandbox.calls
    queue_ensure(shop, "plain", invoice_id=invoice)
    assert run_due_jobs(stocked, shop.outbox, default_jobs(stocked, gateways=shop.gateways)) == 1
    assert shop.sandbox.calls == calls
    assert captures(shop) == []
    assert shop.get_invoice(invoice) == (5000, "POSTED")


def test_the_job_with_retry_blocked_captures_a_blocked_invoice(stocked: Database) -> None:
    shop, invoice = blocked_shop(stocked)
    queue_ensure(shop, "retry", invoice_id=invoice, retry_blocked=True)
    assert run_due_jobs(stocked, shop.outbox, default_jobs(stocked, gateways=shop.gateways)) == 1
    assert captures(shop) == [5000]
    assert shop.get_invoice(invoice) == (0, "PAID")
    assert [(a, s, k.rsplit(":", 1)[1]) for a, s, k in shop.payments()] == [
        (5000, "FAILED", "1"),
        (5000, "PROCESSED", "2"),
    ]
    assert shop.exceptions() == [("payment", "high", "RESOLVED")]
    with stocked.reading() as session:
        assert (
            session.scalars(select(m.Job.status).where(m.Job.kind == ENSURE_FUNDS_JOB)).one()
            == "done"
        )


def test_retry_blocked_holds_for_one_run_only(stocked: Database) -> None:
    """A flagged run that must run again (here a soft decline) drops the flag: the retries
    after it leave the invoice alone again while its high exception is open."""
    shop, invoice = blocked_shop(stocked)
    queue_ensure(shop, "retry", invoice_id=invoice, retry_blocked=True)
    jobs = default_jobs(stocked, gateways=shop.gateways)
    shop.sandbox.fail_next(1, GatewayResult.DECLINE, operation="capture")
    calls = shop.sandbox.calls
    assert run_due_jobs(stocked, shop.outbox, jobs) == 1
    assert shop.sandbox.calls == calls + 1  # asked once, declined
    with stocked.reading() as session:
        job = session.scalars(select(m.Job).where(m.Job.kind == ENSURE_FUNDS_JOB)).one()
        assert (job.status, job.payload) == (
            "pending",
            {"order_summary_id": shop.summary_id, "invoice_id": invoice},
        )
    assert run_due_jobs(stocked, shop.outbox, jobs, now=utcnow() + timedelta(hours=2)) == 1
    assert shop.sandbox.calls == calls + 1  # blocked again: no gateway call
    assert captures(shop) == []
    assert shop.get_invoice(invoice) == (5000, "POSTED")
