"""Queries of the flows area: flows, their versions and runs, and the events they run on."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, exists, select, update
from sqlalchemy.orm import Session

from openoms.adapters.db import models as m
from openoms.adapters.db.session import dialect_insert

_RUNS = m.Base.metadata.tables["flow_runs"]
_FLOWS = m.Base.metadata.tables["flows"]


def enabled_flow_exists(trigger: str) -> ColumnElement[bool]:
    """An EXISTS for "an enabled flow has this trigger", to add to a query capture makes
    anyway (repositories/orders.py): the check costs no round trip of its own."""
    return exists().where(_FLOWS.c.trigger == trigger, _FLOWS.c.enabled.is_(True))


def flow_by_ref(session: Session, ref: str, *, lock: bool = False) -> m.Flow | None:
    query = select(m.Flow).where(m.Flow.ref == ref)
    if lock:
        query = query.with_for_update()
    return session.scalars(query).first()


def claim_flow(session: Session, row: dict[str, Any]) -> None:
    """Insert the flow unless its ref is taken (a racing PUT of a new ref waits here)."""
    session.execute(
        dialect_insert(session, _FLOWS).on_conflict_do_nothing(index_elements=["ref"]).values(**row)
    )


def all_flows(session: Session) -> Sequence[m.Flow]:
    return session.scalars(select(m.Flow).order_by(m.Flow.ref)).all()


def versions(session: Session, flow_id: str) -> Sequence[m.FlowVersion]:
    """Every version of the flow, newest first."""
    return session.scalars(
        select(m.FlowVersion)
        .where(m.FlowVersion.flow_id == flow_id)
        .order_by(m.FlowVersion.version.desc())
    ).all()


def version(session: Session, flow_id: str, number: int) -> m.FlowVersion | None:
    return session.scalars(
        select(m.FlowVersion).where(
            m.FlowVersion.flow_id == flow_id, m.FlowVersion.version == number
        )
    ).first()


def enabled_triggers(session: Session) -> set[str]:
    """The triggers of every enabled flow."""
    return set(session.scalars(select(m.Flow.trigger).where(m.Flow.enabled.is_(True)).distinct()))


def enabled_flows(session: Session, trigger: str) -> list[tuple[m.Flow, m.FlowVersion]]:
    """The enabled flows of a trigger with their current versions, by ref."""
    rows = session.execute(
        select(m.Flow, m.FlowVersion)
        .join(
            m.FlowVersion,
            (m.FlowVersion.flow_id == m.Flow.id) & (m.FlowVersion.version == m.Flow.version),
        )
        .where(m.Flow.trigger == trigger, m.Flow.enabled.is_(True))
        .order_by(m.Flow.ref)
    ).all()
    return [(flow, flow_version) for flow, flow_version in rows]


def claim_run(session: Session, row: dict[str, Any]) -> int | None:
    """Insert the run of (flow, event) unless it exists: its id, or None when another
    delivery ran (or is running) it. A racing insert waits for the other to commit."""
    insert = (
        dialect_insert(session, _RUNS)
        .on_conflict_do_nothing(index_elements=["flow_id", "event_id"])
        .returning(_RUNS.c.id)
    )
    return session.execute(insert, row).scalar()


def run(session: Session, run_id: int, *, lock: bool = False) -> m.FlowRun | None:
    query = select(m.FlowRun).where(m.FlowRun.id == run_id)
    if lock:
        query = query.with_for_update()
    return session.scalars(query).first()


def run_of(session: Session, flow_id: str, event_id: str) -> m.FlowRun | None:
    return session.scalars(
        select(m.FlowRun).where(m.FlowRun.flow_id == flow_id, m.FlowRun.event_id == event_id)
    ).first()


def runs_of(
    session: Session, flow_id: str, *, before_id: int | None, limit: int
) -> Sequence[m.FlowRun]:
    """The flow's runs, newest first, keyset-paginated on id."""
    query = select(m.FlowRun).where(m.FlowRun.flow_id == flow_id)
    if before_id is not None:
        query = query.where(m.FlowRun.id < before_id)
    return session.scalars(query.order_by(m.FlowRun.id.desc()).limit(limit)).all()


def run_statuses(session: Session, event_id: str) -> list[str]:
    """The statuses of every run on the event."""
    return list(session.scalars(select(m.FlowRun.status).where(m.FlowRun.event_id == event_id)))


def event_by_public_id(session: Session, event_id: str) -> m.Event | None:
    return session.scalars(select(m.Event).where(m.Event.event_id == event_id)).first()


def order_event(session: Session, order_summary_id: str, name: str) -> m.Event | None:
    """The order's latest event of this name."""
    return session.scalars(
        select(m.Event)
        .where(m.Event.order_summary_id == order_summary_id, m.Event.name == name)
        .order_by(m.Event.id.desc())
        .limit(1)
    ).first()


def open_gate(session: Session, dedupe_key: str) -> bool:
    """Mark the gate job with this key done, unless it is (or there is none): True when this
    call opened it (one UPDATE)."""
    opened = session.execute(
        update(m.Job)
        .where(m.Job.dedupe_key == dedupe_key, m.Job.status != "done")
        .values(status="done", last_error=None)
        .returning(m.Job.id)
    ).first()
    return opened is not None


def gate_shut(session: Session, dedupe_key: str) -> bool:
    """Whether a gate job with this key exists and is not done."""
    status = session.scalar(select(m.Job.status).where(m.Job.dedupe_key == dedupe_key))
    return status is not None and status != "done"
