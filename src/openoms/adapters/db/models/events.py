"""The outbox (events and their deliveries to consumers) and the job queue."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from openoms.adapters.db.models.base import Base, utcnow


class Event(Base):
    """A domain event, written in the same transaction as the change it records."""

    __tablename__ = "events"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    event_id: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(100), index=True)
    aggregate_type: Mapped[str] = mapped_column(String(50))
    aggregate_id: Mapped[str] = mapped_column(String(100))
    order_summary_id: Mapped[str | None] = mapped_column(String(40), index=True)
    payload: Mapped[dict[str, Any]]
    occurred_at: Mapped[datetime] = mapped_column(default=utcnow)


class EventDelivery(Base):
    """One event for one consumer: claimed by a worker, done once, retried with backoff."""

    __tablename__ = "event_deliveries"
    __table_args__ = (
        UniqueConstraint("event_id", "consumer"),
        # Claiming scans pending rows in id order; done rows pile up and must not be scanned.
        Index(
            "ix_event_deliveries_pending",
            "id",
            "available_at",
            postgresql_where=text("status = 'pending'"),
            sqlite_where=text("status = 'pending'"),
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id"))
    consumer: Mapped[str] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(default=0)
    available_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_error: Mapped[str | None] = mapped_column(Text)
    processed_at: Mapped[datetime | None]


class OutboxSubscriptions(Base):
    """One row: a version of what the outbox's consumers subscribe to (webhook endpoints,
    flows, channel adapters). Database triggers (migration 0017) give it a new random value
    in the very transaction that inserts, deletes, enables, disables or retargets one of
    them, so an outbox that reads it with each event it records knows whether what it
    cached about the consumers still holds (`openoms.adapters.outbox`)."""

    __tablename__ = "outbox_subscriptions"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)  # always 1
    version: Mapped[str] = mapped_column(String(40))


class Job(Base):
    """Work to do later, once: routing a delivery group, requesting a label, … Claimed with
    FOR UPDATE SKIP LOCKED (or a lease for jobs that call out), retried with backoff."""

    __tablename__ = "jobs"
    __table_args__ = (
        Index(
            "ix_jobs_due",
            "available_at",
            postgresql_where=text("status = 'pending'"),
            sqlite_where=text("status = 'pending'"),
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(50))
    dedupe_key: Mapped[str] = mapped_column(String(200), unique=True)
    payload: Mapped[dict[str, Any]]
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending|done|dead
    attempts: Mapped[int] = mapped_column(default=0)
    available_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
