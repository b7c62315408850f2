"""Ensure refunds (DESIGN.md §7): pay back what credit memos and excess funds owe.

Three steps, never holding a transaction while a gateway thinks:

1. claim, in one short transaction under the order summary's lock: each POSTED credit memo
   with a balance is planned over the PROCESSED payments' refundable amounts, and its
   balance is claimed with a conditional update (`balance >= amount`) before any Refund
   exists, so two racing callers can never both claim it. Each part becomes a PENDING
   Refund with the key `refund:{credit_memo_id}:{payment_id}` (the gateway's idempotency
   key) and moves into the payment summary's pending_refund. Excess funds — money held
   beyond what the order owes (invoiced less credited, plus what is still to be invoiced)
   AND beyond the unrefunded memo balances — are refunded the same way, at once (a cancel
   of an order paid at checkout is refunded without waiting for the rest to ship). Counting the memo
   balances is what keeps the Salesforce double-refund trap shut: a memo's amount is never
   refunded again as "excess".
2. call the gateway for each PENDING refund this caller leased (a lease keeps a racing
   caller off it; an expired lease lets a crashed caller's refund run again, same key).
3. settle each answer in its own short transaction (payments/refund_settlement.py):
   SUCCESS → PROCESSED, refunded up; DECLINE / INDETERMINATE → still PENDING (retry later
   with the same key) and a payment process exception; PERMANENT_FAIL → FAILED, the amount
   back on the memo's balance, and a process exception for a person.

One exception per failing thing: a memo's (or the excess funds') refund to one payment,
keyed `refund:{credit_memo_id}:{payment_id}` whichever attempt (`:2`, `:3`, …) failed, so a
later failure refreshes it and a later success resolves it; a memo refunded in full resolves
the exceptions of its refunds to every payment. An agent's refund (`refund:agent:…`) is a
thing of its own, keyed by its own key.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any

from sqlalchemy.orm import Session

from openoms.adapters.db import models as m
from openoms.adapters.db.ids import new_id
from openoms.adapters.db.models import utcnow
from openoms.adapters.db.repositories import payments as repo
from openoms.adapters.db.session import Database, retry_transient
from openoms.adapters.outbox import Outbox
from openoms.adapters.payments import Gateways
from openoms.domain.finance import RefundPlan, plan_refunds
from openoms.domain.money import format_minor
from openoms.domain.ports import GatewayRequest
from openoms.services.finance import held_memo_ids
from openoms.services.orders import locked_summary
from openoms.services.payments.gateway_calls import (
    GatewayCall,
    GatewayOperation,
    call_gateway,
    refundable_excess,
)
from openoms.services.payments.refund_keys import LEASE, RefundStatus, pair_key, refund_event
from openoms.services.payments.refund_settlement import settle_refund_in


@dataclass(slots=True)
class RefundsOutcome:
    """Refund ids by how this run left them, and what no payment could cover."""

    processed: list[str] = field(default_factory=list)
    pending: list[str] = field(default_factory=list)  # declined or unanswered: retry later
    failed: list[str] = field(default_factory=list)
    shortfall: int = 0


def ensure_refunds(
    db: Database, outbox: Outbox, gateways: Gateways, order_summary_id: str
) -> RefundsOutcome:
    """Refund every POSTED credit memo's balance and any excess funds of the order, exactly
    once however often it runs or how many run at once (see the module docstring). Emits
    `refund.requested`, then `refund.processed` or `refund.failed`."""
    calls, shortfall = retry_transient(partial(_claim_in, db, outbox, order_summary_id))
    outcome = RefundsOutcome(shortfall=shortfall)
    for call in calls:
        response = call_gateway(gateways, call)
        status = retry_transient(partial(settle_refund_in, db, outbox, call, response))
        {
            RefundStatus.PROCESSED: outcome.processed,
            RefundStatus.PENDING: outcome.pending,
            RefundStatus.FAILED: outcome.failed,
        }[RefundStatus(status)].append(call.row_id)
    return outcome


# --- 1. claim -----------------------------------------------------------------------------


def _claim_in(db: Database, outbox: Outbox, order_summary_id: str) -> tuple[list[GatewayCall], int]:
    with db.transaction() as session:
        return claim_refunds(session, outbox, order_summary_id, now=utcnow())


def claim_refunds(
    session: Session, outbox: Outbox, order_summary_id: str, *, now: datetime
) -> tuple[list[GatewayCall], int]:
    """Step 1: claim memo balances and excess funds as PENDING refunds, then lease every
    PENDING refund of the order that no one else holds. Returns the calls to make and the
    amount no payment could cover."""
    summary = locked_summary(session, order_summary_id)
    payments = _refundable(session, order_summary_id)
    summaries = {ops.id: ops for ops in repo.lock_payment_summaries(session, order_summary_id)}
    due = _plan(session, order_summary_id, payments)
    for memo_id, plan in due.memos:
        if not plan.parts or not _claim_memo(session, memo_id, plan.total):
            continue
        for payment_id, amount in plan.parts:
            _new_refund(session, outbox, summaries, payments, payment_id, amount, memo_id, now)
    for payment_id, amount in due.excess.parts:
        _new_refund(session, outbox, summaries, payments, payment_id, amount, None, now)
    session.flush()
    return _lease(session, summary, summaries, now), due.shortfall


@dataclass(frozen=True, slots=True)
class RefundsDue:
    """What ensure refunds claims when it runs: each POSTED credit memo's balance (but
    those an exchange holds), then the excess funds, each planned over what the PROCESSED
    payments have left to refund after the parts before it."""

    memos: tuple[tuple[str, RefundPlan], ...]  # (credit memo id, its plan), oldest first
    excess: RefundPlan

    @property
    def total(self) -> int:
        return sum(plan.total for _, plan in self.memos) + self.excess.total

    @property
    def shortfall(self) -> int:
        """What the memos owe back that no payment can cover."""
        return sum(plan.shortfall for _, plan in self.memos)


def refunds_due(session: Session, order_summary_id: str) -> int:
    """What ensure refunds would refund for the order if it ran now (memo balances and
    excess funds that payments can cover): a service action's answer says what it adds to
    this. Reads only; the caller holds the order summary's lock."""
    return _plan(session, order_summary_id, _refundable(session, order_summary_id)).total


def _plan(
    session: Session, order_summary_id: str, payments: dict[str, tuple[m.Payment, int]]
) -> RefundsDue:
    left = {payment.id: refundable for payment, refundable in payments.values()}
    memos = repo.refundable_memos(session, order_summary_id)
    held = _exchange_held(session, order_summary_id)
    planned = []
    for memo in memos:
        if memo.id in held:
            continue  # it pays an exchange's new items first (services/finance/credit.py)
        plan = plan_refunds(memo.balance, list(left.items()))
        _spend(left, plan)
        planned.append((memo.id, plan))
    # Claiming a memo moves its amount from the memo balances into pending refunds, so the
    # excess funds are the same before and after the memos are claimed.
    excess = plan_refunds(refundable_excess(session, order_summary_id), list(left.items()))
    return RefundsDue(tuple(planned), excess)


def _spend(left: dict[str, int], plan: RefundPlan) -> None:
    for payment_id, amount in plan.parts:
        left[payment_id] -= amount


def _exchange_held(session: Session, order_summary_id: str) -> set[str]:
    """Memos of an exchange's return while its new items are still to be invoiced or paid:
    they are applied to the new items' invoice (ensure funds), not refunded. Their balances
    still count as owed back in `_excess`, so they are never refunded as excess either."""
    return held_memo_ids(session, order_summary_id)


def _refundable(session: Session, order_summary_id: str) -> dict[str, tuple[m.Payment, int]]:
    """PROCESSED payments with what is left to refund on each (amount less every refund
    that is not FAILED), oldest first."""
    rows = repo.refundable_payments(session, order_summary_id)
    return {p.id: (p, p.amount - done) for p, done in rows}


def _claim_memo(session: Session, memo_id: str, amount: int) -> bool:
    """Take `amount` off the memo's balance if it still has it: the one guard against two
    callers refunding the same memo."""
    return repo.take_memo_balance(session, memo_id, amount)


def _new_refund(
    session: Session,
    outbox: Outbox,
    summaries: dict[str, m.OrderPaymentSummary],
    payments: dict[str, tuple[m.Payment, int]],
    payment_id: str,
    amount: int,
    memo_id: str | None,
    now: datetime,
) -> None:
    payment, left = payments[payment_id]
    payments[payment_id] = (payment, left - amount)
    ops = summaries[payment.order_payment_summary_id]
    ops.pending_refund += amount
    refund = m.Refund(
        id=new_id("rf"),
        order_payment_summary_id=ops.id,
        payment_id=payment.id,
        credit_memo_id=memo_id,
        amount=amount,
        status=RefundStatus.PENDING,
        idempotency_key=_refund_key(session, memo_id, payment.id, ops.order_summary_id),
        created_at=now,
        updated_at=now - LEASE,  # not leased yet: `_lease` takes it below
    )
    session.add(refund)
    session.flush()
    outbox.record(session, [refund_event("refund.requested", refund, ops)])


def _refund_key(session: Session, memo_id: str | None, payment_id: str, summary_id: str) -> str:
    """`refund:{credit_memo_id}:{payment_id}`; a second refund of the same pair (after a
    shortfall or a failure) gets `:2`, `:3`, …; excess funds use `refund:excess:{summary}`."""
    base = pair_key(memo_id, payment_id, summary_id)
    taken = repo.count_refunds_of_pair(session, memo_id, payment_id)
    return base if not taken else f"{base}:{taken + 1}"


def _lease(
    session: Session,
    summary: m.OrderSummary,
    summaries: dict[str, m.OrderPaymentSummary],
    now: datetime,
) -> list[GatewayCall]:
    """Lease every PENDING refund of the order whose lease ran out (new ones included)."""
    refunds = repo.unleased_refunds(session, list(summaries), now - LEASE)
    payments = repo.payments_by_id(session, [r.payment_id for r in refunds])
    calls = []
    for refund in refunds:
        refund.updated_at = now
        ops = summaries[refund.order_payment_summary_id]
        request = GatewayRequest(
            idempotency_key=refund.idempotency_key,
            token=ops.token,
            amount=refund.amount,
            currency=summary.currency,
            reference=payments[refund.payment_id].gateway_reference,
        )
        calls.append(GatewayCall(refund.id, ops.id, ops.gateway, GatewayOperation.REFUND, request))
    session.flush()
    return calls


def refund_views(session: Session, refund_ids: Sequence[str]) -> list[dict[str, Any]]:
    """Public bodies of these refunds (amounts as decimal strings)."""
    if not refund_ids:
        return []
    return _refund_bodies(repo.refunds_with_currency(session, refund_ids))


def summary_refunds(session: Session, order_summary_id: str) -> list[dict[str, Any]]:
    """Every refund of the order summary, oldest first: `refund_views` bodies with when each
    was made (for the console's order page)."""
    rows = repo.refunds_of_summary(session, order_summary_id)
    created = {r.id: r.created_at.isoformat().replace("+00:00", "Z") for r, _ in rows}
    return [{**body, "created_at": created[body["id"]]} for body in _refund_bodies(rows)]


def _refund_bodies(rows: Sequence[tuple[m.Refund, str]]) -> list[dict[str, Any]]:
    return [
        {
            "id": r.id,
            "status": r.status,
            "amount": format_minor(r.amount, currency),
            "payment_id": r.payment_id,
            "credit_memo_id": r.credit_memo_id,
            "gateway_reference": r.gateway_reference,
        }
        for r, currency in rows
    ]
