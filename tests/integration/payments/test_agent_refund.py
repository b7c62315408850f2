"""An agent's refund on one payment method, with no credit memo (DESIGN.md §7, §12), on
SQLite and PostgreSQL: the §12 order (76.59) paid by `tok_visa`, invoiced and captured in
full, then money given back through
`POST …/payment-summaries/{ps_id}/actions/refund`."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from openoms.adapters.db import models as m
from openoms.adapters.db.models import utcnow
from openoms.adapters.jobs import run_due_jobs
from openoms.adapters.outbox import Outbox
from openoms.adapters.payments import Gateways, SandboxGateway
from openoms.domain.errors import RefundExceedsCaptured
from openoms.domain.money import Money
from openoms.domain.ports import GatewayResult
from openoms.services.finance import reconcile
from openoms.services.payments import REFUND_JOB, capture_payment, refund_payment
from openoms.worker.consumers import default_jobs, default_registry
from tests.integration.conftest import Api
from tests.integration.funds_world import GRAND_TOTAL, Shop, shop_with
from tests.integration.helpers import capture, count
from tests.network import stock_network
from tests.payloads import order_payload


@pytest.fixture
def paid(api: Api) -> tuple[Api, Shop]:
    """The order captured whole (76.59) against one invoice, the API on its gateway."""
    stock_network(api.db)
    shop = shop_with(api.db, "tok_visa")
    shop.invoice(GRAND_TOTAL)
    assert shop.ensure().retry is False
    api.client.app.state.gateways = shop.gateways  # type: ignore[attr-defined]
    return api, shop


def another_shop(db: Any, external_reference: str) -> Shop:
    """A second §12 order (its own reference), paid by `tok_visa` on its own sandbox."""
    gateway = SandboxGateway(db)
    reference = gateway.preauthorize("tok_visa", GRAND_TOTAL, "GBP", key=external_reference)
    payment = {
        "gateway": "sandbox",
        "token": "tok_visa",
        "amount": "76.59",
        "authorization_reference": reference,
    }
    outbox = Outbox(default_registry())
    payload = order_payload(external_reference=external_reference, payments=[payment])
    summary_id = capture(db, outbox, payload)
    return Shop(db, outbox, gateway, Gateways({"sandbox": gateway}), summary_id)


def url(shop: Shop, ps_id: str | None = None) -> str:
    ps_id = ps_id or shop.payment_summary().id
    return f"/api/v1/order-summaries/{shop.summary_id}/payment-summaries/{ps_id}/actions/refund"


def money(shop: Shop) -> dict[str, Any]:
    """Everything an agent refund moves."""
    ps = shop.payment_summary()
    with shop.db.reading() as session:
        refunds = session.scalars(select(m.Refund).order_by(m.Refund.created_at, m.Refund.id))
        rows = [(r.amount, r.status, r.credit_memo_id, r.idempotency_key) for r in refunds]
    return {
        "captured": ps.captured,
        "refunded": ps.refunded,
        "pending_refund": ps.pending_refund,
        "refunds": rows,
        "ledger": [(e.idempotency_key, e.amount) for e in shop.sandbox.movements("refund")],
    }


def payment_ids(shop: Shop) -> list[str]:
    with shop.db.reading() as session:
        return list(
            session.scalars(
                select(m.Payment.id)
                .where(m.Payment.status == "PROCESSED")
                .order_by(m.Payment.created_at, m.Payment.id)
            )
        )


def test_a_refund_without_an_idempotency_key_refunds_nothing(paid: tuple[Api, Shop]) -> None:
    api, shop = paid
    before = money(shop)
    body = {"amount": "12.34", "reason": "late delivery"}
    for _ in range(2):  # a client's retry is refused the same way
        answer = api.keyless.post(url(shop), json=body, headers=api.headers("agent"))
        assert answer.status_code == 400, answer.text
        assert answer.headers["content-type"] == "application/problem+json"
        assert (answer.json()["code"], answer.json()["detail"]) == (
            "idempotency_key_required",
            "This endpoint needs an Idempotency-Key header.",
        )
    assert money(shop) == before
    assert count(api.db, m.IdempotencyRecord) == 0
    assert count(api.db, m.Event, m.Event.name.like("refund.%")) == 0
    assert count(api.db, m.Job, m.Job.kind == REFUND_JOB) == 0


def test_an_agent_refund_gives_money_back_once(paid: tuple[Api, Shop]) -> None:
    api, shop = paid
    headers = api.headers("agent", **{"Idempotency-Key": "goodwill-1"})
    body = {"amount": "12.34", "reason": "late delivery"}
    first = api.client.post(url(shop), json=body, headers=headers)
    assert first.status_code == 201, first.text
    [payment] = payment_ids(shop)
    key = f"refund:agent:{payment}:1"
    answer = first.json()
    assert [(r["amount"], r["status"], r["credit_memo_id"]) for r in answer["refunds"]] == [
        ("12.34", "PROCESSED", None)
    ]
    assert (answer["refunded"], answer["available_to_refund"]) == ("12.34", "64.25")
    # The same key again: the same refund, never a second one.
    again = api.client.post(url(shop), json=body, headers=headers)
    assert again.status_code == 201
    assert again.json()["refunds"] == answer["refunds"]
    assert again.headers.get("Idempotent-Replayed") == "true"
    expected = {
        "captured": GRAND_TOTAL,
        "refunded": 1234,
        "pending_refund": 0,
        "refunds": [(1234, "PROCESSED", None, key)],
        "ledger": [(key, 1234)],
    }
    assert money(shop) == expected
    with api.db.reading() as session:
        events = session.scalars(
            select(m.Event).where(m.Event.name.in_(["refund.requested", "refund.processed"]))
        ).all()
        assert sorted(e.name for e in events) == ["refund.processed", "refund.requested"]
        requested = next(e for e in events if e.name == "refund.requested")
        assert (requested.payload["reason"], requested.payload["kind"]) == (
            "late delivery",
            "agent",
        )
        logs = session.scalars(
            select(m.PaymentGatewayLog).where(m.PaymentGatewayLog.operation == "refund")
        ).all()
        assert [(g.idempotency_key, g.result, g.amount) for g in logs] == [(key, "SUCCESS", 1234)]
    # A new key is a new refund, numbered on.
    second = api.client.post(
        url(shop), json={"amount": "0.66"}, headers=api.headers("agent", **{"Idempotency-Key": "2"})
    )
    assert second.status_code == 201
    assert money(shop)["ledger"] == [(key, 1234), (f"refund:agent:{payment}:2", 66)]

    # Reconciliation lists it as refunded without a credit memo: no mismatch, 0 outstanding.
    report = api.client.get("/api/v1/finance/reconciliation", headers=api.headers("agent"))
    assert report.status_code == 200, report.text
    (row,) = report.json()["orders"]
    assert {
        k: row[k]
        for k in ("captured", "refunded", "refunded_without_credit_memo", "invoiced", "outstanding")
    } == {
        "captured": "76.59",
        "refunded": "13.00",
        "refunded_without_credit_memo": "13.00",
        "invoiced": "76.59",
        "outstanding": "0.00",
    }
    assert row["mismatches"] == []
    assert report.json()["totals"][0]["refunded_without_credit_memo"] == "13.00"


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"amount": "76.60"}, 409, "refund_exceeds_captured"),
        ({"amount": "10.00", "currency": "USD"}, 400, "currency_mismatch"),
        ({"amount": "abc"}, 400, "amount_invalid"),
        ({"amount": "1.001"}, 400, "amount_invalid"),
        ({"amount": "0"}, 400, "amount_invalid"),
        ({"amount": "-5.00"}, 400, "amount_invalid"),
    ],
)
def test_refusals_move_nothing(
    paid: tuple[Api, Shop], body: dict[str, str], status: int, code: str
) -> None:
    api, shop = paid
    before = money(shop)
    answer = api.client.post(url(shop), json=body, headers=api.headers("agent"))
    assert (answer.status_code, answer.json()["code"]) == (status, code)
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert money(shop) == before == {**before, "refunds": [], "ledger": [], "refunded": 0}
    assert count(api.db, m.Event, m.Event.name.like("refund.%")) == 0


def test_over_refund_counts_what_was_refunded_already(paid: tuple[Api, Shop]) -> None:
    api, shop = paid
    ps = shop.payment_summary()
    refund_payment(api.db, shop.outbox, shop.gateways, shop.summary_id, ps.id, Money(7000, "GBP"))
    answer = api.client.post(url(shop), json={"amount": "6.60"}, headers=api.headers("agent"))
    assert (answer.status_code, answer.json()["code"]) == (409, "refund_exceeds_captured")
    assert answer.json()["available_to_refund"] == "6.59"
    with pytest.raises(RefundExceedsCaptured):
        refund_payment(
            api.db, shop.outbox, shop.gateways, shop.summary_id, ps.id, Money(660, "GBP")
        )
    ok = api.client.post(url(shop), json={"amount": "6.59"}, headers=api.headers("agent"))
    assert ok.status_code == 201
    assert ok.json()["available_to_refund"] == "0.00"
    assert [amount for _, amount in money(shop)["ledger"]] == [7000, 659]


def test_unknown_summaries_are_404_and_move_nothing(paid: tuple[Api, Shop]) -> None:
    api, shop = paid
    other = another_shop(api.db, "WEB-OTHER")  # none of this order's money
    cases = [
        (url(shop, "ops_nope"), "payment_summary_not_found"),
        (url(shop, other.payment_summary().id), "payment_summary_not_found"),
        (
            f"/api/v1/order-summaries/os_nope/payment-summaries/{shop.payment_summary().id}"
            "/actions/refund",
            "order_summary_not_found",
        ),
    ]
    for target, code in cases:
        answer = api.client.post(target, json={"amount": "1.00"}, headers=api.headers("agent"))
        assert (answer.status_code, answer.json()["code"]) == (404, code)
    assert money(shop)["refunds"] == []
    forbidden = api.client.post(url(shop), json={"amount": "1.00"}, headers=api.headers())
    assert forbidden.status_code == 403


def test_a_refund_larger_than_any_capture_spans_several(paid: tuple[Api, Shop]) -> None:
    """Another order with two captures (50.00 for an invoice, 26.59 by an agent outside any
    invoice): 60.00 back is 50.00 + 10.00 (none covers it alone: largest first) — the
    payment summary's captures through `plan_refunds`."""
    api, _ = paid
    fresh = another_shop(api.db, "WEB-TWO-CAPTURES")
    fresh.invoice(5000, ref="a")
    fresh.ensure()
    ps = fresh.payment_summary()
    capture_payment(
        api.db, fresh.outbox, fresh.gateways, fresh.summary_id, ps.id, Money(2659, "GBP")
    )
    api.client.app.state.gateways = fresh.gateways  # type: ignore[attr-defined]
    answer = api.client.post(url(fresh), json={"amount": "60.00"}, headers=api.headers("agent"))
    assert answer.status_code == 201, answer.text
    assert sorted(r["amount"] for r in answer.json()["refunds"]) == ["10.00", "50.00"]
    assert sorted(e.amount for e in fresh.sandbox.movements("refund")) == [1000, 5000]


def test_an_unknown_answer_is_202_and_the_worker_resends_the_same_key(
    paid: tuple[Api, Shop],
) -> None:
    api, shop = paid
    shop.sandbox.fail_next(1, GatewayResult.INDETERMINATE, operation="refund")
    headers = api.headers("agent", **{"Idempotency-Key": "lost"})
    first = api.client.post(url(shop), json={"amount": "5.00"}, headers=headers)
    assert first.status_code == 202, first.text
    assert [r["status"] for r in first.json()["refunds"]] == ["PENDING"]
    assert money(shop)["pending_refund"] == 500
    assert count(api.db, m.Job, m.Job.kind == REFUND_JOB) == 1
    # The worker resends it with the same key once the backoff is over.
    jobs = default_jobs(api.db, gateways=shop.gateways)
    assert run_due_jobs(api.db, shop.outbox, jobs, now=utcnow() + timedelta(minutes=5)) == 1
    [payment] = payment_ids(shop)
    key = f"refund:agent:{payment}:1"
    after = money(shop)
    assert (after["refunded"], after["pending_refund"], after["ledger"]) == (500, 0, [(key, 500)])
    # The client's retry with its key answers the outcome and sends nothing more.
    again = api.client.post(url(shop), json={"amount": "5.00"}, headers=headers)
    assert again.status_code == 201
    assert money(shop)["ledger"] == [(key, 500)]


def test_a_hard_refusal_is_402_and_moves_nothing(paid: tuple[Api, Shop]) -> None:
    api, shop = paid
    shop.sandbox.fail_next(1, GatewayResult.PERMANENT_FAIL, operation="refund")
    answer = api.client.post(url(shop), json={"amount": "5.00"}, headers=api.headers("agent"))
    assert (answer.status_code, answer.json()["code"]) == (402, "refund_declined")
    after = money(shop)
    assert (after["refunded"], after["pending_refund"], after["ledger"]) == (0, 0, [])
    assert [r[1] for r in after["refunds"]] == ["FAILED"]
    assert shop.exceptions() == [("payment", "high", "NEW")]


def test_reconcile_sets_agent_refunds_aside_but_not_excess_refunds(paid: tuple[Api, Shop]) -> None:
    api, shop = paid
    ps = shop.payment_summary()
    refund_payment(api.db, shop.outbox, shop.gateways, shop.summary_id, ps.id, Money(100, "GBP"))
    with api.db.reading() as session:
        (ledger,) = reconcile(session).orders
    assert (ledger.refunded, ledger.refunded_without_credit_memo, ledger.outstanding) == (
        100,
        100,
        0,
    )
