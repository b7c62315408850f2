"""When ensure funds runs (DESIGN.md §7, §8): the payment jobs (authorize, ensure funds) and
the consumers that queue them — a new invoice, an order to capture on order, an
authorization, a credit that may pay an invoice still owing, excess funds applied."""

from __future__ import annotations

from dataclasses import replace
from typing import Any, cast

from sqlalchemy.orm import Session

from openoms.adapters.db import models as m
from openoms.adapters.db.repositories import payments as repo
from openoms.adapters.jobs import (
    AfterCommit,
    JobContext,
    JobKind,
    Reschedule,
    TransactionalHandler,
    enqueue,
)
from openoms.adapters.outbox import Consumer
from openoms.adapters.payments import Gateways
from openoms.domain.payments import AuthorizationStatus
from openoms.services.orders import locked_summary, route_order_job_key
from openoms.services.payments.authorizations import (
    AUTHORIZE_JOB,
    authorization_job_key,
    authorize_after_commit,
    authorize_payments,
    queue_authorization,
)
from openoms.services.payments.captures import ENSURE_FUNDS_JOB, ensure_funds_action
from openoms.services.payments.funds import ensure_funds
from openoms.services.payments.gateway_calls import record_exception
from openoms.services.payments.order_captures import captures_on_order
from openoms.services.payments.refund_keys import REFUND_JOB, refund_job_key


def payment_job_kinds(gateways: Gateways) -> dict[str, JobKind]:
    """`authorize_payments` and `ensure_funds`: calling jobs (no transaction held while the
    gateway thinks) that reschedule with backoff on soft declines and unknown answers."""

    def authorize(context: JobContext, payload: dict[str, Any]) -> Reschedule | None:
        result = authorize_payments(
            context.db, context.outbox, gateways, payload["order_summary_id"]
        )
        return Reschedule(result.detail) if result.retry else None

    def ensure(context: JobContext, payload: dict[str, Any]) -> Reschedule | None:
        retry_blocked = payload.get("retry_blocked") is True
        result = ensure_funds(
            context.db,
            context.outbox,
            gateways,
            payload["order_summary_id"],
            invoice_id=payload.get("invoice_id"),
            retry_blocked=retry_blocked,
        )
        if not result.retry:
            return None
        if retry_blocked:  # for this run only: a new hard failure waits for a person again
            _forget_retry_blocked(context, payload)
        return Reschedule(result.detail)

    def on_dead(context: JobContext, session: Session, payload: dict[str, Any], why: str) -> None:
        summary = locked_summary(session, payload["order_summary_id"])
        owner = payload.get("invoice_id") or summary.id
        record_exception(
            session,
            context.outbox,
            summary,
            dedupe_key=f"payment:capture:{owner}",
            severity="high",
            message=f"payment for {owner} still unsettled after {context.attempt} attempts: {why}",
            action=ensure_funds_action(_without_retry_blocked(payload)),
        )

    return {
        AUTHORIZE_JOB: JobKind(authorize, transactional=False, on_dead=on_dead),
        ENSURE_FUNDS_JOB: JobKind(ensure, transactional=False, on_dead=on_dead),
    }


def authorize_after_routing(route_order: JobKind, gateways: Gateways) -> JobKind:
    """The `route_order` job kind that also makes the order's first authorization attempt:
    its PENDING authorizations are prepared in the routing transaction (under the summary's
    lock, which routing took first), sent through their gateways once it commits, and
    settled in the transaction that settles the job: one job and one commit per order
    instead of a job of their own. The order's `authorize_payments` job is queued only to
    retry (a soft decline, an unknown answer), or when the routing job gives up."""
    route = cast(TransactionalHandler, route_order.handler)

    def handler(
        context: JobContext, session: Session, payload: dict[str, Any]
    ) -> Reschedule | AfterCommit | None:
        outcome = route(context, session, payload)
        if outcome is not None:  # routing runs again, and authorizes then
            return outcome
        summary_id = str(payload["order_summary_id"])
        return authorize_after_commit(session, context.outbox, gateways, summary_id, context.now)

    def on_dead(context: JobContext, session: Session, payload: dict[str, Any], why: str) -> None:
        if route_order.on_dead is not None:
            route_order.on_dead(context, session, payload, why)
        summary_id = str(payload["order_summary_id"])
        if repo.has_pending_authorizations(session, summary_id):
            queue_authorization(session, summary_id, context.now)

    return replace(route_order, handler=handler, on_dead=on_dead)


def _without_retry_blocked(payload: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in payload.items() if k != "retry_blocked"}


def _forget_retry_blocked(context: JobContext, payload: dict[str, Any]) -> None:
    """Drop `retry_blocked` from the job's payload before it is rescheduled: the flag is a
    person's go-ahead for one run, not for the retries after it."""
    with context.db.transaction() as session:
        repo.replace_job_payload(session, context.job_id, _without_retry_blocked(payload))


def on_invoice_created(session: Session, event: m.Event) -> None:
    invoice_id = event.payload["invoice_id"]
    payload = {"order_summary_id": event.payload["order_summary_id"], "invoice_id": invoice_id}
    enqueue(session, ENSURE_FUNDS_JOB, f"ensure_funds:{invoice_id}", payload)


def on_order_summary_created(session: Session, event: m.Event) -> None:
    """Authorize what capture recorded without a gateway reference, unless the order's
    routing job does (`authorize_after_routing`); capture on order what was authorized at
    checkout."""
    summary_id = event.order_summary_id or event.aggregate_id
    routing = route_order_job_key(summary_id)
    if repo.has_pending_authorizations(session, summary_id, unless_job=routing):
        payload = {"order_summary_id": summary_id}
        enqueue(session, AUTHORIZE_JOB, authorization_job_key(summary_id), payload)
    if _has_authorized(session, summary_id):  # authorized at checkout: capture on order now
        _queue_capture_on_order(session, summary_id, f"{ENSURE_FUNDS_JOB}:order:{summary_id}")


def on_payment_authorized(session: Session, event: m.Event) -> None:
    """A bare token authorized by the worker: an "on_order" order is captured now."""
    summary_id = event.payload["order_summary_id"]
    authorization_id = event.payload["payment_authorization_id"]
    key = f"{ENSURE_FUNDS_JOB}:order:{summary_id}:{authorization_id}"
    _queue_capture_on_order(session, summary_id, key)


def _queue_capture_on_order(session: Session, summary_id: str, key: str) -> None:
    summary = session.get(m.OrderSummary, summary_id)
    if summary is not None and captures_on_order(session, summary):
        payload = {"order_summary_id": summary_id, "invoice_id": None}
        enqueue(session, ENSURE_FUNDS_JOB, key, payload)


def _has_authorized(session: Session, summary_id: str) -> bool:
    ids = [ps.id for ps in repo.payment_summaries(session, summary_id)]
    return bool(ids) and bool(repo.authorizations(session, ids, AuthorizationStatus.AUTHORIZED))


def on_excess_applied(session: Session, event: m.Event) -> None:
    """Excess paid an invoice: what is left of it may be refundable now (everything is
    invoiced, say), so queue ensure-refunds, which refunds only `refundable_excess`."""
    summary_id = event.payload["order_summary_id"]
    key = refund_job_key(summary_id, f"excess:{event.payload['invoice_id']}")
    enqueue(session, REFUND_JOB, key, {"order_summary_id": summary_id})


def on_credit_memo_created(session: Session, event: m.Event) -> None:
    """A new credit (an exchange's return received, say) may pay invoices still owing:
    run ensure funds once more for each, even one waiting for a person (a shortfall), so
    the credit is applied before anyone adds a payment method."""
    summary_id = event.payload["order_summary_id"]
    memo_id = event.payload["credit_memo_id"]
    for invoice_id in repo.unpaid_invoice_ids(session, summary_id):
        payload = {"order_summary_id": summary_id, "invoice_id": invoice_id, "retry_blocked": True}
        enqueue(session, ENSURE_FUNDS_JOB, f"ensure_funds:{invoice_id}:credit:{memo_id}", payload)


def payment_consumers() -> list[Consumer]:
    return [
        Consumer("funds-after-credit", ("credit_memo.created",), on_credit_memo_created),
        Consumer("ensure-funds", ("invoice.created",), on_invoice_created),
        Consumer("authorize-payments", ("order_summary.created",), on_order_summary_created),
        Consumer("capture-on-order", ("payment.authorized",), on_payment_authorized),
        Consumer("refund-excess", ("invoice.excess_applied",), on_excess_applied),
    ]
