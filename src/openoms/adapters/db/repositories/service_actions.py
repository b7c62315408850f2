"""Queries of the service actions (services/service_actions): a summary's delivery groups for
an exchange, and what a reship reads back from its reservations and its first job."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from openoms.adapters.db import models as m
from openoms.domain.fulfillment import RESHIP, FulfillmentOrderStatus


def delivery_groups(session: Session, summary_id: str) -> list[m.OrderDeliveryGroupSummary]:
    """The summary's delivery groups (in no particular order)."""
    return list(
        session.scalars(
            select(m.OrderDeliveryGroupSummary).where(
                m.OrderDeliveryGroupSummary.order_summary_id == summary_id
            )
        )
    )


def reservation_keys(
    session: Session, reservation_ids: Sequence[str], *, owner: str
) -> dict[str, str]:
    """Reservation id → idempotency key, of those `owner` holds."""
    rows = session.execute(
        select(m.Reservation.id, m.Reservation.idempotency_key).where(
            m.Reservation.id.in_(reservation_ids), m.Reservation.owner == owner
        )
    )
    return {reservation_id: key for reservation_id, key in rows}


def count_rejected_reship_orders(
    session: Session, summary_id: str, *, owner: str, key_prefix: str
) -> int:
    """How many REJECTED reship fulfillment orders of the summary hold a reservation of
    `owner` whose idempotency key starts with `key_prefix` (taken literally)."""
    return int(
        session.scalar(
            select(func.count())
            .select_from(m.FulfillmentOrder)
            .join(m.Reservation, m.Reservation.id == m.FulfillmentOrder.reservation_id)
            .where(
                m.FulfillmentOrder.order_summary_id == summary_id,
                m.FulfillmentOrder.type == RESHIP,
                m.FulfillmentOrder.status == FulfillmentOrderStatus.REJECTED.value,
                m.Reservation.owner == owner,
                m.Reservation.idempotency_key.startswith(key_prefix, autoescape=True),
            )
        )
        or 0
    )


def job_payload(session: Session, dedupe_key: str) -> dict[str, Any] | None:
    """The payload of the job queued under `dedupe_key`, if any."""
    return session.scalar(select(m.Job.payload).where(m.Job.dedupe_key == dedupe_key))


def order_event_payloads(
    session: Session, summary_id: str, names: Sequence[str]
) -> list[tuple[str, dict[str, Any]]]:
    """(name, payload) of the order's events with these names, in event order."""
    rows = session.execute(
        select(m.Event.name, m.Event.payload)
        .where(m.Event.order_summary_id == summary_id, m.Event.name.in_(list(names)))
        .order_by(m.Event.id)
    )
    return [(name, payload) for name, payload in rows]


def item_groups(session: Session, item_ids: Sequence[str]) -> dict[str, str]:
    """Order item summary id → its delivery group summary id."""
    rows = session.execute(
        select(m.OrderItemSummary.id, m.OrderItemSummary.delivery_group_summary_id).where(
            m.OrderItemSummary.id.in_(list(item_ids))
        )
    )
    return {item_id: group_id for item_id, group_id in rows}
