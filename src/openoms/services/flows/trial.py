"""Trying a flow on an event without running it (`POST …/flows/{ref}/actions/test`): whether
its current version matches and what it would do. Reads only: changes nothing."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from openoms.adapters.db import models as m
from openoms.adapters.db.repositories import flows as repo
from openoms.adapters.outbox import event_envelope
from openoms.domain.errors import NotFound, ValidationFailed
from openoms.domain.flows import evaluate, parse_condition
from openoms.services.flows.definitions import TriggerCatalog, get_flow


class FlowEventNotFound(NotFound):
    code = "flow_event_not_found"
    title = "Event not found"


class FlowTriggerMismatch(ValidationFailed):
    code = "flow_trigger_mismatch"
    title = "The event is not of the flow's trigger"


def try_flow(
    session: Session,
    catalog: TriggerCatalog,
    ref: str,
    *,
    event_id: str | None = None,
    order_summary_id: str | None = None,
    trigger: str | None = None,
) -> dict[str, Any]:
    """Whether the flow's current version matches the event (by `event_id`, or the order's
    latest event of `trigger`, default the flow's) and the actions it would apply."""
    flow, versions = get_flow(session, ref)
    version = versions[0]
    event = _event(session, version, event_id, order_summary_id, trigger)
    if event.name != version.trigger:
        raise FlowTriggerMismatch(
            f"flow {ref!r} runs on {version.trigger}; event {event.event_id} is {event.name}",
            field="event_id" if event_id else "trigger",
        )
    spec = catalog.get(event.name)
    envelope = event_envelope(event, spec.version if spec else 1)
    matched = evaluate(parse_condition(version.when), envelope, version.field_kinds)
    ran = repo.run_of(session, flow.id, event.event_id)
    return {
        "flow": flow.ref,
        "version": version.version,
        "enabled": flow.enabled,
        "event": envelope,
        "matched": matched,
        "actions": [{"index": i, **params} for i, params in enumerate(version.actions)]
        if matched
        else [],
        "already_ran": ran is not None,
    }


def _event(
    session: Session,
    version: m.FlowVersion,
    event_id: str | None,
    order_summary_id: str | None,
    trigger: str | None,
) -> m.Event:
    if event_id is not None:
        event = repo.event_by_public_id(session, event_id)
        if event is None:
            raise FlowEventNotFound(f"no event {event_id!r}", field="event_id")
        return event
    if order_summary_id is None:
        raise ValidationFailed("give an event_id, or an order_summary_id", field="event_id")
    name = trigger or version.trigger
    event = repo.order_event(session, order_summary_id, name)
    if event is None:
        raise FlowEventNotFound(
            f"order summary {order_summary_id!r} has no {name} event", field="order_summary_id"
        )
    return event
