"""Capture on order (channel `capture_policy` "on_order"), on SQLite and PostgreSQL.

The §12 order (76.59: 3 TEE-M 61.65 and delivery 5.99 shipped home from WH-LDN, the MUG
8.95 picked up at STORE-LDN) from a channel that captures on order: its whole grand total
is captured as soon as it is authorized, in one charge keyed by order summary and payment
summary; the invoices made at shipment are paid from those funds with no new charge; a
cancel refunds its share at once, never more; a return fee and its refund move exactly
what they should; a soft decline is retried after a backoff and charges once."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from openoms.adapters.db import models as m
from openoms.adapters.db.session import Database
from openoms.adapters.outbox import Outbox
from openoms.domain.money import Money
from openoms.services.orders import CapturePolicy, ChannelData, upsert_channel
from openoms.services.payments import ENSURE_FUNDS_JOB
from openoms.worker.consumers import default_registry
from tests.integration.conftest import Api
from tests.integration.service_shop import GRAND_TOTAL, Shop, make_shop

TEE_UNIT = 2055  # 20.00 − 3.45 + 4.00
LDN_INVOICE = 3 * TEE_UNIT + 599  # the TEE-Ms and the delivery charge
MUG_INVOICE = 895


def on_order_shop(api: Api, **payment: Any) -> Shop:
    """web-uk captures on order; the §12 order is captured (paid by `payment`, a bare
    `tok_visa` by default) and the worker runs until idle."""
    with api.db.transaction() as session:
        data = ChannelData(location_group="online", capture_policy=CapturePolicy.ON_ORDER)
        upsert_channel(session, Outbox(default_registry()), "web-uk", data)
    shop = make_shop(api)
    card = {"gateway": "sandbox", "token": "tok_visa", "amount": "76.59", **payment}
    if card.pop("preauthorize", False):
        card["authorization_reference"] = shop.sandbox.preauthorize(
            card["token"], GRAND_TOTAL, "GBP", key="checkout:1"
        )
    shop.capture(payments=[card])
    shop.drain()
    return shop


def ledger(shop: Shop) -> list[tuple[str, int]]:
    return [(e.operation, e.amount) for e in shop.sandbox.ledger]


def payments(shop: Shop) -> list[tuple[str | None, int, str, str]]:
    """(invoice id, amount, status, key), oldest first."""
    with shop.api.db.reading() as session:
        rows = session.scalars(select(m.Payment).order_by(m.Payment.created_at, m.Payment.id))
        return [(p.invoice_id, p.amount, p.status, p.idempotency_key) for p in rows]


def invoices(shop: Shop) -> list[tuple[int, int, str]]:
    """(grand total, balance, status), oldest first."""
    with shop.api.db.reading() as session:
        rows = session.scalars(
            select(m.Invoice)
            .where(m.Invoice.order_summary_id == shop.summary_id)
            .order_by(m.Invoice.created_at, m.Invoice.id)
        )
        return [(i.grand_total, i.balance, i.status) for i in rows]


def payment_exceptions(shop: Shop) -> list[tuple[str, str, str]]:
    with shop.api.db.reading() as session:
        rows = session.scalars(
            select(m.ProcessException)
            .where(m.ProcessException.category == "payment")
            .order_by(m.ProcessException.id)
        )
        return [(e.severity, e.status, e.dedupe_key) for e in rows]


def order_key(shop: Shop, n: int) -> str:
    [ps] = shop.view()["payment_summaries"]
    return f"capture:order:{shop.summary_id}:{ps['id']}:{n}"


def cancel_tee(shop: Shop, units: int) -> dict[str, Any]:
    body = {"items": [{"order_item_summary_id": shop.item_id("TEE-M"), "quantity": units}]}
    answer = shop.action("submit-cancel", body)
    assert answer.status_code == 200, answer.text
    shop.drain()
    result: dict[str, Any] = answer.json()
    return result


def test_the_grand_total_is_captured_once_authorized(stocked: Database, api: Api) -> None:
    shop = on_order_shop(api)
    assert ledger(shop) == [("authorize", GRAND_TOTAL), ("capture", GRAND_TOTAL)]
    assert payments(shop) == [(None, GRAND_TOTAL, "PROCESSED", order_key(shop, 1))]
    assert shop.money()["payment"] == (GRAND_TOTAL, GRAND_TOTAL, 0)
    assert invoices(shop) == []
    # However often ensure funds runs again, nothing more is captured.
    answer = shop.action("ensure-funds", {})
    assert answer.status_code == 200, answer.text
    shop.drain()
    assert ledger(shop) == [("authorize", GRAND_TOTAL), ("capture", GRAND_TOTAL)]


def test_an_order_authorized_at_checkout_is_captured_at_once(stocked: Database, api: Api) -> None:
    shop = on_order_shop(api, preauthorize=True)
    assert ledger(shop) == [("authorize", GRAND_TOTAL), ("capture", GRAND_TOTAL)]
    assert payments(shop) == [(None, GRAND_TOTAL, "PROCESSED", order_key(shop, 1))]


def test_shipments_are_paid_from_the_captured_funds(stocked: Database, api: Api) -> None:
    shop = on_order_shop(api)
    shop.ship("WH-LDN")
    shop.drain()
    shop.ship("STORE-LDN")
    shop.drain()
    assert invoices(shop) == [(LDN_INVOICE, 0, "PAID"), (MUG_INVOICE, 0, "PAID")]
    assert ledger(shop) == [("authorize", GRAND_TOTAL), ("capture", GRAND_TOTAL)]
    assert [p[0] for p in payments(shop)] == [None]  # no capture for any invoice
    assert shop.money()["payment"] == (GRAND_TOTAL, GRAND_TOTAL, 0)
    view = shop.view()
    assert view["status"] == "FULFILLED"
    assert view["process_exceptions"] == []


def test_a_cancel_is_refunded_once_nothing_is_left_to_invoice(stocked: Database, api: Api) -> None:
    shop = on_order_shop(api)
    cancel_tee(shop, 1)
    shop.ship("WH-LDN")
    shop.ship("STORE-LDN")
    shop.drain()
    assert invoices(shop) == [(LDN_INVOICE - TEE_UNIT, 0, "PAID"), (MUG_INVOICE, 0, "PAID")]
    assert ledger(shop) == [
        ("authorize", GRAND_TOTAL),
        ("capture", GRAND_TOTAL),
        ("refund", TEE_UNIT),
    ]
    assert shop.money()["payment"] == (GRAND_TOTAL, GRAND_TOTAL, TEE_UNIT)
    # Nothing more is refunded however often the jobs run again.
    shop.action("ensure-funds", {})
    shop.let_backoffs_run_out()
    shop.drain()
    assert [op for op, _ in ledger(shop)].count("refund") == 1


def test_a_cancel_of_an_unshipped_unit_is_refunded_at_once_and_never_more(
    stocked: Database, api: Api
) -> None:
    shop = on_order_shop(api)
    shop.ship("STORE-LDN")  # the MUG: paid from the captured funds
    shop.drain()
    cancel_tee(shop, 1)
    assert ledger(shop)[2:] == [("refund", TEE_UNIT)]  # at once, exactly its share
    shop.ship("WH-LDN")
    shop.drain()
    assert invoices(shop) == [(MUG_INVOICE, 0, "PAID"), (LDN_INVOICE - TEE_UNIT, 0, "PAID")]
    assert ledger(shop) == [
        ("authorize", GRAND_TOTAL),
        ("capture", GRAND_TOTAL),
        ("refund", TEE_UNIT),
    ]


def refunds(shop: Shop) -> list[tuple[int, str, str | None]]:
    """(amount, status, credit memo id) of the order's refunds, oldest first."""
    with shop.api.db.reading() as session:
        rows = session.scalars(
            select(m.Refund)
            .join(m.OrderPaymentSummary)
            .where(m.OrderPaymentSummary.order_summary_id == shop.summary_id)
            .order_by(m.Refund.created_at, m.Refund.id)
        )
        return [(r.amount, r.status, r.credit_memo_id) for r in rows]


def test_a_cancel_answers_what_the_worker_then_refunds(stocked: Database, api: Api) -> None:
    shop = on_order_shop(api)
    body = {"items": [{"order_item_summary_id": shop.item_id("TEE-M"), "quantity": 1}]}

    preview = shop.action("preview-cancel", body)
    submit = shop.action("submit-cancel", body)
    shop.drain()

    # Nothing was invoiced, so no credit memo: the unit's share comes back as excess funds.
    assert (preview.status_code, submit.status_code) == (200, 200)
    assert preview.json()["to_refund"] == submit.json()["to_refund"] == "20.55"
    assert submit.json()["change_orders"][0]["credited"] == "0.00"
    assert refunds(shop) == [(TEE_UNIT, "PROCESSED", None)]
    assert shop.money()["payment"] == (GRAND_TOTAL, GRAND_TOTAL, TEE_UNIT)


def test_a_discount_answers_what_the_worker_then_refunds(stocked: Database, api: Api) -> None:
    shop = on_order_shop(api)
    adjustment = {"order_item_summary_id": shop.item_id("TEE-M"), "type": "amount_with_tax"}
    body = {"items": [{**adjustment, "amount": "-6.00"}]}

    preview = shop.action("adjust-item-preview", body)
    submit = shop.action("adjust-item-submit", body)
    shop.drain()

    assert (preview.status_code, submit.status_code) == (200, 200)
    assert preview.json()["to_refund"] == submit.json()["to_refund"] == "6.00"
    assert refunds(shop) == [(600, "PROCESSED", None)]
    assert shop.money()["payment"] == (GRAND_TOTAL, GRAND_TOTAL, 600)


def test_a_cancel_with_nothing_captured_answers_nothing_to_refund(
    stocked: Database, api: Api
) -> None:
    shop = make_shop(api)  # web-uk captures on shipment
    shop.capture()
    shop.drain()
    body = {"items": [{"order_item_summary_id": shop.item_id("TEE-M"), "quantity": 1}]}

    preview = shop.action("preview-cancel", body)
    submit = shop.action("submit-cancel", body)
    shop.drain()

    assert preview.json()["to_refund"] == submit.json()["to_refund"] == "0.00"
    assert refunds(shop) == []
    assert shop.money()["payment"] == (GRAND_TOTAL, 0, 0)


def test_a_soft_decline_is_retried_after_a_backoff_and_charges_once(
    stocked: Database, api: Api
) -> None:
    shop = on_order_shop(api, token="tok_soft_decline", preauthorize=True)
    assert ledger(shop) == [("authorize", GRAND_TOTAL)]
    assert payments(shop) == [(None, GRAND_TOTAL, "FAILED", order_key(shop, 1))]
    assert payment_exceptions(shop) == [
        ("medium", "NEW", f"payment:capture:order:{shop.summary_id}")
    ]
    with api.db.reading() as session:
        [job] = session.scalars(select(m.Job).where(m.Job.kind == ENSURE_FUNDS_JOB)).all()
        assert (job.status, job.attempts) == ("pending", 1)
    shop.drain()  # backing off: nothing is asked again yet
    assert len(payments(shop)) == 1

    shop.sandbox.recover("tok_soft_decline")
    shop.let_backoffs_run_out()
    shop.drain()
    assert ledger(shop) == [("authorize", GRAND_TOTAL), ("capture", GRAND_TOTAL)]
    assert payments(shop) == [
        (None, GRAND_TOTAL, "FAILED", order_key(shop, 1)),
        (None, GRAND_TOTAL, "PROCESSED", order_key(shop, 2)),  # a decline is final for its key
    ]
    assert payment_exceptions(shop) == [
        ("medium", "RESOLVED", f"payment:capture:order:{shop.summary_id}")
    ]


def test_a_timeout_is_asked_again_with_the_same_key(stocked: Database, api: Api) -> None:
    shop = on_order_shop(api, token="tok_timeout", preauthorize=True)
    assert ledger(shop) == [("authorize", GRAND_TOTAL), ("capture", GRAND_TOTAL)]  # answer lost
    # PENDING until the backoff passes (already PROCESSED if the drain outlasted it).
    [(_, amount, status, key)] = payments(shop)
    assert (amount, status in ("PENDING", "PROCESSED"), key) == (
        GRAND_TOTAL,
        True,
        order_key(shop, 1),
    )
    shop.let_backoffs_run_out()
    shop.drain()
    assert ledger(shop) == [("authorize", GRAND_TOTAL), ("capture", GRAND_TOTAL)]
    assert payments(shop) == [(None, GRAND_TOTAL, "PROCESSED", order_key(shop, 1))]
    assert shop.money()["payment"] == (GRAND_TOTAL, GRAND_TOTAL, 0)
    # Asked twice, with one key: the lost answer, then the one that settled it.
    with shop.api.db.reading() as session:
        asked = session.execute(
            select(m.PaymentGatewayLog.idempotency_key, m.PaymentGatewayLog.result)
            .where(m.PaymentGatewayLog.operation == "capture")
            .order_by(m.PaymentGatewayLog.id)
        ).all()
    assert [tuple(row) for row in asked] == [
        (order_key(shop, 1), "INDETERMINATE"),
        (order_key(shop, 1), "SUCCESS"),
    ]


def test_a_return_fee_then_a_shipment_moves_no_extra_money(stocked: Database, api: Api) -> None:
    """The fee is paid out of the return's credit memo, not by captured money: the MUG's
    invoice after it is still paid from what was captured on order (no shortfall, no
    capture, no refund of it)."""
    shop = on_order_shop(api)
    with api.db.transaction() as session:
        data = ChannelData(
            location_group="online",
            capture_policy=CapturePolicy.ON_ORDER,
            return_fee=(Money(295, "GBP"),),
        )
        upsert_channel(session, Outbox(default_registry()), "web-uk", data)
    shop.ship("WH-LDN")
    shop.drain()
    body = {
        "items": [{"order_item_summary_id": shop.item_id("TEE-M"), "quantity": 1}],
        "location": "WH-LDN",
    }
    answer = shop.action("submit-return", body)
    assert answer.status_code == 200, answer.text
    shop.drain()
    shop.ship("STORE-LDN")
    shop.drain()
    assert invoices(shop) == [(LDN_INVOICE, 0, "PAID"), (295, 0, "PAID"), (MUG_INVOICE, 0, "PAID")]
    assert ledger(shop) == [
        ("authorize", GRAND_TOTAL),
        ("capture", GRAND_TOTAL),
        ("refund", TEE_UNIT - 295),
    ]
    assert payment_exceptions(shop) == []
    money = shop.money()
    assert money["memos"] == [(TEE_UNIT, 0, "REFUNDED")]
    assert money["payment"] == (GRAND_TOTAL, GRAND_TOTAL, TEE_UNIT - 295)


def test_an_on_shipment_channel_captures_nothing_before_shipping(
    stocked: Database, api: Api
) -> None:
    shop = make_shop(api)
    shop.capture()
    shop.drain()
    assert ledger(shop) == [("authorize", GRAND_TOTAL)]
