"""Routing runs (services/routing/runs.py): one row per run, one per delivery group it
weighed, with what the group had, what one-at-a-time routing would give it, what the plan
gave it and what was done."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from openoms.adapters.db.models.base import Base, utcnow


class RoutingRun(Base):
    """A run over one channel's groups. `tick_at` is set on a scheduled run: one run per
    (channel, tick), however many workers saw the tick."""

    __tablename__ = "routing_runs"
    __table_args__ = (UniqueConstraint("channel", "tick_at"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    channel: Mapped[str] = mapped_column(String(100), index=True)
    scope: Mapped[str] = mapped_column(String(20))
    dry_run: Mapped[bool]
    trigger: Mapped[str] = mapped_column(String(20))  # api | console | schedule
    requested_by: Mapped[str] = mapped_column(String(200))
    tick_at: Mapped[datetime | None]
    status: Mapped[str] = mapped_column(String(20))  # planned | applied
    solve_status: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str] = mapped_column(Text)
    solve_ms: Mapped[int] = mapped_column(default=0)
    groups: Mapped[int] = mapped_column(default=0)
    applied: Mapped[int] = mapped_column(default=0)
    skipped: Mapped[int] = mapped_column(default=0)
    # {"current": …, "one_at_a_time": …, "plan": …}: placed, shipments, splits, cost.
    totals: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    finished_at: Mapped[datetime | None]


class RoutingRunGroup(Base):
    """One delivery group of a run. Placements are lists of {location, sku, quantity}."""

    __tablename__ = "routing_run_groups"

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    run_id: Mapped[str] = mapped_column(ForeignKey("routing_runs.id"), index=True)
    order_summary_id: Mapped[str] = mapped_column(String(40))
    delivery_group_summary_id: Mapped[str] = mapped_column(String(40))
    outcome: Mapped[str] = mapped_column(String(20))  # unchanged | planned | moved | skipped
    reason: Mapped[str | None] = mapped_column(String(500))
    current: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    planned: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    # {"current": …, "one_at_a_time": …, "plan": …}: placed, shipments, cost.
    figures: Mapped[dict[str, Any]] = mapped_column(JSON)
