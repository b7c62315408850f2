"""Holds on an order summary: while one is active (not released), routing waits."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from openoms.adapters.db.models.base import Base, utcnow


class OrderSummaryHold(Base):
    """One hold: why, who placed it and when; once released, who released it, when and
    why. Never deleted: the released ones are the order's history."""

    __tablename__ = "order_summary_holds"
    __table_args__ = (
        # "Is this order held?" is asked by every routing job: its active holds, by order.
        Index("ix_order_summary_holds_active", "order_summary_id", "released_at"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    order_summary_id: Mapped[str] = mapped_column(ForeignKey("order_summaries.id"))
    reason: Mapped[str] = mapped_column(String(500))
    held_by: Mapped[str] = mapped_column(String(200))
    held_at: Mapped[datetime] = mapped_column(default=utcnow)
    released_at: Mapped[datetime | None]
    released_by: Mapped[str | None] = mapped_column(String(200))
    release_reason: Mapped[str | None] = mapped_column(String(500))
