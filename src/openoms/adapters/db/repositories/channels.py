"""Queries of the channel adapters area: adapters, the inbox, what sync back reads."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from openoms.adapters.db import models as m
from openoms.adapters.db.session import dialect_insert

_INBOX = m.ChannelInboxDelivery.metadata.tables["channel_inbox"]


def adapter(session: Session, channel: str, *, lock: bool = False) -> m.ChannelAdapter | None:
    query = select(m.ChannelAdapter).where(m.ChannelAdapter.channel == channel)
    if lock:
        query = query.with_for_update()
    return session.scalars(query).first()


def any_adapter(session: Session) -> bool:
    """Whether any channel has an adapter (one indexed row read, or none)."""
    return session.scalar(select(m.ChannelAdapter.channel).limit(1)) is not None


def insert_delivery(session: Session, row: dict[str, Any]) -> int | None:
    """INSERT the delivery unless (channel, webhook_id) is stored already; its id, or None."""
    statement = (
        dialect_insert(session, _INBOX)
        .values(**row)
        .on_conflict_do_nothing(index_elements=["channel", "webhook_id"])
        .returning(_INBOX.c.id)
    )
    return session.execute(statement).scalar()


def delivery(
    session: Session, delivery_id: int, *, lock: bool = False
) -> m.ChannelInboxDelivery | None:
    query = select(m.ChannelInboxDelivery).where(m.ChannelInboxDelivery.id == delivery_id)
    if lock:
        query = query.with_for_update()
    return session.scalars(query).first()


def deliveries(session: Session, channel: str) -> Sequence[m.ChannelInboxDelivery]:
    """A channel's deliveries, oldest first."""
    return session.scalars(
        select(m.ChannelInboxDelivery)
        .where(m.ChannelInboxDelivery.channel == channel)
        .order_by(m.ChannelInboxDelivery.id)
    ).all()


def platform_cancelled(session: Session, channel: str, external_reference: str) -> bool:
    """Whether the platform told us it cancelled this order itself (a processed
    `orders/cancelled` delivery)."""
    return (
        session.scalar(
            select(m.ChannelInboxDelivery.id)
            .where(
                m.ChannelInboxDelivery.channel == channel,
                m.ChannelInboxDelivery.external_reference == external_reference,
                m.ChannelInboxDelivery.topic == "orders/cancelled",
                m.ChannelInboxDelivery.status == "processed",
            )
            .limit(1)
        )
        is not None
    )


def summary_by_reference(
    session: Session, channel: str, external_reference: str
) -> m.OrderSummary | None:
    return session.scalars(
        select(m.OrderSummary).where(
            m.OrderSummary.channel == channel,
            m.OrderSummary.external_reference == external_reference,
        )
    ).first()


def summary(session: Session, summary_id: str) -> m.OrderSummary | None:
    return session.get(m.OrderSummary, summary_id)


def shipment_with_items(session: Session, shipment_id: str) -> m.Shipment | None:
    return session.scalars(
        select(m.Shipment)
        .where(m.Shipment.id == shipment_id)
        .execution_options(populate_existing=True)
        .options(selectinload(m.Shipment.items))
    ).first()


def sandbox_call(session: Session, key: str) -> m.SandboxChannelCall | None:
    return session.scalars(
        select(m.SandboxChannelCall).where(m.SandboxChannelCall.idempotency_key == key)
    ).first()


def sandbox_calls(session: Session, channel: str) -> Sequence[m.SandboxChannelCall]:
    return session.scalars(
        select(m.SandboxChannelCall)
        .where(m.SandboxChannelCall.channel == channel)
        .order_by(m.SandboxChannelCall.id)
    ).all()


def reported_authorization(
    session: Session, gateway: str, reference: str
) -> tuple[str, int, str] | None:
    """(payment token, amount, currency) of the latest authorization of `gateway` recorded
    with `reference`, or None."""
    ps = m.OrderPaymentSummary
    row = session.execute(
        select(ps.token, m.PaymentAuthorization.amount, m.OrderSummary.currency)
        .join(ps, ps.id == m.PaymentAuthorization.order_payment_summary_id)
        .join(m.OrderSummary, m.OrderSummary.id == ps.order_summary_id)
        .where(ps.gateway == gateway, m.PaymentAuthorization.gateway_reference == reference)
        .order_by(m.PaymentAuthorization.created_at.desc(), m.PaymentAuthorization.id.desc())
        .limit(1)
    ).first()
    return (row[0], int(row[1]), row[2]) if row is not None else None
