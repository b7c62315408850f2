"""A routing round's names and its queueing: the `route_group` job and its key, the group's
routing exception and the retry its action names, and `schedule_routing`."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from openoms.adapters.jobs import enqueue, requeue
from openoms.services.exceptions import retry_action

ROUTE_JOB = "route_group"
ROUTE_JOB_MAX_ATTEMPTS = 20
# In a `reservation.released` event: the delivery group whose routing gave up and released.
GAVE_UP = "delivery_group_summary_id"
EXCEPTION_SEVERITY = "medium"


def route_job_key(group_summary_id: str, round: int) -> str:
    return f"route:{group_summary_id}:{round}"


def retry_round(group_summary_id: str, round: int, payload: dict[str, Any]) -> dict[str, Any]:
    """A routing exception's action: route the group's round again."""
    job = {"group_summary_id": group_summary_id, "round": round}
    return retry_action(
        ROUTE_JOB, payload, key=route_job_key(group_summary_id, round), retry_payload=job
    )


def exception_key(group_summary_id: str) -> str:
    return f"routing:{group_summary_id}"


def schedule_routing(
    session: Session, group_summary_id: str, round: int, *, reason: str | None = None
) -> bool:
    """Queue routing round `round` of the group, or bring its job forward (and revive it
    when done or dead). True when a new job was queued."""
    key = route_job_key(group_summary_id, round)
    payload: dict[str, Any] = {"group_summary_id": group_summary_id, "round": round}
    if reason:
        payload["reason"] = reason
    if enqueue(session, ROUTE_JOB, key, payload):
        return True
    requeue(session, key)
    return False
