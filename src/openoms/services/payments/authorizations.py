"""Authorizing payment methods recorded without a gateway reference (DESIGN.md §7).

An order captured with a payment that carries no `authorization_reference` gets an
authorization in status PENDING (and nothing in the payment summary's `authorized`):
`authorize_payments` asks the gateway (key `authorize:{authorization_id}:{n}`), then records
AUTHORIZED with the gateway's reference and the amount it approved — a partial approval
authorizes less. Ensure funds runs it first, so an invoice never waits on it.

A new managed order's first attempt is made by its `route_order` job instead
(`authorize_after_routing`, composed in worker/consumers.py): prepared in the routing
transaction, sent after it commits, settled in the transaction that settles the job. A soft
decline or an unknown answer hands the retries to `authorize_payments`, queued as the job
that made one attempt already, so the declines, exceptions and give-up are the same.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from openoms.adapters.db import models as m
from openoms.adapters.db.repositories import payments as repo
from openoms.adapters.db.session import Database, retry_transient
from openoms.adapters.jobs import AfterCommit, backoff, enqueue, requeue
from openoms.adapters.outbox import Outbox
from openoms.adapters.payments import Gateways
from openoms.domain.errors import OrderSummaryNotFound
from openoms.domain.money import format_minor
from openoms.domain.payments import AuthorizationStatus
from openoms.domain.ports import GatewayRequest, GatewayResponse, GatewayResult
from openoms.services.exceptions import resolve_exception, retry_action
from openoms.services.orders import locked_summary
from openoms.services.payments.gateway_calls import (
    GatewayCall,
    GatewayOperation,
    call_gateway,
    log_answer,
    payment_event,
    record_exception,
    retry_detail,
    send_and_settle,
)

AUTHORIZE_JOB = "authorize_payments"
R = GatewayResult


@dataclass(frozen=True, slots=True)
class AuthorizeResult:
    authorized: int  # authorizations approved in this run
    retry: bool  # some answer was a soft decline or unknown: run again later
    detail: str = ""


def authorize_payments(
    db: Database, outbox: Outbox, gateways: Gateways, order_summary_id: str
) -> AuthorizeResult:
    """Authorize, through their gateways, the summary's PENDING authorizations
    (recorded at capture without a gateway reference). SUCCESS → AUTHORIZED with the
    gateway's reference and the amount it approved (possibly less), added to `authorized`;
    emits `payment.authorized`. Safe to run twice or concurrently."""

    def prepare() -> list[GatewayCall]:
        with db.transaction() as session:
            return _prepare_authorizations(session, order_summary_id)

    calls = retry_transient(prepare)
    results = send_and_settle(db, outbox, gateways, order_summary_id, calls, _settle_authorization)
    approved = sum(1 for _, r in results if r.result is R.SUCCESS)
    detail = retry_detail(results)
    return AuthorizeResult(approved, bool(detail), detail)


def authorization_job_key(order_summary_id: str) -> str:
    """The key of an order's `authorize_payments` job (payments.on_order_summary_created's,
    and an exception's retry)."""
    return f"{AUTHORIZE_JOB}:{order_summary_id}"


def authorize_after_commit(
    session: Session, outbox: Outbox, gateways: Gateways, order_summary_id: str, now: datetime
) -> AfterCommit | None:
    """A job's answer that authorizes the summary's PENDING authorizations once its
    transaction (`session`, in which they are prepared) commits, as `authorize_payments`
    does; None when there are none. The settling transaction hands what must be retried
    (a soft decline, an unknown answer) to the order's `authorize_payments` job, due after
    the first backoff and counting this attempt."""
    try:
        calls = _prepare_authorizations(session, order_summary_id)
    except OrderSummaryNotFound:
        return None
    if not calls:
        return None

    def send() -> list[tuple[GatewayCall, GatewayResponse]]:
        return [(call, call_gateway(gateways, call)) for call in calls]

    def settle(session: Session, results: list[tuple[GatewayCall, GatewayResponse]]) -> None:
        for call, response in results:
            _settle_authorization(session, outbox, order_summary_id, call, response)
        detail = retry_detail(results)
        if detail:
            queue_authorization(session, order_summary_id, now + backoff(1), tried=detail)

    return AfterCommit(send, settle)


def queue_authorization(
    session: Session, order_summary_id: str, when: datetime, *, tried: str | None = None
) -> None:
    """Queue the order's `authorize_payments` job at `when` (one that ran and finished is
    made to run again); `tried`: one attempt was made already, which answered that."""
    key = authorization_job_key(order_summary_id)
    payload = {"order_summary_id": order_summary_id}
    attempts = 0 if tried is None else 1
    if not enqueue(
        session, AUTHORIZE_JOB, key, payload, available_at=when, attempts=attempts, last_error=tried
    ):
        requeue(session, key, available_at=when, only=("done",))


def _prepare_authorizations(session: Session, order_summary_id: str) -> list[GatewayCall]:
    summary = locked_summary(session, order_summary_id)
    by_id = {ps.id: ps for ps in repo.payment_summaries(session, summary.id)}
    pending = repo.authorizations(session, list(by_id), AuthorizationStatus.PENDING)
    calls = []
    for auth in pending:
        ps = by_id[auth.order_payment_summary_id]
        prefix = f"authorize:{auth.id}:"
        key = f"{prefix}{repo.refused_attempts(session, prefix) + 1}"
        request = GatewayRequest(key, ps.token, auth.amount, summary.currency)
        calls.append(GatewayCall(auth.id, ps.id, ps.gateway, GatewayOperation.AUTHORIZE, request))
    return calls


def _settle_authorization(
    session: Session,
    outbox: Outbox,
    order_summary_id: str,
    call: GatewayCall,
    response: GatewayResponse,
) -> None:
    summary = locked_summary(session, order_summary_id)
    auth = session.get(m.PaymentAuthorization, call.row_id, populate_existing=True)
    assert auth is not None
    log_answer(session, call, response)
    if auth.status != AuthorizationStatus.PENDING:
        return  # settled by a concurrent run
    dedupe = f"payment:authorize:{auth.id}"
    action = retry_action(
        AUTHORIZE_JOB,
        {"order_summary_id": summary.id},
        key=authorization_job_key(summary.id),
    )
    what = f"authorization {auth.id} of {format_minor(auth.amount, summary.currency)}"
    if response.result is R.SUCCESS:
        _authorized(session, outbox, summary, auth, call, response)
        resolve_exception(session, outbox, dedupe, note="authorized")
    else:
        if response.result is R.PERMANENT_FAIL:
            auth.status = AuthorizationStatus.DECLINED.value
            severity = "high"
            message = f"{what} refused by {call.gateway}: {response.message}; ask for another card"
        else:
            severity = "medium"
            message = (
                f"{what}: {call.gateway} answered {response.result.value} ({response.message})"
                "; retrying"
            )
        record_exception(
            session,
            outbox,
            summary,
            dedupe_key=dedupe,
            severity=severity,
            message=message,
            action=action,
        )
    session.flush()


def _authorized(
    session: Session,
    outbox: Outbox,
    summary: m.OrderSummary,
    auth: m.PaymentAuthorization,
    call: GatewayCall,
    response: GatewayResponse,
) -> None:
    """The gateway authorized (perhaps less than asked): AUTHORIZED with its reference and
    the amount it approved, `payment.authorized` emitted."""
    ps = session.get(m.OrderPaymentSummary, call.payment_summary_id)
    assert ps is not None
    requested, auth.amount = auth.amount, response.amount
    auth.status = AuthorizationStatus.AUTHORIZED.value
    auth.gateway_reference = response.reference
    ps.authorized += response.amount
    money = summary.currency
    event = payment_event(
        "payment.authorized",
        summary,
        payment_authorization_id=auth.id,
        order_payment_summary_id=ps.id,
        requested=format_minor(requested, money),
        amount=format_minor(response.amount, money),
        currency=money,
    )
    outbox.record(session, [event])
