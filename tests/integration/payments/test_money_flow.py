"""Money end to end on SQLite and PostgreSQL (DESIGN.md §3 Amounts, §7 Payments).

A three-line order whose one ship-to-home group no single warehouse can fill (WH-LDN holds
TEE-M and MUG, WH-MAN the only CAPs), so fewest_splits routes it to two warehouses. Each
fulfillment order ships on its own: two shipments, two invoices, two captures of exactly
the invoiced amounts, adding up to the grand total to the cent — with an approving card,
one that soft-declines until the customer tops up, and one whose answers time out.

Amounts (minor units): TEE-M 2 × 20.00 (tax 8.00), MUG 8.00 (tax 1.60), CAP 12.00 (tax
2.40), delivery 4.99 (tax 1.00), order discount −5.00 spread by product value 40:8:12 →
−3.33, −0.67, −1.00. WH-LDN ships TEE-M + MUG and carries the delivery charge:
44.67 + 8.93 + 5.99 = 59.59; WH-MAN ships the CAP: 13.40. Grand total 72.99.
"""

from __future__ import annotations

from sqlalchemy import select

from openoms.adapters.db import models as m
from openoms.adapters.db.session import Database
from openoms.adapters.outbox import Outbox
from openoms.adapters.payments import Gateways
from openoms.domain.finance import DocumentLine
from openoms.domain.money import Money
from openoms.domain.ports import GatewayResult
from openoms.services.finance import create_credit_memo
from openoms.services.fulfillment import ship
from openoms.services.payments import ENSURE_FUNDS_JOB, capture_payment
from openoms.worker.consumers import default_registry
from tests.integration.conftest import Api
from tests.integration.exchange_world import MUG_INVOICE, exchange, shipped_shop
from tests.integration.money_world import GRAND_TOTAL, LDN_INVOICE, MAN_INVOICE, Flow, start


def assert_split_routed(flow: Flow) -> None:
    fos = flow.fulfillment_orders()
    assert {loc: (status, lines) for loc, (_, status, lines) in fos.items()} == {
        "WH-LDN": ("ALLOCATED", [("MUG", 1), ("TEE-M", 2)]),
        "WH-MAN": ("ALLOCATED", [("CAP", 1)]),
    }


def assert_paid_exactly(flow: Flow, first: int = LDN_INVOICE, second: int = MAN_INVOICE) -> None:
    """Two invoices of `first` and `second` (59.59 and 13.40 by default), each PAID by one
    PROCESSED capture of exactly its amount; Σ captures = grand total; the sandbox charged
    each invoice once."""
    invoices = flow.invoices()
    assert sorted(invoices.values()) == sorted([(first, 0, "PAID"), (second, 0, "PAID")])
    processed = [
        (inv, amount) for inv, amount, status, _ in flow.payments() if status == "PROCESSED"
    ]
    assert sorted(processed, key=lambda p: p[1]) == sorted(
        ((inv, total) for inv, (total, _, _) in invoices.items()), key=lambda p: p[1]
    )
    assert sum(amount for _, amount in processed) == GRAND_TOTAL
    assert not [p for p in flow.payments() if p[2] == "PENDING"]
    charges = flow.sandbox.movements("capture")
    assert sorted(e.amount for e in charges) == sorted([first, second])
    per_invoice = sorted(e.idempotency_key.split(":")[1] for e in charges)
    assert per_invoice == sorted(invoices)  # one charge per invoice
    processed_keys = {key for _, _, status, key in flow.payments() if status == "PROCESSED"}
    assert {e.idempotency_key for e in charges} == processed_keys
    assert flow.payment_summary() == (GRAND_TOTAL, GRAND_TOTAL, 0, 0)
    view = flow.view()
    assert view["status"] == "FULFILLED"
    [ps] = view["payment_summaries"]
    assert (ps["authorized"], ps["captured"], ps["available_to_capture"]) == (
        "72.99",
        "72.99",
        "0.00",
    )
    assert ps["available_to_refund"] == "72.99"
    assert sorted(i["grand_total"] for i in view["invoices"]) == sorted(
        f"{amount // 100}.{amount % 100:02d}" for amount in (first, second)
    )
    row = flow.reconciliation()
    assert {k: row[k] for k in ("authorized", "captured", "invoiced", "credited")} == {
        "authorized": "72.99",
        "captured": "72.99",
        "invoiced": "72.99",
        "credited": "0.00",
    }
    assert (row["outstanding"], row["mismatches"]) == ("0.00", [])


def test_split_shipment_captures_each_invoice_exactly(db: Database) -> None:
    flow = start(db, {"token": "tok_visa"})
    assert_split_routed(flow)
    assert flow.payment_summary() == (GRAND_TOTAL, 0, 0, 0)  # authorized by the worker
    assert [e.operation for e in flow.sandbox.ledger] == ["authorize"]

    flow.ship_all()
    flow.drain()
    assert_paid_exactly(flow)
    assert flow.exceptions() == []
    # Nothing more happens however often the worker runs, even with every backoff over.
    flow.backoff_passes()
    flow.drain()
    assert len(flow.sandbox.movements("capture")) == 2


def test_each_shipment_is_captured_as_it_ships(db: Database) -> None:
    """WH-MAN ships first: its invoice carries the delivery charge (13.40 + 5.99 = 19.39),
    captured before WH-LDN ships the rest (59.59 − 5.99 = 53.60)."""
    flow = start(db, {"token": "tok_visa"})
    flow.ship_from("WH-MAN")
    flow.drain()
    assert sorted(flow.invoices().values()) == [(1939, 0, "PAID")]
    assert [amount for _, amount in flow.ledger_captures()] == [1939]
    assert flow.payment_summary() == (GRAND_TOTAL, 1939, 0, 0)
    [ps] = flow.view()["payment_summaries"]
    assert (ps["available_to_capture"], ps["available_to_refund"]) == ("53.60", "19.39")
    assert flow.view()["status"] == "PARTIALLY_FULFILLED"
    flow.ship_from("WH-LDN")
    flow.drain()
    assert_paid_exactly(flow, 1939, 5360)


def test_soft_decline_raises_an_exception_and_is_captured_after_recovery(
    db: Database,
) -> None:
    flow = start(db, {"token": "tok_soft_decline", "preauthorize": True})
    assert_split_routed(flow)
    flow.ship_all()
    flow.drain()
    invoices = flow.invoices()
    assert sorted(invoices.values()) == [
        (MAN_INVOICE, MAN_INVOICE, "POSTED"),
        (LDN_INVOICE, LDN_INVOICE, "POSTED"),
    ]
    assert flow.ledger_captures() == []
    assert flow.payment_summary() == (GRAND_TOTAL, 0, 0, 0)
    assert sorted((inv, amount, status) for inv, amount, status, _ in flow.payments()) == sorted(
        (inv, total, "FAILED") for inv, (total, _, _) in invoices.items()
    )
    assert sorted(flow.exceptions()) == sorted(
        ("payment", "medium", "NEW", f"payment:capture:{inv}") for inv in invoices
    )
    with flow.db.reading() as session:
        jobs = session.scalars(select(m.Job).where(m.Job.kind == ENSURE_FUNDS_JOB)).all()
        assert sorted((j.status, j.attempts) for j in jobs) == [("pending", 1), ("pending", 1)]
        assert all("DECLINE" in (j.last_error or "") for j in jobs)
        assert all(j.available_at > flow.clock.now for j in jobs)  # backing off
    view = flow.view()
    assert view["active_process_exception_count"] == 2

    # Retried while still declining: another FAILED attempt each, with a new key.
    assert flow.backoff_passes() == 2
    flow.drain()
    assert flow.ledger_captures() == []
    assert [status for _, _, status, _ in flow.payments()] == ["FAILED"] * 4

    flow.sandbox.recover("tok_soft_decline")
    flow.backoff_passes()
    flow.drain()
    assert_paid_exactly(flow)
    # Attempts 1 and 2 failed; attempt 3 (a new key: a decline is final for its key) paid.
    for invoice_id in invoices:
        assert [
            (status, key.rsplit(":", 1)[1])
            for inv, _, status, key in flow.payments()
            if inv == invoice_id
        ] == [("FAILED", "1"), ("FAILED", "2"), ("PROCESSED", "3")]
    assert sorted(flow.exceptions()) == sorted(
        ("payment", "medium", "RESOLVED", f"payment:capture:{inv}") for inv in invoices
    )
    with flow.db.reading() as session:
        statuses = session.scalars(select(m.Job.status).where(m.Job.kind == ENSURE_FUNDS_JOB))
        assert sorted(statuses) == ["done", "done"]


def test_timeouts_are_retried_with_the_same_key_and_charge_once(
    db: Database,
) -> None:
    flow = start(db, {"token": "tok_timeout"})
    # The authorization timed out (approved, answer lost) and is still pending.
    assert flow.payment_summary() == (0, 0, 0, 0)
    assert [e.operation for e in flow.sandbox.ledger] == ["authorize"]
    assert flow.fulfillment_orders() != {}  # routing does not wait for the card
    flow.backoff_passes()
    flow.drain()
    assert flow.payment_summary() == (GRAND_TOTAL, 0, 0, 0)
    assert [e.operation for e in flow.sandbox.ledger] == ["authorize"]  # asked twice, once made
    assert_split_routed(flow)

    flow.ship_all()
    flow.drain()
    invoices = flow.invoices()
    # Each invoice got one capture, charged at the gateway though its first answer was
    # lost. The second invoice's job resent the first one's PENDING capture (same key) and
    # settled it; its own is still PENDING, with its amount pending on the summary.
    pending = flow.payments()
    assert sorted((inv, amount) for inv, amount, _, _ in pending) == sorted(
        (inv, total) for inv, (total, _, _) in invoices.items()
    )
    assert [(amount, status) for _, amount, status, _ in pending] == [
        (LDN_INVOICE, "PROCESSED"),
        (MAN_INVOICE, "PENDING"),
    ]
    assert sorted(invoices.values()) == [
        (MAN_INVOICE, MAN_INVOICE, "POSTED"),
        (LDN_INVOICE, 0, "PAID"),
    ]
    assert flow.payment_summary() == (GRAND_TOTAL, LDN_INVOICE, MAN_INVOICE, 0)
    assert sorted(flow.ledger_captures()) == sorted((key, amount) for _, amount, _, key in pending)

    flow.backoff_passes()
    flow.drain()
    assert_paid_exactly(flow)
    # The retry sent the SAME keys: still one Payment per invoice, one charge per invoice.
    assert sorted(key for _, _, _, key in flow.payments()) == sorted(key for *_, key in pending)
    assert sorted(flow.ledger_captures()) == sorted((key, amount) for _, amount, _, key in pending)
    with flow.db.reading() as session:
        logs = session.scalars(
            select(m.PaymentGatewayLog).where(m.PaymentGatewayLog.operation == "capture")
        ).all()
        assert sorted((g.result, g.idempotency_key) for g in logs) == sorted(
            [("INDETERMINATE", key) for *_, key in pending]
            + [("SUCCESS", key) for *_, key in pending]
        )
        refs = {p.idempotency_key: p.gateway_reference for p in session.scalars(select(m.Payment))}
    assert refs == {e.idempotency_key: e.reference for e in flow.sandbox.movements("capture")}
    assert sorted(e[2] for e in flow.exceptions()) == ["RESOLVED", "RESOLVED", "RESOLVED"]


def test_an_invoice_split_over_two_cards_is_paid_when_one_part_was_declined(
    db: Database,
) -> None:
    """Regression (found by test_money_properties): the 59.59 invoice needs both cards —
    50.00 on tok_timeout (charged, answer lost: PENDING) and 9.59 on tok_visa (declined:
    FAILED). The retry resends the PENDING capture and, the invoice being busy, plans
    nothing new; it must run again for the 9.59, not finish with the invoice owing it."""
    flow = start(
        db,
        {"token": "tok_timeout", "amount": "50.00", "preauthorize": True},
        {"token": "tok_visa", "amount": "22.99", "preauthorize": True},
    )
    flow.sandbox.fail_next(1, GatewayResult.DECLINE, operation="capture")
    flow.ship_from("WH-LDN")
    flow.drain()
    [invoice_id] = flow.invoices()
    assert [(amount, status) for _, amount, status, _ in flow.payments()] == [
        (5000, "PENDING"),
        (959, "FAILED"),
    ]
    assert flow.ledger_captures()[0][1] == 5000  # charged, the answer lost

    flow.backoff_passes()
    flow.drain()  # resends the 50.00 (same key): captured; the 9.59 still owed
    assert flow.invoices() == {invoice_id: (LDN_INVOICE, 959, "POSTED")}
    with flow.db.reading() as session:
        job = session.scalars(select(m.Job).where(m.Job.kind == ENSURE_FUNDS_JOB)).one()
        assert (job.status, job.attempts) == ("pending", 2)

    flow.backoff_passes()
    flow.drain()
    assert flow.invoices() == {invoice_id: (LDN_INVOICE, 0, "PAID")}
    assert [
        (amount, status, key.rsplit(":", 1)[1]) for _, amount, status, key in flow.payments()
    ] == [
        (5000, "PROCESSED", "1"),
        (959, "FAILED", "1"),
        (959, "PROCESSED", "2"),
    ]
    assert sorted(amount for _, amount in flow.ledger_captures()) == [959, 5000]
    with flow.db.reading() as session:
        ps = session.scalars(select(m.OrderPaymentSummary).order_by(m.OrderPaymentSummary.position))
        assert [(p.token, p.captured, p.pending_capture) for p in ps] == [
            ("tok_timeout", 5000, 0),
            ("tok_visa", 959, 0),
        ]


def test_a_goodwill_credit_is_not_billed_again_by_later_shipments(db: Database) -> None:
    """A credit memo with no change order behind it (goodwill) leaves the item's amounts as
    they are, so the shipments after it still invoice exactly the grand total."""
    flow = start(db, {"token": "tok_visa"})
    ldn = flow.fulfillment_orders()["WH-LDN"][0]
    with db.transaction() as session:
        ship(session, flow.outbox, ldn, items=[("TEE-M", 1)], carrier_choice=flow.carriers)
    flow.drain()
    tee = next(i["id"] for i in flow.view()["items"] if i["sku"] == "TEE-M")
    with db.transaction() as session:
        memo = create_credit_memo(
            session,
            flow.outbox,
            flow.summary_id,
            None,
            [DocumentLine(tee, 0, 500, 0, 0)],
            source_key="goodwill:1",
        )
        memo_total = memo.grand_total

    flow.ship_from("WH-LDN")  # the second TEE-M and the MUG
    flow.ship_from("WH-MAN")
    flow.drain()

    invoices = flow.invoices()
    assert memo_total == 500
    assert len(invoices) == 3
    assert sum(total for total, _, _ in invoices.values()) == GRAND_TOTAL
    assert all(status == "PAID" for _, _, status in invoices.values())


def test_excess_pays_a_shipment_after_an_exchange_with_no_capture_and_refund(
    stocked: Database, api: Api
) -> None:
    """An agent captured the MUG's 8.95 ahead; an even exchange's credit memo then pays the
    TEE-L's invoice. That memo-paid invoice took none of the captured money, so the MUG's
    invoice is paid from the 8.95 held: no second capture of it, and nothing refunded."""
    shop = shipped_shop(api, ship_mug=False)
    tee_invoice = 7659 - MUG_INVOICE
    [ps] = shop.view()["payment_summaries"]
    outbox = Outbox(default_registry())
    gateways = Gateways({"sandbox": shop.sandbox})
    capture_payment(api.db, outbox, gateways, shop.summary_id, ps["id"], Money(MUG_INVOICE, "GBP"))
    exchange(shop, "16.55", "4.00")  # even: 20.55 for 20.55
    shop.ship("STORE-LDN")
    shop.drain()
    money = shop.money()
    assert money["invoices"] == [tee_invoice, 2055, MUG_INVOICE]
    assert money["memos"] == [(2055, 0, "APPLIED")]
    assert money["ledger"] == [
        ("authorize", 9000),
        ("capture", tee_invoice),
        ("capture", MUG_INVOICE),  # the agent's, ahead of the shipment
        ("reverse", 9000 - 7659),  # settled: what is left of the 90.00 is released
    ]
    assert money["payment"] == (9000, 7659, 0)
    assert shop.view()["process_exceptions"] == []
