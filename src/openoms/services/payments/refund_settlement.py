"""Settling a refund's answer (step 3 of ensure refunds, payments/refunds.py; an agent's
refund too, payments/agent_refunds.py), in its own short transaction under the order
summary's lock: SUCCESS → PROCESSED, refunded up (a partial approval gives the rest back to
the memo); DECLINE / INDETERMINATE → still PENDING, its lease released (retry later with
the same key) and a medium payment exception; PERMANENT_FAIL → FAILED, the amount back on
the memo's balance, and a high exception for a person. A memo with nothing left to claim
and no refund in flight becomes REFUNDED and the exceptions of its refunds are resolved.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from openoms.adapters.db import models as m
from openoms.adapters.db.models import utcnow
from openoms.adapters.db.repositories import payments as repo
from openoms.adapters.db.session import Database
from openoms.adapters.outbox import Outbox
from openoms.domain.fulfillment import ProcessExceptionCategory
from openoms.domain.money import format_minor
from openoms.domain.ports import GatewayResponse, GatewayResult
from openoms.services.exceptions import raise_exception, resolve_exception, retry_action
from openoms.services.finance import CreditMemoStatus
from openoms.services.orders import locked_summary
from openoms.services.payments.gateway_calls import GatewayCall, log_answer
from openoms.services.payments.refund_keys import (
    LEASE,
    REFUND_JOB,
    RefundStatus,
    exception_key,
    pair_key,
    refund_event,
    refund_job_key,
)


def settle_refund_in(
    db: Database, outbox: Outbox, call: GatewayCall, response: GatewayResponse
) -> str:
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
    refund = repo.lock_refund(session, call.row_id)
    session.refresh(ops, with_for_update=True)
    log_answer(session, call, response)
    if refund.status != RefundStatus.PENDING:
        return refund.status  # settled by another caller already
    if response.result is GatewayResult.SUCCESS:
        _processed(session, outbox, refund, ops, response, now)
    elif response.result is GatewayResult.PERMANENT_FAIL:
        ops.pending_refund -= refund.amount
        _give_back(session, refund.credit_memo_id, refund.amount)
        refund.status = RefundStatus.FAILED
        refund.updated_at = now
        _raise(session, outbox, refund, ops, "high", f"refused for good: {response.message}")
        outbox.record(
            session, [refund_event("refund.failed", refund, ops, reason=response.message)]
        )
    else:
        refund.updated_at = now - LEASE  # lease released: the next run asks again, same key
        what = "declined" if response.result is GatewayResult.DECLINE else "not answered"
        _raise(session, outbox, refund, ops, "medium", f"{what}, retrying: {response.message}")
    session.flush()
    return refund.status


def _processed(
    session: Session,
    outbox: Outbox,
    refund: m.Refund,
    ops: m.OrderPaymentSummary,
    response: GatewayResponse,
    now: datetime,
) -> None:
    """The gateway refunded (perhaps less than asked: the rest is owed back still)."""
    key = refund.idempotency_key
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
    keys = {exception_key(refund, ops.order_summary_id)}
    if _close_memo(session, refund.credit_memo_id):
        keys |= _memo_exception_keys(session, refund.credit_memo_id, ops.order_summary_id)
    for open_key in sorted(keys):
        resolve_exception(session, outbox, open_key, note=f"refund {key} processed")
    outbox.record(session, [refund_event("refund.processed", refund, ops)])


def _give_back(session: Session, memo_id: str | None, amount: int) -> None:
    if memo_id is not None and amount > 0:
        repo.give_memo_balance(session, memo_id, amount)


def _memo_exception_keys(session: Session, memo_id: str | None, summary_id: str) -> set[str]:
    """The exception keys of the memo's refunds to every payment."""
    payments = repo.memo_refund_payment_ids(session, memo_id)
    return {pair_key(memo_id, payment_id, summary_id) for payment_id in payments}


def _close_memo(session: Session, memo_id: str | None) -> bool:
    """A memo with nothing left to claim and no refund in flight is REFUNDED; True when it
    is (now or already)."""
    if memo_id is None:
        return False
    if repo.count_pending_memo_refunds(session, memo_id):
        return False
    status = repo.set_memo_status_if_empty(session, memo_id, CreditMemoStatus.REFUNDED)
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
        dedupe_key=exception_key(refund, ops.order_summary_id),
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
