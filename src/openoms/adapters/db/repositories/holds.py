"""Holds on order summaries: an order's holds, its active ones, whether it is held."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from openoms.adapters.db import models as m

_HOLD = m.OrderSummaryHold


def summary_holds(session: Session, summary_id: str) -> list[m.OrderSummaryHold]:
    """Every hold of the order, active or released, oldest first."""
    return list(
        session.scalars(
            select(_HOLD)
            .where(_HOLD.order_summary_id == summary_id)
            .order_by(_HOLD.held_at, _HOLD.id)
        )
    )


def active_holds(session: Session, summary_id: str) -> list[m.OrderSummaryHold]:
    """The order's holds not released yet, oldest first (read afresh: a caller holding the
    summary's lock sees every hold committed before it took it)."""
    return list(
        session.scalars(
            select(_HOLD)
            .where(_HOLD.order_summary_id == summary_id, _HOLD.released_at.is_(None))
            .order_by(_HOLD.held_at, _HOLD.id)
            .execution_options(populate_existing=True)
        )
    )


def is_held(session: Session, summary_id: str) -> bool:
    """Whether the order has an active hold."""
    found = session.scalar(
        select(_HOLD.id)
        .where(_HOLD.order_summary_id == summary_id, _HOLD.released_at.is_(None))
        .limit(1)
    )
    return found is not None
