"""Process exceptions."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Index,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from openoms.adapters.db.models.base import Base, utcnow


class ProcessException(Base):
    """Something that needs a person: what failed, how bad, and the action to retry."""

    __tablename__ = "process_exceptions"
    __table_args__ = (Index("ix_process_exceptions_status_category", "status", "category"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    order_summary_id: Mapped[str | None] = mapped_column(String(40), index=True)
    category: Mapped[str] = mapped_column(String(20))
    severity: Mapped[str] = mapped_column(String(10))  # low | medium | high
    priority: Mapped[int] = mapped_column(default=3)
    status: Mapped[str] = mapped_column(String(10))
    message: Mapped[str] = mapped_column(Text)
    # The action that failed and can be retried, e.g. {"kind": "route", "payload": {...}}.
    action: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # One open exception per failing thing: a repeat failure updates it instead.
    dedupe_key: Mapped[str | None] = mapped_column(String(200), index=True)
    occurrences: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
