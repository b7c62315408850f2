"""The `route_group` job: route one round of a group, try again when nothing could be placed
or the stock moved meanwhile, and give the held stock back when retries run out."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy.orm import Session

from openoms.adapters.db.repositories import routing as repo
from openoms.adapters.jobs import JobContext, JobKind, Reschedule
from openoms.adapters.outbox import Outbox
from openoms.domain.fulfillment import ProcessExceptionCategory
from openoms.services.exceptions import active_exception, raise_exception
from openoms.services.routing.rounds import (
    EXCEPTION_SEVERITY,
    GAVE_UP,
    ROUTE_JOB,
    ROUTE_JOB_MAX_ATTEMPTS,
    exception_key,
    retry_round,
)
from openoms.services.routing.route import RouteOutcome, RouteStatus, route_delivery_group
from openoms.services.routing.stock import release_group_holds

RACE_DELAY = timedelta(seconds=1)


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
    }
