"""Reversing what is still authorized once an order is settled (DESIGN.md §3, §7).

An order is settled when nothing is left to ship (every product item: available to
fulfil 0 and allocated = fulfilled), every shipment is invoiced and every invoice is PAID
(`domain.payments.order_settled`): no capture can come any more, so each payment
summary's `available_to_capture` is released at its gateway — a `reverse` per
authorization, for what is left on it, never more in all than the summary's
available_to_capture. Only MANAGED orders: an external system drives the others.

Same three steps as every money movement (services/payments/gateway_calls.py): prepare under the
order summary's lock, call with no transaction open, settle and log each answer in its own
short transaction. Keys are `reverse:{authorization_id}:{n}`; what each authorization has
had reversed is read back from the gateway log (one SUCCESS per key), so the run is
idempotent and needs no column of its own. SUCCESS raises the payment summary's `reversed`
and emits `payment.authorization_reversed`; DECLINE / INDETERMINATE open a medium payment
exception and the job retries with backoff (an unknown answer is resent with the same key
and amount, so a release whose answer was lost is found, never made twice); PERMANENT_FAIL
opens a high one and that authorization waits for a person (`retry_blocked`).

The job is queued by a consumer of the moments an order may become settled; it checks the
settled condition itself, so queuing it early is harmless. Reversal is final: a later
exchange or reship that needs more money needs a new authorization.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from openoms.adapters.db import models as m
from openoms.adapters.db.repositories import payments as repo
from openoms.adapters.db.session import Database, retry_transient
from openoms.adapters.jobs import JobContext, JobKind, Reschedule, enqueue
from openoms.adapters.outbox import Consumer, Outbox
from openoms.adapters.payments import Gateways
from openoms.domain.money import format_minor
from openoms.domain.order import Lifecycle
from openoms.domain.payments import (
    AuthorizationStatus,
    ItemProgress,
    order_settled,
    plan_reversals,
    reversal_key,
)
from openoms.domain.ports import GatewayRequest, GatewayResponse, GatewayResult
from openoms.services.exceptions import active_exception, resolve_exception
from openoms.services.finance import shipment_source_key
from openoms.services.orders import locked_summary
from openoms.services.payments.gateway_calls import (
    GatewayCall,
    GatewayOperation,
    balance_of,
    log_answer,
    payment_event,
    record_exception,
    retry_detail,
    send_and_settle,
)

REVERSE_JOB = "reverse_authorizations"
R = GatewayResult
# The moments an order may become settled (a change order may cancel what was left).
TRIGGERS = (
    "invoice.paid",
    "invoice.excess_applied",
    "payment.captured",
    "fulfillment_order.shipped",
    "order_summary.status_changed",
    "order_summary.changed",
)


@dataclass(frozen=True, slots=True)
class ReversalResult:
    order_summary_id: str
    settled: bool
    reversed: int  # released in this run, minor units
    retry: bool  # a soft decline or an unknown answer: run again after a backoff
    detail: str = ""


def reverse_unused_authorizations(
    db: Database,
    outbox: Outbox,
    gateways: Gateways,
    order_summary_id: str,
    *,
    retry_blocked: bool = False,
) -> ReversalResult:
    """Once the order is settled, reverse each payment summary's available_to_capture at its
    gateway (see the module docstring); nothing when it is not settled. An authorization
    whose reversal was refused for good is left alone unless `retry_blocked` (a person
    asked). Emits `payment.authorization_reversed`. Safe to run twice or concurrently."""

    def prepare() -> tuple[bool, list[GatewayCall]]:
        with db.transaction() as session:
            return _prepare(session, order_summary_id, retry_blocked)

    settled, calls = retry_transient(prepare)
    results = send_and_settle(db, outbox, gateways, order_summary_id, calls, _settle_reversal)
    released = sum(call.request.amount for call, r in results if r.result is R.SUCCESS)
    detail = retry_detail(results)
    return ReversalResult(order_summary_id, settled, released, bool(detail), detail)


def is_settled(session: Session, order_summary_id: str) -> bool:
    """Nothing left to ship, every shipment invoiced, every invoice PAID."""
    items = [ItemProgress(*row) for row in repo.product_item_progress(session, order_summary_id)]
    if not all(item.done for item in items):
        return False  # the usual answer, with one query
    invoices = repo.invoice_sources(session, order_summary_id)
    shipped = repo.shipment_ids(session, order_summary_id)
    invoiced = {source_key for source_key, _ in invoices}
    uninvoiced = sum(1 for s in shipped if shipment_source_key(s) not in invoiced)
    return order_settled(items, [status == repo.PAID for _, status in invoices], uninvoiced)


@dataclass(slots=True)
class _History:
    """One authorization's reversals, read from the gateway log."""

    reversed: int = 0
    last_n: int = 0
    in_doubt: tuple[str, int] | None = None  # (key, amount) of an unanswered latest call


@dataclass(slots=True)
class _Key:
    n: int
    amount: int
    results: set[str] = field(default_factory=set)


def _history(session: Session, payment_summary_ids: list[str]) -> dict[str, _History]:
    keys: dict[str, _Key] = {}
    for log in repo.gateway_logs_of(session, payment_summary_ids, GatewayOperation.REVERSE.value):
        entry = keys.setdefault(
            log.idempotency_key, _Key(int(log.idempotency_key.rsplit(":", 1)[1]), log.amount)
        )
        entry.results.add(log.result)
    history: dict[str, _History] = {}
    for key, entry in keys.items():
        auth_id = key.split(":")[1]
        h = history.setdefault(auth_id, _History())
        if R.SUCCESS.value in entry.results:
            h.reversed += entry.amount
        if entry.n > h.last_n:
            h.last_n = entry.n
            h.in_doubt = (key, entry.amount) if entry.results == {R.INDETERMINATE.value} else None
    return history


def _prepare(
    session: Session, order_summary_id: str, retry_blocked: bool
) -> tuple[bool, list[GatewayCall]]:
    summary = locked_summary(session, order_summary_id)
    if summary.lifecycle != Lifecycle.MANAGED.value or not is_settled(session, summary.id):
        return False, []
    by_id = {ps.id: ps for ps in repo.payment_summaries(session, summary.id)}
    auths = [
        a
        for a in repo.authorizations(session, list(by_id), AuthorizationStatus.AUTHORIZED)
        if a.gateway_reference
    ]
    used = repo.used_per_authorization(session, [a.id for a in auths])
    history = _history(session, list(by_id))
    calls: list[GatewayCall] = []

    def call(auth: m.PaymentAuthorization, key: str, amount: int) -> GatewayCall:
        ps = by_id[auth.order_payment_summary_id]
        request = GatewayRequest(key, ps.token, amount, summary.currency, auth.gateway_reference)
        return GatewayCall(auth.id, ps.id, ps.gateway, GatewayOperation.REVERSE, request)

    for ps in by_id.values():
        mine = [a for a in auths if a.order_payment_summary_id == ps.id]
        available = balance_of(ps).available_to_capture
        fresh = []
        for auth in mine:
            h = history.get(auth.id, _History())
            if h.in_doubt is not None:  # resend it as it was: same key, same amount
                calls.append(call(auth, *h.in_doubt))
                available -= h.in_doubt[1]
            elif retry_blocked or not _blocked(session, auth.id):
                fresh.append((auth.id, auth.amount - used.get(auth.id, 0) - h.reversed))
        by_auth = {a.id: a for a in mine}
        for auth_id, amount in plan_reversals(fresh, max(available, 0)):
            n = history.get(auth_id, _History()).last_n + 1
            calls.append(call(by_auth[auth_id], reversal_key(auth_id, n), amount))
    return True, calls


def _dedupe(authorization_id: str) -> str:
    return f"payment:reverse:{authorization_id}"


def _blocked(session: Session, authorization_id: str) -> bool:
    """A reversal refused for good waits for a person before the gateway is asked again."""
    exception = active_exception(session, _dedupe(authorization_id))
    return exception is not None and exception.severity == "high"


def _settle_reversal(
    session: Session,
    outbox: Outbox,
    order_summary_id: str,
    call: GatewayCall,
    response: GatewayResponse,
) -> None:
    summary = locked_summary(session, order_summary_id)
    ps = session.get(m.OrderPaymentSummary, call.payment_summary_id, populate_existing=True)
    assert ps is not None
    key = call.request.idempotency_key
    recorded = repo.succeeded_before(session, key, GatewayOperation.REVERSE.value)
    log_answer(session, call, response)
    money = summary.currency
    amount = format_minor(call.request.amount, money)
    if response.result is R.SUCCESS:
        if recorded:
            return  # a concurrent run settled this key already
        ps.reversed += call.request.amount
        event = payment_event(
            "payment.authorization_reversed",
            summary,
            payment_authorization_id=call.row_id,
            order_payment_summary_id=ps.id,
            amount=amount,
            currency=money,
            gateway_reference=response.reference,
        )
        outbox.record(session, [event])
        resolve_exception(session, outbox, _dedupe(call.row_id), note="reversed")
    else:
        hard = response.result is R.PERMANENT_FAIL
        then = "refused; check with the gateway, then retry" if hard else "retrying later"
        record_exception(
            session,
            outbox,
            summary,
            dedupe_key=_dedupe(call.row_id),
            severity="high" if hard else "medium",
            message=(
                f"reversal of {amount} {money} on authorization {call.row_id}: "
                f"{response.result.value} ({response.message}); {then}"
            ),
            action={
                "kind": REVERSE_JOB,
                "payload": {"order_summary_id": summary.id, "retry_blocked": True},
            },
        )
    session.flush()


# --- the job and its trigger ----------------------------------------------------------------


def reversal_job(gateways: Gateways) -> JobKind:
    """The `reverse_authorizations` job kind: calls gateways with no transaction held; a soft
    decline or unknown answer → Reschedule with backoff, same key next time."""

    def handler(context: JobContext, payload: dict[str, Any]) -> Reschedule | None:
        result = reverse_unused_authorizations(
            context.db,
            context.outbox,
            gateways,
            payload["order_summary_id"],
            retry_blocked=bool(payload.get("retry_blocked")),
        )
        return Reschedule(result.detail) if result.retry else None

    def on_dead(context: JobContext, session: Session, payload: dict[str, Any], why: str) -> None:
        summary = locked_summary(session, payload["order_summary_id"])
        record_exception(
            session,
            context.outbox,
            summary,
            dedupe_key=f"payment:reverse:{summary.id}",
            severity="high",
            message=f"reversal still unsettled after {context.attempt} attempts: {why}",
            action={"kind": REVERSE_JOB, "payload": payload},
        )

    return JobKind(handler=handler, transactional=False, on_dead=on_dead)


def reversal_consumers() -> list[Consumer]:
    """Queue the reversal job when an order is settled with something left authorized. The
    job's key names the money's state, so a burst of events at one state queues one job
    and a state reached later (a capture given back) queues another."""

    def on_event(session: Session, event: m.Event) -> None:
        summary_id = event.order_summary_id or event.payload.get("order_summary_id")
        if not summary_id or not is_settled(session, summary_id):
            return
        summaries = repo.payment_summaries(session, summary_id)
        if not any(balance_of(ps).available_to_capture > 0 for ps in summaries):
            return
        state = ":".join(
            str(sum(getattr(ps, f) for ps in summaries))
            for f in ("authorized", "captured", "pending_capture", "reversed")
        )
        payload = {"order_summary_id": summary_id}
        enqueue(session, REVERSE_JOB, f"{REVERSE_JOB}:{summary_id}:{state}", payload)

    return [Consumer("reverse-authorizations", TRIGGERS, on_event)]
