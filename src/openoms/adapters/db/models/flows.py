"""Automation flows (services/flows): each flow, every version a PUT stored, and one run per
(flow, event)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from openoms.adapters.db.models.base import Base, utcnow


class Flow(Base):
    """A flow by its ref, with what its current version says about when it runs (copied
    there so the worker finds the enabled flows of a trigger with one indexed query)."""

    __tablename__ = "flows"
    __table_args__ = (Index("ix_flows_trigger_enabled", "trigger", "enabled"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    ref: Mapped[str] = mapped_column(String(100), unique=True)
    version: Mapped[int]  # the current version
    trigger: Mapped[str] = mapped_column(String(100))
    enabled: Mapped[bool]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class FlowVersion(Base):
    """One PUT of a flow, never changed: its document and the kinds of its condition's
    fields, found in the trigger's schema when it was stored."""

    __tablename__ = "flow_versions"
    __table_args__ = (UniqueConstraint("flow_id", "version"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    flow_id: Mapped[str] = mapped_column(ForeignKey("flows.id"))
    version: Mapped[int]
    description: Mapped[str | None] = mapped_column(Text)
    trigger: Mapped[str] = mapped_column(String(100))
    when: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    actions: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    enabled: Mapped[bool]
    field_kinds: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class FlowRun(Base):
    """A flow's run on one event: unique on (flow, event), so each runs once. `actions_done`
    lists the indexes of the version's actions applied (committed with them); a failed run
    is retried from the first action not done."""

    __tablename__ = "flow_runs"
    __table_args__ = (
        UniqueConstraint("flow_id", "event_id"),
        Index("ix_flow_runs_flow_id_id", "flow_id", "id"),
        Index("ix_flow_runs_event_id", "event_id"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    flow_id: Mapped[str] = mapped_column(ForeignKey("flows.id"))
    version: Mapped[int]
    event_id: Mapped[str] = mapped_column(String(40))  # the event's public id (evt_…)
    event_type: Mapped[str] = mapped_column(String(100))
    order_summary_id: Mapped[str | None] = mapped_column(String(40))
    matched: Mapped[bool]
    status: Mapped[str] = mapped_column(String(16))  # not_matched|succeeded|failed|canceled
    actions_done: Mapped[list[Any]] = mapped_column(JSON)
    errors: Mapped[list[Any]] = mapped_column(JSON)
    attempts: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
