"""Queries for order summaries: one place that says what is loaded and how."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from openoms.adapters.db import models as m


def load_summary(session: Session, summary_id: str) -> m.OrderSummary | None:
    """The summary with its delivery groups, items and payment summaries loaded."""
    return session.scalar(
        select(m.OrderSummary)
        .where(m.OrderSummary.id == summary_id)
        .options(
            selectinload(m.OrderSummary.delivery_groups),
            selectinload(m.OrderSummary.items),
            selectinload(m.OrderSummary.payment_summaries).selectinload(
                m.OrderPaymentSummary.authorizations
            ),
        )
    )


def summary_events(session: Session, summary_id: str) -> Sequence[m.Event]:
    return session.scalars(
        select(m.Event).where(m.Event.order_summary_id == summary_id).order_by(m.Event.id)
    ).all()


@dataclass(frozen=True, slots=True)
class SummaryFilter:
    status: str | None = None
    channel: str | None = None
    customer_email: str | None = None
    external_reference: str | None = None
    ordered_from: datetime | None = None
    ordered_to: datetime | None = None


def list_summaries(
    session: Session, where: SummaryFilter, *, after_id: str | None, limit: int
) -> list[m.OrderSummary]:
    """Newest first, keyset-paginated on the time-ordered id (ids sort by creation)."""
    query = select(m.OrderSummary).order_by(m.OrderSummary.id.desc()).limit(limit)
    if where.status:
        query = query.where(m.OrderSummary.status == where.status)
    if where.channel:
        query = query.where(m.OrderSummary.channel == where.channel)
    if where.customer_email:
        query = query.where(m.OrderSummary.customer_email == where.customer_email)
    if where.external_reference:
        query = query.where(m.OrderSummary.external_reference == where.external_reference)
    if where.ordered_from:
        query = query.where(m.OrderSummary.ordered_at >= where.ordered_from)
    if where.ordered_to:
        query = query.where(m.OrderSummary.ordered_at < where.ordered_to)
    if after_id:
        query = query.where(m.OrderSummary.id < after_id)
    return list(session.scalars(query))
