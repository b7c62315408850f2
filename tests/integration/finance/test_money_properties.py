"""The §3 Amounts invariants under random sequences of actions (hypothesis, stateful).

One order — TEE-M ×3 + MUG ×2 from WH-LDN, CAP ×2 from WH-MAN (no single warehouse holds
all three, so it routes to two), grand total 120.99, paid by one of four wallets (drawn per
example): `tok_soft_decline` 50.00 + `tok_timeout` 70.99, both preauthorized at checkout;
`tok_flaky` 140.00 (unknown answers on a seeded share of calls, over-authorized);
`tok_partial` 60.00 authorized by openoms (approves half) + `tok_visa` 100.00; or
`tok_hard_decline` 30.00 authorized by openoms (refused for good) + `tok_soft_decline`
125.00 — then random steps:

- ship a random remaining quantity of a random fulfillment order line;
- run the worker (invoicing, ensure funds, ensure refunds, reversals), sometimes with every
  backoff over;
- toggle gateway faults: the soft-declining card declines / recovers, `tok_timeout` answers
  time out (money moved, answer lost) or not, the next call of an operation is declined,
  refused for good (a hard decline) or unanswered (nothing moved);
- credit part of what was invoiced (a credit memo of some units of an invoice line of an
  item invoiced whole) and run ensure refunds;
- an agent refund of a random amount on a random card, sometimes more than it has available
  (refused with nothing moved), sometimes resent as a client retry with its key would;
- reverse unused authorizations (a no-op until the order is settled);
- run failing jobs out of attempts (dead), and revive dead jobs with `requeue`.

After every step: per payment summary captured + pending + reversed ≤ authorized and
refunded ≤ captured (with what is pending), available_to_capture / available_to_refund
follow their formulas (floored at 0), the summary's amounts are the sums of its Payment /
Refund rows, Σ invoices − Σ credit memos is what reconciliation reports, no credit memo is
refunded beyond its total, and the sandbox ledger's authorizations, captures, refunds and
reversals per card are exactly openoms's (PROCESSED rows plus the PENDING ones whose answer
was lost). At the end every fault is cleared, dead jobs are revived, the rest ships, an
agent retries what was refused for good and the worker runs until idle: everything invoiced
is captured once, every memo refunded once (as far as the agent's refunds left money to
refund), the unused authorization released, ledger = openoms to the cent.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import pytest
from hypothesis import event
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)
from sqlalchemy import func, select

from openoms.adapters.carriers import default_carriers
from openoms.adapters.db import models as m
from openoms.adapters.db.session import Database
from openoms.adapters.jobs import requeue
from openoms.adapters.outbox import Outbox
from openoms.adapters.payments import Gateways
from openoms.adapters.payments.sandbox import SandboxGateway
from openoms.domain.errors import RefundExceedsCaptured
from openoms.domain.finance import DocumentLine
from openoms.domain.money import Money
from openoms.domain.payments import AGENT_REFUND_KEY_PREFIX, PaymentBalance
from openoms.domain.ports import GatewayResult
from openoms.services.finance import create_credit_memo, reconcile
from openoms.services.fulfillment import ship
from openoms.services.payments import (
    ensure_funds,
    ensure_refunds,
    refund_payment,
    reverse_unused_authorizations,
    send_pending_refunds,
)
from openoms.services.views import order_summary_view
from openoms.worker.consumers import default_jobs, default_registry
from tests.integration.helpers import capture
from tests.integration.machines import minor, reset, run_machine
from tests.integration.worker import WorkerClock, drain, make_worker
from tests.network import stock_network
from tests.payloads import order_payload

SOFT = "tok_soft_decline"
TIMEOUT = "tok_timeout"
FLAKY = "tok_flaky"
PARTIAL = "tok_partial"
HARD = "tok_hard_decline"
VISA = "tok_visa"
GRAND_TOTAL = 12099
# (token, amount, authorized at checkout?) — the others are authorized by openoms's job.
WALLETS = {
    "soft + timeout": ((SOFT, 5000, True), (TIMEOUT, 7099, True)),
    "flaky, over-authorized": ((FLAKY, 14000, True),),
    "partial + visa": ((PARTIAL, 6000, False), (VISA, 10000, True)),
    "hard decline + soft": ((HARD, 3000, False), (SOFT, 12500, True)),
}
STOCK = {("WH-LDN", "TEE-M"): 10, ("WH-LDN", "MUG"): 20, ("WH-MAN", "CAP"): 5}
ITEMS = [
    {
        "sku": "TEE-M",
        "quantity": 3,
        "unit_price": "20.00",
        "tax": "12.00",
        "delivery_group": "home",
    },
    {"sku": "MUG", "quantity": 2, "unit_price": "8.00", "tax": "3.20", "delivery_group": "home"},
    {"sku": "CAP", "quantity": 2, "unit_price": "12.00", "tax": "4.80", "delivery_group": "home"},
]
FAULT_STEPS = (
    "soft card declines",
    "soft card recovers",
    "timeouts on",
    "timeouts off",
    "next capture DECLINE",
    "next capture INDETERMINATE",
    "next refund DECLINE",
    "next refund INDETERMINATE",
    "next capture PERMANENT_FAIL",
    "next refund PERMANENT_FAIL",
    "next reverse PERMANENT_FAIL",
    "next reverse INDETERMINATE",
)


class MoneyMachine(RuleBasedStateMachine):
    db: Database  # set on the subclass made per backend

    def __init__(self) -> None:
        super().__init__()
        self.memos = 0
        self.steps: list[str] = []
        self.credited_units: dict[int, int] = {}  # invoice line id → units credited
        self.agent_requests: list[list[str]] = []  # refund ids of each accepted agent refund

    # --- set-up -------------------------------------------------------------------------

    @initialize(wallet=st.sampled_from(sorted(WALLETS)))
    def order(self, wallet: str) -> None:
        reset(self.db)
        stock_network(self.db, stock=STOCK)
        self.steps.append(f"wallet {wallet}")
        self.sandbox = SandboxGateway(self.db, timeout_calls=0, flaky_rate=0.3)
        payments = []
        for token, amount, at_checkout in WALLETS[wallet]:
            payment = {
                "gateway": "sandbox",
                "token": token,
                "amount": f"{amount // 100}.{amount % 100:02d}",
            }
            if at_checkout:
                payment["authorization_reference"] = self.sandbox.preauthorize(
                    token, amount, "GBP", key=f"checkout:{token}"
                )
            payments.append(payment)
        payload = order_payload(external_reference="WEB-PROP", items=ITEMS, payments=payments)
        payload["delivery_groups"] = [g for g in payload["delivery_groups"] if g["ref"] == "home"]
        registry = default_registry()
        self.outbox = Outbox(registry)
        self.carriers = default_carriers(self.db)
        self.gateways = Gateways({"sandbox": self.sandbox})
        self.summary_id = capture(self.db, self.outbox, payload)
        self.jobs = default_jobs(self.db, self.carriers, self.gateways)
        self.clock = WorkerClock()
        self.worker = make_worker(self.db, registry, self.jobs, clock=self.clock)
        self.drain()
        fos = self.view()["fulfillment_orders"]
        assert sorted(fo["location"] for fo in fos) == ["WH-LDN", "WH-MAN"]

    # --- helpers --------------------------------------------------------------------------

    def drain(self) -> None:
        drain(self.worker)

    def backoff_passes(self) -> None:
        """Move the worker's clock past every retry's backoff."""
        self.clock.advance()

    def view(self) -> dict[str, Any]:
        with self.db.reading() as session:
            return order_summary_view(session, self.summary_id)

    def remaining(self) -> list[tuple[str, str, int]]:
        """(fo id, sku, units left to ship) of every line with units left, in an order that
        does not depend on the random ids (hypothesis replays draws by position)."""
        fos = sorted(self.view()["fulfillment_orders"], key=lambda fo: fo["location"])
        return [
            (fo["id"], ln["sku"], ln["quantity"] - ln["shipped"])
            for fo in fos
            for ln in sorted(fo["lines"], key=lambda ln: ln["sku"])
            if ln["quantity"] > ln["shipped"]
        ]

    def creditable(self) -> list[tuple[int, str, int, int, int, int, int]]:
        """Per invoice line with units not yet credited, of an item invoiced whole: (line
        id, item id, quantity, price, adjustments, tax, units credited so far).

        Only whole-invoiced items: these memos stand alone (no change order lowers the
        item), and a later invoice of the same item would bill what they credited again
        (`invoicing.billed_per_item` nets every memo, as if a change order had lowered
        the item)."""
        with self.db.reading() as session:
            lines = session.execute(
                select(
                    m.InvoiceLine.id,
                    m.InvoiceLine.order_item_summary_id,
                    m.InvoiceLine.quantity,
                    m.InvoiceLine.total_price,
                    m.InvoiceLine.adjustments,
                    m.InvoiceLine.tax,
                )
                .join(m.Invoice, m.Invoice.id == m.InvoiceLine.invoice_id)
                .where(m.Invoice.order_summary_id == self.summary_id)
                .order_by(m.InvoiceLine.id)
            ).all()
            ordered = dict(
                session.execute(
                    select(m.OrderItemSummary.id, m.OrderItemSummary.quantity_ordered).where(
                        m.OrderItemSummary.order_summary_id == self.summary_id
                    )
                ).all()
            )
        invoiced: dict[str, int] = defaultdict(int)
        for line in lines:
            invoiced[line[1]] += line[2]
        return [
            (*line, self.credited_units.get(line[0], 0))
            for line in lines
            if self.credited_units.get(line[0], 0) < line[2]
            and invoiced[line[1]] == ordered[line[1]]
        ]

    # --- rules ----------------------------------------------------------------------------

    @precondition(lambda self: bool(self.remaining()))
    @rule(data=st.data(), then_run_worker=st.booleans())
    def ship_some(self, data: st.DataObject, then_run_worker: bool) -> None:
        fo_id, sku, units = data.draw(st.sampled_from(self.remaining()), label="line")
        quantity = data.draw(st.integers(1, units), label="quantity")
        self.steps.append(
            f"ship {quantity} {sku}" + (" and run the worker" if then_run_worker else "")
        )
        with self.db.transaction() as session:
            ship(session, self.outbox, fo_id, items=[(sku, quantity)], carrier_choice=self.carriers)
        if then_run_worker:
            self.drain()

    @rule(backoff_over=st.booleans())
    def run_worker(self, backoff_over: bool) -> None:
        self.steps.append(f"worker backoff_over={backoff_over}")
        if backoff_over:
            self.backoff_passes()
        self.drain()

    @precondition(lambda self: bool(self.creditable()))
    @rule(data=st.data())
    def credit_and_refund(self, data: st.DataObject) -> None:
        lines = self.creditable()
        line_id, item_id, quantity, price, adjustments, tax, done = data.draw(
            st.sampled_from(lines), label="invoice line"
        )
        units = data.draw(st.integers(1, quantity - done), label="units")

        def part(amount: int) -> int:  # telescoping: all units credited = the line's amount
            return amount * (done + units) // quantity - amount * done // quantity

        line = DocumentLine(item_id, units, part(price), part(adjustments), part(tax))
        if line.total <= 0:
            return
        self.memos += 1
        self.steps.append(f"credit {units} of line {line_id}: {line.total}")
        with self.db.transaction() as session:
            create_credit_memo(
                session,
                self.outbox,
                self.summary_id,
                None,
                [line],
                source_key=f"prop:{self.summary_id}:{self.memos}",
            )
        self.credited_units[line_id] = done + units
        ensure_refunds(self.db, self.outbox, self.gateways, self.summary_id)

    @rule(fault=st.sampled_from(FAULT_STEPS))
    def toggle_fault(self, fault: str) -> None:
        self.steps.append(fault)
        if fault == "soft card declines":
            self.sandbox._recovered.discard(SOFT)  # the sandbox has no public "un-recover"
        elif fault == "soft card recovers":
            self.sandbox.recover(SOFT)
        elif fault.startswith("timeouts"):
            self.sandbox.timeout_calls = 1 if fault == "timeouts on" else 0
        else:  # "next {operation} {DECLINE|INDETERMINATE}": nothing moved
            _, operation, result = fault.split()
            self.sandbox.fail_next(1, GatewayResult(result), operation=operation)

    @rule(retry_blocked=st.booleans())
    def reverse(self, retry_blocked: bool) -> None:
        """Release unused authorizations now (nothing until the order is settled)."""
        self.steps.append(f"reverse retry_blocked={retry_blocked}")
        reverse_unused_authorizations(
            self.db, self.outbox, self.gateways, self.summary_id, retry_blocked=retry_blocked
        )

    @rule(data=st.data(), resend=st.booleans())
    def agent_refund(self, data: st.DataObject, resend: bool) -> None:
        """An agent gives money back on one card, sometimes more than it holds."""
        cards = self.money()["summaries"]
        in_order = [p["id"] for p in self.view()["payment_summaries"]]  # by position, not id
        ps_id = data.draw(st.sampled_from(in_order), label="card")
        available = PaymentBalance(*cards[ps_id]).available_to_refund
        amount = data.draw(st.integers(1, available + 300), label="amount")
        self.steps.append(f"agent refund {amount} of {available} on {ps_id}")
        before = self.money()
        try:
            ids = refund_payment(
                self.db, self.outbox, self.gateways, self.summary_id, ps_id, Money(amount, "GBP")
            )
        except RefundExceedsCaptured:
            # refused: more than available, or than its PROCESSED captures hold (the rest is
            # still being captured); nothing moved, at openoms nor at the gateway
            assert amount > available or self.settled_refundable(ps_id) < amount
            assert self.money() == before, self.steps
            event("agent refund refused")
            return
        assert amount <= available
        with self.db.reading() as session:
            rows = session.scalars(select(m.Refund).where(m.Refund.id.in_(ids))).all()
        assert all(r.credit_memo_id is None for r in rows)
        assert all(r.idempotency_key.startswith(AGENT_REFUND_KEY_PREFIX) for r in rows)
        assert sum(r.amount for r in rows) == amount
        self.agent_requests.append(ids)
        if resend:  # a client's retry with the same Idempotency-Key resends these, no more
            send_pending_refunds(self.db, self.outbox, self.gateways, self.summary_id, ids)
            with self.db.reading() as session:
                assert session.scalar(
                    select(func.count()).select_from(m.Refund).where(m.Refund.id.in_(ids))
                ) == len(ids)

    @rule()
    def exhaust_failing_jobs(self) -> None:
        """Failing jobs get one attempt left and run: those that fail again are dead."""
        self.steps.append("exhaust failing jobs")
        with self.db.transaction() as session:
            for job in session.scalars(
                select(m.Job).where(m.Job.status == "pending", m.Job.last_error.is_not(None))
            ):
                job.attempts = max(job.attempts, self.jobs.kinds[job.kind].max_attempts - 1)
                job.available_at = self.clock.now
        self.drain()

    @rule()
    def revive_dead_jobs(self) -> None:
        self.steps.append("revive dead jobs")
        revive(self)
        self.drain()

    # --- reading --------------------------------------------------------------------------

    def money(self) -> dict[str, Any]:
        """What an agent refund could move: every payment summary's amounts, the refund
        rows, the gateway's ledger and the events."""
        with self.db.reading() as session:
            summaries = session.scalars(
                select(m.OrderPaymentSummary).where(
                    m.OrderPaymentSummary.order_summary_id == self.summary_id
                )
            ).all()
            refunds = session.scalars(select(m.Refund.id).order_by(m.Refund.id)).all()
            events = session.scalar(select(func.count()).select_from(m.Event))
        return {
            "summaries": {
                ps.id: (
                    ps.authorized,
                    ps.captured,
                    ps.refunded,
                    ps.reversed,
                    ps.pending_capture,
                    ps.pending_refund,
                )
                for ps in summaries
            },
            "refunds": list(refunds),
            "ledger": self.sandbox.ledger,
            "events": events,
        }

    def settled_refundable(self, ps_id: str) -> int:
        """What the card's PROCESSED captures still hold (less every refund not FAILED)."""
        with self.db.reading() as session:
            captured = session.scalar(
                select(func.coalesce(func.sum(m.Payment.amount), 0)).where(
                    m.Payment.order_payment_summary_id == ps_id, m.Payment.status == "PROCESSED"
                )
            )
            taken = session.scalar(
                select(func.coalesce(func.sum(m.Refund.amount), 0)).where(
                    m.Refund.order_payment_summary_id == ps_id, m.Refund.status != "FAILED"
                )
            )
        return int(captured or 0) - int(taken or 0)

    # --- invariants -----------------------------------------------------------------------

    @invariant()
    def amounts_hold(self) -> None:
        if not hasattr(self, "summary_id"):
            return
        check_amounts(self.db, self.sandbox, self.summary_id, self.view())

    def teardown(self) -> None:
        if hasattr(self, "summary_id"):
            settle_everything(self)


def check_amounts(
    db: Database, sandbox: SandboxGateway, summary_id: str, view: dict[str, Any]
) -> None:
    with db.reading() as session:
        summaries = session.scalars(
            select(m.OrderPaymentSummary).where(
                m.OrderPaymentSummary.order_summary_id == summary_id
            )
        ).all()
        payments = session.scalars(
            select(m.Payment).where(
                m.Payment.order_payment_summary_id.in_([s.id for s in summaries])
            )
        ).all()
        refunds = session.scalars(
            select(m.Refund).where(m.Refund.order_payment_summary_id.in_([s.id for s in summaries]))
        ).all()
        invoices = session.scalars(
            select(m.Invoice).where(m.Invoice.order_summary_id == summary_id)
        ).all()
        memos = session.scalars(
            select(m.CreditMemo).where(m.CreditMemo.order_summary_id == summary_id)
        ).all()
        (ledger,) = reconcile(session).orders
        summary = session.get(m.OrderSummary, summary_id)
        assert summary is not None
        tokens = {s.id: s.token for s in summaries}
        auths = session.scalars(
            select(m.PaymentAuthorization).where(
                m.PaymentAuthorization.order_payment_summary_id.in_(list(tokens))
            )
        ).all()
        reverse_logs = session.scalars(
            select(m.PaymentGatewayLog).where(m.PaymentGatewayLog.operation == "reverse")
        ).all()

        # Per payment summary: the bounds, the formulas, and the rows behind the amounts.
        shown = {p["id"]: p for p in view["payment_summaries"]}
        for ps in summaries:
            mine = [p for p in payments if p.order_payment_summary_id == ps.id]
            back = [r for r in refunds if r.order_payment_summary_id == ps.id]
            assert min(ps.captured, ps.refunded, ps.pending_capture, ps.pending_refund) >= 0
            assert ps.captured <= ps.authorized, ps.id
            assert ps.captured + ps.pending_capture + ps.reversed <= ps.authorized, ps.id
            assert ps.refunded <= ps.captured, ps.id
            assert ps.refunded + ps.pending_refund <= ps.captured, ps.id
            assert ps.captured == sum(p.amount for p in mine if p.status == "PROCESSED")
            assert ps.pending_capture == sum(p.amount for p in mine if p.status == "PENDING")
            assert ps.refunded == sum(r.amount for r in back if r.status == "PROCESSED")
            assert ps.pending_refund == sum(r.amount for r in back if r.status == "PENDING")
            balance = PaymentBalance(
                ps.authorized,
                ps.captured,
                ps.refunded,
                ps.reversed,
                ps.pending_capture,
                ps.pending_refund,
            )
            to_capture = max(ps.authorized - (ps.captured + ps.pending_capture + ps.reversed), 0)
            to_refund = max(ps.captured + ps.pending_capture - (ps.refunded + ps.pending_refund), 0)
            assert (balance.available_to_capture, balance.available_to_refund) == (
                to_capture,
                to_refund,
            )
            assert minor(shown[ps.id]["available_to_capture"]) == to_capture
            assert minor(shown[ps.id]["available_to_refund"]) == to_refund
            for refund in back:  # never more back than a capture took
                payment = next(p for p in mine if p.id == refund.payment_id)
                assert payment.status == "PROCESSED"
            for payment in mine:
                taken = sum(
                    r.amount for r in back if r.payment_id == payment.id and r.status != "FAILED"
                )
                assert taken <= payment.amount, payment.id

        # Documents: Σ invoices − Σ memos as reconciliation and the view say.
        invoiced = sum(i.grand_total for i in invoices)
        credited = sum(c.grand_total for c in memos)
        assert (ledger.invoiced, ledger.credited) == (invoiced, credited)
        assert invoiced - credited == ledger.invoiced - ledger.credited
        assert sum(minor(i["grand_total"]) for i in view["invoices"]) == invoiced
        assert sum(minor(c["grand_total"]) for c in view["credit_memos"]) == credited
        assert invoiced <= summary.grand_total
        for invoice in invoices:
            assert 0 <= invoice.balance <= invoice.grand_total
            assert (invoice.status == "PAID") == (invoice.balance == 0), invoice.id
            paid = sum(
                p.amount for p in payments if p.invoice_id == invoice.id and p.status == "PROCESSED"
            )
            assert paid <= invoice.grand_total, invoice.id

        # No memo refunded twice: its balance and its live refunds add up to its total.
        for memo in memos:
            live = sum(
                r.amount for r in refunds if r.credit_memo_id == memo.id and r.status != "FAILED"
            )
            assert memo.balance >= 0
            assert memo.balance + live == memo.grand_total, memo.id
        assert len({r.idempotency_key for r in refunds}) == len(refunds)
        assert len({p.idempotency_key for p in payments}) == len(payments)

    # The gateway's ledger against openoms's rows, per card.
    by_key = {p.idempotency_key: p for p in payments}
    refunds_by_key = {r.idempotency_key: r for r in refunds}
    moved: dict[tuple[str, str], int] = defaultdict(int)
    for entry in sandbox.ledger:
        if entry.operation == "capture":
            payment = by_key[entry.idempotency_key]  # every charge is a Payment of openoms
            assert payment.status in ("PROCESSED", "PENDING"), entry
            assert payment.amount == entry.amount
            if payment.status == "PROCESSED":
                assert payment.gateway_reference == entry.reference
                moved["captured", entry.token] += entry.amount
        elif entry.operation == "refund":
            refund = refunds_by_key[entry.idempotency_key]
            assert refund.status in ("PROCESSED", "PENDING"), entry
            assert refund.amount == entry.amount
            if refund.status == "PROCESSED":
                assert refund.gateway_reference == entry.reference
                moved["refunded", entry.token] += entry.amount
    # Reversals: each key the gateway released is SUCCESS in openoms's log (then counted in
    # `reversed`, once) or still unanswered there (resent later with the same key).
    answers: dict[str, set[str]] = defaultdict(set)
    for log in reverse_logs:
        answers[log.idempotency_key].add(log.result)
    for entry in sandbox.movements("reverse"):
        if "SUCCESS" in answers[entry.idempotency_key]:
            moved["reversed", entry.token] += entry.amount
        else:
            assert answers[entry.idempotency_key] == {"INDETERMINATE"}, entry
    for entry in sandbox.movements("authorize"):
        moved["authorized", entry.token] += entry.amount
    for ps in summaries:
        token = tokens[ps.id]
        assert moved["captured", token] == ps.captured, token
        assert moved["refunded", token] == ps.refunded, token
        assert moved["reversed", token] == ps.reversed, token
        mine = [a for a in auths if a.order_payment_summary_id == ps.id]
        if all(a.status != "PENDING" for a in mine):
            assert moved["authorized", token] == ps.authorized, token
            assert ps.authorized == sum(a.amount for a in mine if a.status == "AUTHORIZED")
    charged = {e.idempotency_key for e in sandbox.movements("capture")}
    assert {p.idempotency_key for p in payments if p.status == "PROCESSED"} <= charged
    returned = {e.idempotency_key for e in sandbox.movements("refund")}
    assert {r.idempotency_key for r in refunds if r.status == "PROCESSED"} <= returned


def settle_everything(machine: MoneyMachine) -> None:
    """Clear every fault, ship the rest, run until idle: all owed is captured once and all
    credited refunded once."""
    sandbox = machine.sandbox
    sandbox.recover(SOFT)
    sandbox.timeout_calls = 0
    sandbox.flaky_rate = 0.0
    sandbox.clear_faults()
    revive(machine)
    for fo_id, sku, units in machine.remaining():
        with machine.db.transaction() as session:
            ship(
                session,
                machine.outbox,
                fo_id,
                items=[(sku, units)],
                carrier_choice=machine.carriers,
            )
    for _ in range(6):
        machine.backoff_passes()
        machine.drain()
    # An agent works what was refused for good: ensure funds and reversals once more.
    db, outbox, gateways, summary_id = (
        machine.db,
        machine.outbox,
        machine.gateways,
        machine.summary_id,
    )
    ensure_funds(db, outbox, gateways, summary_id, retry_blocked=True)
    ensure_refunds(db, outbox, gateways, summary_id)
    machine.backoff_passes()
    machine.drain()
    reverse_unused_authorizations(db, outbox, gateways, summary_id, retry_blocked=True)
    view = machine.view()
    check_amounts(machine.db, sandbox, machine.summary_id, view)
    assert view["status"] == "FULFILLED"
    with machine.db.reading() as session:
        invoices = session.scalars(
            select(m.Invoice).where(m.Invoice.order_summary_id == machine.summary_id)
        ).all()
        memos = session.scalars(
            select(m.CreditMemo).where(m.CreditMemo.order_summary_id == machine.summary_id)
        ).all()
        pending = session.scalars(select(m.Payment.id).where(m.Payment.status == "PENDING")).all()
        pending += session.scalars(select(m.Refund.id).where(m.Refund.status == "PENDING")).all()
        (ledger,) = reconcile(session).orders
        agent = sum(
            session.scalars(
                select(m.Refund.amount).where(
                    m.Refund.status == "PROCESSED",
                    m.Refund.idempotency_key.startswith(AGENT_REFUND_KEY_PREFIX),
                )
            ).all()
        )
        summaries = session.scalars(select(m.OrderPaymentSummary)).all()
    assert pending == [], machine.steps
    assert sum(i.grand_total for i in invoices) == GRAND_TOTAL
    assert [(i.balance, i.status) for i in invoices] == [(0, "PAID")] * len(invoices), machine.steps
    credited = sum(c.grand_total for c in memos)
    # Memos are refunded as far as money is left after the agent's refunds, never beyond.
    memo_refunded = min(credited, GRAND_TOTAL - agent)
    assert sum(c.balance for c in memos) == credited - memo_refunded, machine.steps
    refunded = memo_refunded + agent
    assert (ledger.captured, ledger.refunded) == (GRAND_TOTAL, refunded), machine.steps
    assert ledger.refunded_without_credit_memo == agent
    assert ledger.outstanding == memo_refunded - credited
    # (The stand-alone memos here lower no item, so documents ≠ grand total is expected.)
    assert [x for x in ledger.mismatches if x.startswith("payment")] == [], machine.steps
    # Settled: what was authorized and not captured is released, once.
    for ps in summaries:
        assert (ps.pending_capture, ps.captured + ps.reversed) == (0, ps.authorized), machine.steps
    assert ledger.reversed == sum(ps.authorized for ps in summaries) - GRAND_TOTAL
    assert sum(e.amount for e in sandbox.movements("reverse")) == ledger.reversed
    if ledger.reversed:
        event("unused authorization reversed")
    if agent:
        event("agent refunds")
    with machine.db.reading() as session:
        for status in session.scalars(select(m.Payment.status)):
            event(f"capture {status}")
    event(f"credit memos: {len(memos)}")
    event(f"invoices: {len(invoices)}")
    ledger_captured = sum(e.amount for e in sandbox.movements("capture"))
    ledger_refunded = sum(e.amount for e in sandbox.movements("refund"))
    assert (ledger_captured, ledger_refunded) == (GRAND_TOTAL, refunded), machine.steps


def revive(machine: MoneyMachine) -> None:
    """Put every dead job back in the queue (`requeue`), as a person retrying it would."""
    with machine.db.transaction() as session:
        for key in session.scalars(select(m.Job.dedupe_key).where(m.Job.status == "dead")).all():
            event("dead job revived")
            requeue(session, key)


@pytest.mark.slow
def test_money_invariants_hold_for_any_sequence(db: Database) -> None:
    run_machine(MoneyMachine, db, env="MONEY", examples=15, steps=20, postgres_examples=6)
