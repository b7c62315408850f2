"""The `route_group` job: route one round of a group, try again when nothing could be placed
or the stock moved meanwhile, and give the held stock back when retries run out."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from openoms.adapters.db.repositories import routing as repo
from openoms.adapters.jobs import JobContext, JobKind, Reschedule, backoff, enqueue, requeue
from openoms.adapters.outbox import Outbox
from openoms.domain.fulfillment import ProcessExceptionCategory
from openoms.domain.order import Lifecycle
from openoms.services.exceptions import active_exception, raise_exception
from openoms.services.orders import ROUTE_ORDER_JOB, is_held, routing_gates
from openoms.services.routing.plan import OrderLookups
from openoms.services.routing.rounds import (
    EXCEPTION_SEVERITY,
    GAVE_UP,
    ROUTE_JOB,
    ROUTE_JOB_MAX_ATTEMPTS,
    exception_key,
    retry_round,
    route_job_key,
)
from openoms.services.routing.route import (
    RouteOutcome,
    RouteStatus,
    route_delivery_group,
    route_locked_group,
)
from openoms.services.routing.run_jobs import run_job_kinds
from openoms.services.routing.stock import release_group_holds

RACE_DELAY = timedelta(seconds=1)
# A failing `route_order` job hands its groups to their own jobs soon: they retry longer.
ROUTE_ORDER_MAX_ATTEMPTS = 3


def run_route_job(
    context: JobContext, session: Session, payload: dict[str, Any]
) -> Reschedule | None:
    outcome = route_delivery_group(
        session,
        context.outbox,
        str(payload["group_summary_id"]),
        round=int(payload["round"]),
        now=context.now,
    )
    return reschedule_for(outcome)


def run_route_order_job(
    context: JobContext, session: Session, payload: dict[str, Any]
) -> Reschedule | None:
    """Round 1 of every delivery group of a new order, in this one transaction (queued by
    capture): the summary locked, its gate checked, its channel and locations read once.
    Each group is idempotent per round, so a retry of the job routes nothing twice. A group
    that cannot be placed now (no route, a lost race) is handed to its own `route_group`
    job, which retries it with backoff and raises its exception. An order whose
    authorizations are being verified is left to the check, which queues its routing; a
    held order is left unrouted (the job ends, its attempts unspent) until its last hold is
    released, which queues this job again with `resume`: each group is then routed in the
    round after the last one that placed something (the round a rejection or new stock
    asked for while it was held, or round 1)."""
    found = repo.lock_order_groups(session, str(payload["order_summary_id"]))
    if found is None or found[0].lifecycle != Lifecycle.MANAGED:
        return None
    summary, groups = found
    if repo.any_job_unfinished(session, routing_gates(summary.id)):
        return None
    if is_held(session, summary.id):  # read under the summary's lock: see orders/holds.py
        return None
    shared = OrderLookups()
    wanted = set(payload.get("group_summary_ids") or (g.id for g in groups))
    resume = bool(payload.get("resume"))
    for group in groups:
        if group.id not in wanted:
            continue
        round = _round(session, group.id, resume)
        outcome = route_locked_group(
            session, context.outbox, summary, group, round=round, now=context.now, shared=shared
        )
        later = reschedule_for(outcome)
        if later is not None:
            when = context.now + (later.delay or backoff(1))
            _hand_over(session, group.id, when, round=round, revive=resume)
    return None


def _round(session: Session, group_id: str, resume: bool) -> int:
    """The round the order's job routes the group in: 1, or when it resumes after a hold,
    the round after the last that made a fulfillment order."""
    return repo.last_round(session, group_id) + 1 if resume else 1


def _hand_over(
    session: Session, group_id: str, when: datetime, *, round: int = 1, revive: bool = False
) -> None:
    """Queue round `round` of the group as its own `route_group` job at `when`. When it has
    one already, that job routes it; with `revive` (a resumed order, whose group's job may
    have ended while it was held) that job is made to run again at `when`."""
    job = {"group_summary_id": group_id, "round": round}
    key = route_job_key(group_id, round)
    if not enqueue(session, ROUTE_JOB, key, job, available_at=when) and revive:
        requeue(session, key, available_at=when)


def on_route_order_dead(
    context: JobContext, session: Session, payload: dict[str, Any], reason: str
) -> None:
    """The order's job kept failing: each group goes on as its own `route_group` job (with
    its retries, exception and release when those run out), so nothing is dropped."""
    summary_id = str(payload["order_summary_id"])
    resume = bool(payload.get("resume"))
    for group_id in payload.get("group_summary_ids") or repo.group_ids(session, summary_id):
        round = _round(session, group_id, resume)
        _hand_over(session, group_id, context.now, round=round, revive=resume)


def reschedule_for(outcome: RouteOutcome) -> Reschedule | None:
    """What a routing job (a group's, or a reship's) does after `outcome`: try again with
    backoff when nothing could be placed, soon when it lost a race, else nothing."""
    if outcome.status is RouteStatus.NO_ROUTE:
        return Reschedule(outcome.reason)  # backoff by attempt
    if outcome.status is RouteStatus.RACED:
        return Reschedule(outcome.reason, delay=RACE_DELAY)
    return None


def on_route_job_dead(
    context: JobContext, session: Session, payload: dict[str, Any], reason: str
) -> None:
    """Retries ran out: the group gives back the stock it holds for units no fulfillment
    order ships (DESIGN.md §5: routing failure releases), and its exception says so (one is
    raised if none is open)."""
    group_id = str(payload["group_summary_id"])
    released = _release_on_failure(session, context.outbox, group_id)
    gave_back = f" and gave back the {released} unit(s) it held" if released else ""
    note = (
        f"routing stopped retrying after {context.attempt} attempts{gave_back}; new stock or "
        "a retry restarts it"
    )
    exception = active_exception(session, exception_key(group_id))
    if exception is not None:
        exception.message = f"{exception.message} ({note})"
        return
    group = repo.get_group(session, group_id)
    raise_exception(
        session,
        context.outbox,
        order_summary_id=group.order_summary_id if group else None,
        category=ProcessExceptionCategory.ROUTING,
        severity=EXCEPTION_SEVERITY,
        dedupe_key=exception_key(group_id),
        message=f"Delivery group could not be routed: {reason} ({note})",
        action=retry_round(str(payload["group_summary_id"]), int(payload["round"]), dict(payload)),
    )


def _release_on_failure(session: Session, outbox: Outbox, group_id: str) -> int:
    """Release what the group holds beyond its live fulfillment orders; the units released."""
    found = repo.lock_group_summary(session, group_id)
    if found is None:
        return 0
    group, summary = found
    fulfillment_orders = repo.group_fulfillment_orders(session, group.id)
    why = {"reason": "routing_failed", GAVE_UP: group.id}
    return release_group_holds(
        session, outbox, summary.id, group.ref, fulfillment_orders, {}, why=why
    )


def routing_job_kinds() -> dict[str, JobKind]:
    return {
        ROUTE_JOB: JobKind(
            run_route_job, max_attempts=ROUTE_JOB_MAX_ATTEMPTS, on_dead=on_route_job_dead
        ),
        ROUTE_ORDER_JOB: JobKind(
            run_route_order_job, max_attempts=ROUTE_ORDER_MAX_ATTEMPTS, on_dead=on_route_order_dead
        ),
        **run_job_kinds(),  # a channel's scheduled routing runs
    }
