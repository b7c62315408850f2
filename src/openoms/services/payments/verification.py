"""Checking the authorizations a channel reports at capture (channel policy
`verify_authorizations`) before the order is routed.

A payment sent with an `authorization_reference` says a gateway authorized it at checkout.
When the channel verifies authorizations, capture queues one `verify_authorizations` job per
order (key `routing_gate_key(order_summary_id)`, in the capture transaction) and routing
waits while that job is not done (services/routing/route.py). The job asks each payment's gateway
for its reference (`PaymentGateway.get_authorization`, with no transaction held) and checks
that the gateway knows it, in the order's currency, for at least the amount reported, and
not reversed. All good: the job is done, routing of every delivery group is queued, and
`payment.authorizations_verified` is emitted. Otherwise a payment process exception names
each reference and what is wrong (high severity; medium while the gateway cannot answer)
and the job tries again with backoff; an agent's retry of the exception runs it at once.
The order stays unrouted (its stock stays held) until the check passes.

Bare tokens need no check: the worker authorizes them itself (services/payments/authorizations.py).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from openoms.adapters.db import models as m
from openoms.adapters.db.repositories import payments as repo
from openoms.adapters.db.repositories import routing as routing_repo
from openoms.adapters.db.session import Database, retry_transient
from openoms.adapters.jobs import JobContext, JobKind, Reschedule
from openoms.adapters.outbox import Outbox
from openoms.adapters.payments import Gateways, GatewayUnknown
from openoms.domain.events import DomainEvent
from openoms.domain.money import format_minor
from openoms.domain.ports import AuthorizationLookup, AuthorizationState
from openoms.services.exceptions import resolve_exception, retry_action
from openoms.services.orders import VERIFY_JOB, locked_summary, routing_gate_key
from openoms.services.payments.gateway_calls import record_exception
from openoms.services.routing import schedule_routing

log = logging.getLogger(__name__)


def exception_key(order_summary_id: str) -> str:
    return f"payment:verify:{order_summary_id}"


@dataclass(frozen=True, slots=True)
class _Reported:
    """One authorization as the channel reported it."""

    gateway: str
    reference: str
    amount: int
    currency: str


@dataclass(frozen=True, slots=True)
class VerifyResult:
    verified: bool  # every reported authorization checked out: routing is queued
    detail: str = ""  # what is wrong, when not verified


def verify_authorizations(
    db: Database, outbox: Outbox, gateways: Gateways, order_summary_id: str, references: list[str]
) -> VerifyResult:
    """Ask each reported authorization's gateway about it (no transaction held), then, in
    one transaction, release the order to routing or raise (refresh) its payment exception.
    Safe to run twice or concurrently."""
    with db.reading() as session:
        reported = _reported(session, order_summary_id, references)
    problems, unanswered = [], []
    for stated in reported:
        try:
            problem = _check(gateways, stated)
        except Exception as exc:  # the gateway did not answer: ask again later
            log.warning("authorization lookup at %s raised %s", stated.gateway, type(exc).__name__)
            unanswered.append(f"{stated.gateway} did not answer for {stated.reference}: {exc}")
            continue
        if problem is not None:
            problems.append(problem)

    def settle() -> VerifyResult:
        with db.transaction() as session:
            summary = locked_summary(session, order_summary_id)  # routing locks it too
            if problems or unanswered:
                payload = {"order_summary_id": summary.id, "references": references}
                return _refuse(session, outbox, summary, problems, unanswered, payload)
            return _release(session, outbox, summary, reported)

    return retry_transient(settle)


def _reported(session: Session, order_summary_id: str, references: list[str]) -> list[_Reported]:
    rows = repo.reported_authorizations(session, order_summary_id, references)
    return [
        _Reported(gateway, reference or "", amount, currency)
        for gateway, reference, amount, currency in rows
    ]


def _check(gateways: Gateways, stated: _Reported) -> str | None:
    """Ask the authorization's gateway; what is wrong with it (None: all good). Raises
    whatever the gateway raises when it cannot answer."""
    try:
        gateway = gateways.get(stated.gateway)
    except GatewayUnknown as exc:
        return f"{stated.reference}: {exc.detail}"
    return _problem(stated, gateway.get_authorization(stated.reference))


def _problem(stated: _Reported, found: AuthorizationLookup) -> str | None:
    """What is wrong with the reported authorization, as its gateway knows it."""
    ref, gateway = stated.reference, stated.gateway
    if not found.known:
        return f"{gateway} knows no authorization {ref}"
    if found.currency != stated.currency:
        return f"authorization {ref} is in {found.currency} at {gateway}, not {stated.currency}"
    if found.amount < stated.amount:
        return (
            f"authorization {ref} is for {format_minor(found.amount, stated.currency)} at "
            f"{gateway}, less than the {format_minor(stated.amount, stated.currency)} reported"
        )
    if found.state is AuthorizationState.REVERSED:
        return f"authorization {ref} was reversed at {gateway}"
    return None


def _refuse(
    session: Session,
    outbox: Outbox,
    summary: m.OrderSummary,
    problems: list[str],
    unanswered: list[str],
    payload: dict[str, Any],
) -> VerifyResult:
    """Open (or refresh) the order's payment exception; the order stays unrouted."""
    detail = "; ".join([*problems, *unanswered])
    record_exception(
        session,
        outbox,
        summary,
        dedupe_key=exception_key(summary.id),
        severity="high" if problems else "medium",
        message=(
            f"authorizations reported at capture not verified: {detail}; the order waits "
            "unrouted. Check the payment with the channel, then retry"
        ),
        action=_retry(payload),
    )
    return VerifyResult(False, detail)


def _release(
    session: Session, outbox: Outbox, summary: m.OrderSummary, reported: list[_Reported]
) -> VerifyResult:
    """Open the routing gate and queue routing of every delivery group."""
    # Done in this transaction, not after it: a routing job reading the gate after this
    # commit must find it open, or it would wait with nothing left to wake it.
    repo.mark_job_done(session, routing_gate_key(summary.id))
    for group_id in routing_repo.group_ids(session, summary.id):
        schedule_routing(session, group_id, 1, reason="authorizations verified")
    resolve_exception(session, outbox, exception_key(summary.id), note="authorizations verified")
    outbox.record(session, [_verified_event(summary.id, reported)])
    return VerifyResult(True)


def _verified_event(order_summary_id: str, reported: list[_Reported]) -> DomainEvent:
    return DomainEvent(
        "payment.authorizations_verified",
        "order_summary",
        order_summary_id,
        {
            "order_summary_id": order_summary_id,
            "authorizations": [
                {
                    "gateway": r.gateway,
                    "reference": r.reference,
                    "amount": format_minor(r.amount, r.currency),
                    "currency": r.currency,
                }
                for r in reported
            ],
        },
        order_summary_id,
    )


def verification_job(gateways: Gateways) -> JobKind:
    """The `verify_authorizations` job kind: calls gateways with no transaction held; not
    verified → Reschedule (backoff by attempt; the exception stays open meanwhile)."""

    def handler(context: JobContext, payload: dict[str, Any]) -> Reschedule | None:
        result = verify_authorizations(
            context.db,
            context.outbox,
            gateways,
            payload["order_summary_id"],
            list(payload["references"]),
        )
        return None if result.verified else Reschedule(result.detail)

    def on_dead(context: JobContext, session: Session, payload: dict[str, Any], why: str) -> None:
        summary = locked_summary(session, payload["order_summary_id"])
        record_exception(
            session,
            context.outbox,
            summary,
            dedupe_key=exception_key(summary.id),
            severity="high",
            message=(
                f"authorizations reported at capture still not verified after "
                f"{context.attempt} attempts: {why}; the order waits unrouted until a retry "
                "verifies them"
            ),
            action=_retry(payload),
        )

    return JobKind(handler=handler, transactional=False, on_dead=on_dead)


def _retry(payload: dict[str, Any]) -> dict[str, Any]:
    """A verification exception's action: check the order's reported authorizations again,
    under the routing gate key capture queued the check with."""
    summary = str(payload["order_summary_id"])
    job = {"order_summary_id": summary, "references": list(payload["references"])}
    return retry_action(VERIFY_JOB, dict(payload), key=routing_gate_key(summary), retry_payload=job)
