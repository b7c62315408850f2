"""Storing flows (docs/flows.md): each PUT checks the flow against its trigger's schema in the
event catalog and stores it as a new version; the flow row keeps what its current version
says about when it runs.

The catalog comes in as a `TriggerCatalog` (services never import the schemas package: the
API, the CLI and the worker build it from `openoms.schemas.events`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from openoms.adapters.db import models as m
from openoms.adapters.db.ids import new_id
from openoms.adapters.db.models import utcnow
from openoms.adapters.db.repositories import flows as repo
from openoms.adapters.outbox import Outbox
from openoms.domain.errors import NotFound
from openoms.domain.events import DomainEvent
from openoms.domain.flows import FlowInvalid, check_condition, parse_condition
from openoms.services.flows.actions import check_actions
from openoms.services.inventory import check_ref


class FlowNotFound(NotFound):
    code = "flow_not_found"
    title = "Flow not found"


@dataclass(frozen=True, slots=True)
class TriggerSpec:
    """An event type a flow may run on: its catalog version, the JSON Schema of the event as
    delivered (the envelope around its payload), and whether its events belong to an order
    (the payload names `order_summary_id`)."""

    version: int
    schema: Mapping[str, Any]
    order_bound: bool


TriggerCatalog = Mapping[str, TriggerSpec]


@dataclass(frozen=True, slots=True)
class FlowDocument:
    """A flow as a PUT sends it."""

    trigger: str
    actions: Sequence[Any]
    when: Mapping[str, Any] | None = None
    enabled: bool = True
    description: str | None = None


@dataclass(frozen=True, slots=True)
class CheckedFlow:
    """A flow that passed its checks: its actions with defaults, its fields' kinds."""

    document: FlowDocument
    actions: list[dict[str, Any]]
    field_kinds: dict[str, str]


def check_flow(document: FlowDocument, catalog: TriggerCatalog) -> CheckedFlow:
    """Check a flow against its trigger's schema: FlowInvalid (400 `flow_invalid`) naming
    the path at fault (`trigger`, `when.all[1].field`, `actions[0].reason`)."""
    spec = catalog.get(document.trigger)
    if spec is None:
        raise FlowInvalid(
            f"no event type {document.trigger!r} in the catalog (GET /api/v1/event-types)",
            field="trigger",
        )
    condition = parse_condition(document.when)
    kinds = check_condition(condition, spec.schema)
    actions = check_actions(
        list(document.actions),
        order_bound=spec.order_bound,
        trigger=document.trigger,
        conditional=condition is not None,
    )
    return CheckedFlow(document, actions, kinds)


def put_flow(
    session: Session, outbox: Outbox, catalog: TriggerCatalog, ref: str, document: FlowDocument
) -> tuple[m.Flow, m.FlowVersion, bool]:
    """Store the flow as a new version (its first when `ref` is new): (flow, version,
    created). A refused flow stores nothing. Emits `flow.upserted`."""
    check_ref(ref)
    checked = check_flow(document, catalog)
    flow = repo.flow_by_ref(session, ref, lock=True)
    created = flow is None
    if flow is None:
        now = utcnow()
        row = {
            "id": new_id("flow"),
            "ref": ref,
            "version": 0,
            "trigger": document.trigger,
            "enabled": False,
            "created_at": now,
            "updated_at": now,
        }
        repo.claim_flow(session, row)
        flow = repo.flow_by_ref(session, ref, lock=True)
        assert flow is not None
        created = flow.version == 0  # else a racing PUT created it first
    version = m.FlowVersion(
        flow_id=flow.id,
        version=flow.version + 1,
        description=document.description,
        trigger=document.trigger,
        when=dict(document.when) if document.when is not None else None,
        actions=checked.actions,
        enabled=document.enabled,
        field_kinds=checked.field_kinds,
    )
    session.add(version)
    flow.version, flow.trigger, flow.enabled = version.version, document.trigger, document.enabled
    session.flush()
    outbox.record(session, [_upserted(flow, created)])
    return flow, version, created


def _upserted(flow: m.Flow, created: bool) -> DomainEvent:
    payload = {
        "flow_id": flow.id,
        "ref": flow.ref,
        "version": flow.version,
        "trigger": flow.trigger,
        "enabled": flow.enabled,
        "created": created,
    }
    return DomainEvent("flow.upserted", "flow", flow.id, payload)


def get_flow(session: Session, ref: str) -> tuple[m.Flow, list[m.FlowVersion]]:
    """The flow and every version of it, newest first; FlowNotFound (404)."""
    flow = repo.flow_by_ref(session, ref)
    if flow is None:
        raise FlowNotFound(f"no flow {ref!r}", ref=ref)
    return flow, list(repo.versions(session, flow.id))


def list_flows(session: Session) -> list[tuple[m.Flow, m.FlowVersion]]:
    """Every flow by ref, with its current version."""
    found = []
    for flow in repo.all_flows(session):
        current = repo.version(session, flow.id, flow.version)
        assert current is not None
        found.append((flow, current))
    return found


def flow_view(flow: m.Flow, version: m.FlowVersion) -> dict[str, Any]:
    """A flow as the API shows it: its ref and its current version's document."""
    return {
        "id": flow.id,
        "ref": flow.ref,
        **version_view(version),
        "created_at": _iso(flow.created_at),
        "updated_at": _iso(flow.updated_at),
    }


def version_view(version: m.FlowVersion) -> dict[str, Any]:
    return {
        "version": version.version,
        "description": version.description,
        "trigger": version.trigger,
        "when": version.when,
        "actions": version.actions,
        "enabled": version.enabled,
        "stored_at": _iso(version.created_at),
    }


def _iso(value: Any) -> str:
    return str(value.isoformat().replace("+00:00", "Z"))
