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
3. settle each answer in its own short transaction: SUCCESS → PROCESSED, refunded up;
   DECLINE / INDETERMINATE → still PENDING (retry later with the same key) and a payment
   process exception; PERMANENT_FAIL → FAILED, the amount back on the memo's balance, and a
   process exception for a person.

One exception per failing thing: a memo's (or the excess funds') refund to one payment,
keyed `refund:{credit_memo_id}:{payment_id}` whichever attempt (`:2`, `:3`, …) failed, so a
later failure refreshes it and a later success resolves it; a memo refunded in full resolves
the exceptions of its refunds to every payment. An agent's refund (`refund:agent:…`) is a
thing of its own, keyed by its own key.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from openoms.adapters.db import models as m
from openoms.adapters.db.ids import new_id
from openoms.adapters.db.models import utcnow
from openoms.adapters.db.session import Database, retry_transient
from openoms.adapters.jobs import JobContext, JobKind, Reschedule, enqueue
from openoms.adapters.outbox import Consumer, Outbox
from openoms.adapters.payments import Gateways, default_gateways
from openoms.domain.events import DomainEvent
from openoms.domain.finance import RefundPlan, plan_refunds
from openoms.domain.fulfillment import ProcessExceptionCategory
from openoms.domain.money import format_minor
from openoms.domain.payments import PaymentStatus
from openoms.domain.ports import GatewayRequest, GatewayResponse, GatewayResult
from openoms.services.exceptions import raise_exception, resolve_exception, retry_action
from openoms.services.finance import CreditMemoStatus, held_memo_ids
from openoms.services.orders import locked_summary
from openoms.services.payments.gateway_calls import (
    GatewayCall,
    GatewayOperation,
    call_gateway,
    log_answer,
    refundable_excess,
)

REFUND_JOB = "ensure_refunds"
LEASE = timedelta(minutes=2)
RefundStatus = PaymentStatus


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
        status = retry_transient(partial(_settle_in, db, outbox, call, response))
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
    summaries = {
        ops.id: ops
        for ops in session.scalars(
            select(m.OrderPaymentSummary)
            .where(m.OrderPaymentSummary.order_summary_id == order_summary_id)
            .with_for_update()
        )
    }
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
    memos = session.scalars(
        select(m.CreditMemo)
        .where(
            m.CreditMemo.order_summary_id == order_summary_id,
            m.CreditMemo.status == CreditMemoStatus.POSTED,
            m.CreditMemo.balance > 0,
        )
        .order_by(m.CreditMemo.created_at, m.CreditMemo.id)
    ).all()
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
    refunded = (
        select(m.Refund.payment_id, func.sum(m.Refund.amount).label("amount"))
        .where(m.Refund.status != RefundStatus.FAILED)
        .group_by(m.Refund.payment_id)
        .subquery()
    )
    rows = session.execute(
        select(m.Payment, func.coalesce(refunded.c.amount, 0))
        .join(m.OrderPaymentSummary, m.OrderPaymentSummary.id == m.Payment.order_payment_summary_id)
        .outerjoin(refunded, refunded.c.payment_id == m.Payment.id)
        .where(
            m.OrderPaymentSummary.order_summary_id == order_summary_id,
            m.Payment.status == "PROCESSED",
        )
        .order_by(m.Payment.created_at, m.Payment.id)
    )
    return {p.id: (p, p.amount - int(done)) for p, done in rows}


def _claim_memo(session: Session, memo_id: str, amount: int) -> bool:
    """Take `amount` off the memo's balance if it still has it: the one guard against two
    callers refunding the same memo."""
    result = session.execute(
        update(m.CreditMemo)
        .where(m.CreditMemo.id == memo_id, m.CreditMemo.balance >= amount)
        .values(balance=m.CreditMemo.balance - amount)
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0) == 1)


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
    outbox.record(session, [_event("refund.requested", refund, ops)])


def _refund_key(session: Session, memo_id: str | None, payment_id: str, summary_id: str) -> str:
    """`refund:{credit_memo_id}:{payment_id}`; a second refund of the same pair (after a
    shortfall or a failure) gets `:2`, `:3`, …; excess funds use `refund:excess:{summary}`."""
    base = _pair_key(memo_id, payment_id, summary_id)
    taken = session.scalar(
        select(func.count()).where(
            m.Refund.payment_id == payment_id,
            (m.Refund.credit_memo_id == memo_id) if memo_id else m.Refund.credit_memo_id.is_(None),
        )
    )
    return base if not taken else f"{base}:{int(taken) + 1}"


def _lease(
    session: Session,
    summary: m.OrderSummary,
    summaries: dict[str, m.OrderPaymentSummary],
    now: datetime,
) -> list[GatewayCall]:
    """Lease every PENDING refund of the order whose lease ran out (new ones included)."""
    refunds = session.scalars(
        select(m.Refund)
        .where(
            m.Refund.order_payment_summary_id.in_(list(summaries)),
            m.Refund.status == RefundStatus.PENDING,
            m.Refund.updated_at <= now - LEASE,
        )
        .order_by(m.Refund.created_at, m.Refund.id)
    ).all()
    payments = {
        p.id: p
        for p in session.scalars(
            select(m.Payment).where(m.Payment.id.in_([r.payment_id for r in refunds]))
        )
    }
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


# --- 3. settle ----------------------------------------------------------------------------


def _settle_in(db: Database, outbox: Outbox, call: GatewayCall, response: GatewayResponse) -> str:
    with db.transaction() as session:
        return settle_refund(session, outbox, call, response, now=utcnow())


def settle_refund(
    session: Session,
    outbox: Outbox,
    call: GatewayCall,
    response: GatewayResponse,
    *,
    now: datetime,
) -> str:
    """Step 3: record the gateway's answer (and log it); returns the refund's status."""
    ops = session.get(m.OrderPaymentSummary, call.payment_summary_id)
    assert ops is not None  # foreign key
    locked_summary(session, ops.order_summary_id)
    refund = session.scalars(
        select(m.Refund)
        .where(m.Refund.id == call.row_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()
    session.refresh(ops, with_for_update=True)
    log_answer(session, call, response)
    if refund.status != RefundStatus.PENDING:
        return refund.status  # settled by another caller already
    key = refund.idempotency_key
    if response.result is GatewayResult.SUCCESS:
        moved = min(max(response.amount, 0), refund.amount) or refund.amount
        ops.pending_refund -= refund.amount
        ops.refunded += moved
        if moved < refund.amount:  # partial approval: the rest is owed back still
            _give_back(session, refund.credit_memo_id, refund.amount - moved)
            refund.amount = moved
        refund.status = RefundStatus.PROCESSED
        refund.gateway_reference = response.reference
        refund.updated_at = now
        session.flush()
        keys = {_exception_key(refund, ops.order_summary_id)}
        if _close_memo(session, refund.credit_memo_id):
            keys |= _memo_exception_keys(session, refund.credit_memo_id, ops.order_summary_id)
        for open_key in sorted(keys):
            resolve_exception(session, outbox, open_key, note=f"refund {key} processed")
        outbox.record(session, [_event("refund.processed", refund, ops)])
    elif response.result is GatewayResult.PERMANENT_FAIL:
        ops.pending_refund -= refund.amount
        _give_back(session, refund.credit_memo_id, refund.amount)
        refund.status = RefundStatus.FAILED
        refund.updated_at = now
        _raise(session, outbox, refund, ops, "high", f"refused for good: {response.message}")
        outbox.record(session, [_event("refund.failed", refund, ops, reason=response.message)])
    else:
        refund.updated_at = now - LEASE  # lease released: the next run asks again, same key
        what = "declined" if response.result is GatewayResult.DECLINE else "not answered"
        _raise(session, outbox, refund, ops, "medium", f"{what}, retrying: {response.message}")
    session.flush()
    return refund.status


def _give_back(session: Session, memo_id: str | None, amount: int) -> None:
    if memo_id is not None and amount > 0:
        session.execute(
            update(m.CreditMemo)
            .where(m.CreditMemo.id == memo_id)
            .values(balance=m.CreditMemo.balance + amount)
            .execution_options(synchronize_session=False)
        )


def _pair_key(memo_id: str | None, payment_id: str, summary_id: str) -> str:
    return f"refund:{memo_id or f'excess:{summary_id}'}:{payment_id}"


def _exception_key(refund: m.Refund, summary_id: str) -> str:
    """The exception of the refund's memo (or excess funds) and payment, whichever attempt
    this refund is; an agent's refund keeps its own key."""
    base = _pair_key(refund.credit_memo_id, refund.payment_id, summary_id)
    key = refund.idempotency_key
    return base if key == base or key.startswith(f"{base}:") else key


def _memo_exception_keys(session: Session, memo_id: str | None, summary_id: str) -> set[str]:
    """The exception keys of the memo's refunds to every payment."""
    payments = session.scalars(
        select(m.Refund.payment_id).where(m.Refund.credit_memo_id == memo_id).distinct()
    )
    return {_pair_key(memo_id, payment_id, summary_id) for payment_id in payments}


def _close_memo(session: Session, memo_id: str | None) -> bool:
    """A memo with nothing left to claim and no refund in flight is REFUNDED; True when it
    is (now or already)."""
    if memo_id is None:
        return False
    in_flight = session.scalar(
        select(func.count()).where(
            m.Refund.credit_memo_id == memo_id, m.Refund.status == RefundStatus.PENDING
        )
    )
    if in_flight:
        return False
    session.execute(
        update(m.CreditMemo)
        .where(m.CreditMemo.id == memo_id, m.CreditMemo.balance == 0)
        .values(status=CreditMemoStatus.REFUNDED)
        .execution_options(synchronize_session=False)
    )
    status = session.scalar(select(m.CreditMemo.status).where(m.CreditMemo.id == memo_id))
    return status == CreditMemoStatus.REFUNDED


def _raise(
    session: Session,
    outbox: Outbox,
    refund: m.Refund,
    ops: m.OrderPaymentSummary,
    severity: str,
    why: str,
) -> None:
    money = format_minor(refund.amount, _currency(session, ops.order_summary_id))
    raise_exception(
        session,
        outbox,
        order_summary_id=ops.order_summary_id,
        category=ProcessExceptionCategory.PAYMENT,
        severity=severity,
        dedupe_key=_exception_key(refund, ops.order_summary_id),
        message=f"refund {refund.id} of {money} via {ops.gateway} {why}",
        action=retry_action(
            REFUND_JOB,
            {"order_summary_id": ops.order_summary_id},
            key=refund_job_key(ops.order_summary_id, refund.credit_memo_id)
            if refund.credit_memo_id
            else None,
        ),
    )


def _currency(session: Session, order_summary_id: str) -> str:
    summary = session.get(m.OrderSummary, order_summary_id)
    return summary.currency if summary is not None else "XXX"


def _event(name: str, refund: m.Refund, ops: m.OrderPaymentSummary, **extra: Any) -> DomainEvent:
    return DomainEvent(
        name,
        "refund",
        refund.id,
        {
            "refund_id": refund.id,
            "order_summary_id": ops.order_summary_id,
            "order_payment_summary_id": ops.id,
            "payment_id": refund.payment_id,
            "credit_memo_id": refund.credit_memo_id,
            "amount": refund.amount,
            "status": refund.status,
            **extra,
        },
        ops.order_summary_id,
    )


def refund_views(session: Session, refund_ids: Sequence[str]) -> list[dict[str, Any]]:
    """Public bodies of these refunds (amounts as decimal strings)."""
    if not refund_ids:
        return []
    rows = session.execute(
        select(m.Refund, m.OrderSummary.currency)
        .join(m.OrderPaymentSummary, m.OrderPaymentSummary.id == m.Refund.order_payment_summary_id)
        .join(m.OrderSummary, m.OrderSummary.id == m.OrderPaymentSummary.order_summary_id)
        .where(m.Refund.id.in_(list(refund_ids)))
        .order_by(m.Refund.created_at, m.Refund.id)
    )
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


# --- the job and its trigger ----------------------------------------------------------------


def refund_job_key(order_summary_id: str, credit_memo_id: str) -> str:
    return f"{REFUND_JOB}:{order_summary_id}:{credit_memo_id}"


def refund_consumers() -> list[Consumer]:
    """`credit_memo.created` queues the order's ensure-refunds job."""

    def on_credit_memo_created(session: Session, event: m.Event) -> None:
        summary_id = event.payload["order_summary_id"]
        enqueue(
            session,
            REFUND_JOB,
            refund_job_key(summary_id, event.payload["credit_memo_id"]),
            {"order_summary_id": summary_id},
        )

    def on_order_changed(session: Session, event: m.Event) -> None:
        # A change without a credit memo can still leave excess funds (money captured at
        # order time for what is now canceled): ensure-refunds finds and pays them back.
        if event.payload.get("credit_memo_id"):
            return  # its credit memo queues the job (on_credit_memo_created)
        summary_id = event.payload["order_summary_id"]
        enqueue(
            session,
            REFUND_JOB,
            refund_job_key(summary_id, f"change:{event.payload['change_order_id']}"),
            {"order_summary_id": summary_id},
        )

    return [
        Consumer("ensure-refunds", ("credit_memo.created",), on_credit_memo_created),
        Consumer("refund-after-change", ("order_summary.changed",), on_order_changed),
    ]


def refund_job(gateways: Gateways | None = None) -> JobKind:
    """The `ensure_refunds` job kind: calls gateways with no transaction held; a refund left
    PENDING (declined, no answer) → Reschedule, same keys next time."""

    def handler(context: JobContext, payload: dict[str, Any]) -> Reschedule | None:
        registry = gateways or default_gateways(context.db)
        outcome = ensure_refunds(context.db, context.outbox, registry, payload["order_summary_id"])
        if outcome.pending:
            return Reschedule(f"{len(outcome.pending)} refund(s) still pending")
        return None

    return JobKind(handler=handler, transactional=False)
