"""Queries of the orders area: order summaries (what is loaded and how), capture's inserts,
channels.

Capture runs on every order, so its writes are Core INSERTs built once at import and given
plain rows: no ORM unit of work, no statement built or cache key computed per call
(`bench/capture.py` measures it; docs/benchmarks.md has the figures).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Insert, Table, func, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, selectinload

from openoms.adapters.db import models as m
from openoms.adapters.db.repositories import flows as flows_repo
from openoms.adapters.db.session import dialect_insert

_TABLES = m.Base.metadata.tables
_SUMMARIES = _TABLES["order_summaries"]
_INSERT_ORDER = _TABLES["orders"].insert()
_INSERT_GROUPS = _TABLES["order_delivery_group_summaries"].insert()
_INSERT_ITEM_SUMMARIES = _TABLES["order_item_summaries"].insert()
_INSERT_ITEMS = _TABLES["order_items"].insert()
_INSERT_PAYMENT_SUMMARIES = _TABLES["order_payment_summaries"].insert()
_INSERT_AUTHORIZATIONS = _TABLES["payment_authorizations"].insert()
# INSERT ... ON CONFLICT (channel, external_reference) DO NOTHING RETURNING id, per dialect.
_CLAIM: dict[str, Insert] = {
    name: insert(_SUMMARIES)
    .on_conflict_do_nothing(index_elements=["channel", "external_reference"])
    .returning(_SUMMARIES.c.id)
    for name, insert in (("postgresql", postgresql.insert), ("sqlite", sqlite.insert))
}


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
    customer_name: str | None = None  # a case-insensitive part of the name
    on_hold: bool = False  # only orders with a hold not released yet


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
        # Or the platform's own name for the order (Shopify's "#1001"), kept by its adapter.
        named = select(m.ChannelInboxDelivery.order_summary_id).where(
            m.ChannelInboxDelivery.order_name == where.external_reference,
            m.ChannelInboxDelivery.order_summary_id.is_not(None),
        )
        query = query.where(
            or_(
                m.OrderSummary.external_reference == where.external_reference,
                m.OrderSummary.id.in_(named),
            )
        )
    if where.customer_name:
        pattern = (
            "%"
            + where.customer_name.lower()
            .replace("\\", "\\\\")
            .replace("%", "\\%")
            .replace("_", "\\_")
            + "%"
        )
        query = query.where(func.lower(m.OrderSummary.customer_name).like(pattern, escape="\\"))
    if where.ordered_from:
        query = query.where(m.OrderSummary.ordered_at >= where.ordered_from)
    if where.ordered_to:
        query = query.where(m.OrderSummary.ordered_at < where.ordered_to)
    if where.on_hold:
        hold = m.OrderSummaryHold
        held = select(hold.order_summary_id).where(hold.released_at.is_(None))
        query = query.where(m.OrderSummary.id.in_(held))
    if after_id:
        query = query.where(m.OrderSummary.id < after_id)
    return list(session.scalars(query))


# --- capture ------------------------------------------------------------------------------


def summary_id_by_reference(session: Session, channel: str, external_reference: str) -> str | None:
    """The id of the summary captured for (channel, external_reference), if any."""
    return session.scalar(
        select(m.OrderSummary.id).where(
            m.OrderSummary.channel == channel,
            m.OrderSummary.external_reference == external_reference,
        )
    )


def claim_summary(session: Session, row: dict[str, Any]) -> bool:
    """INSERT the summary `row` unless its (channel, external_reference) is taken; True when
    inserted. A racing capture of the same reference waits on the unique index until the
    first commits, then inserts nothing."""
    claim = _CLAIM[session.get_bind().dialect.name]
    return session.execute(claim, row).scalar() is not None


def insert_order(
    session: Session,
    order: dict[str, Any],
    groups: list[dict[str, Any]],
    item_summaries: list[dict[str, Any]],
    items: list[dict[str, Any]],
) -> None:
    """INSERT an order with its delivery group summaries, item summaries and items."""
    session.execute(_INSERT_ORDER, order)
    session.execute(_INSERT_GROUPS, groups)
    session.execute(_INSERT_ITEM_SUMMARIES, item_summaries)
    session.execute(_INSERT_ITEMS, items)


def insert_payments(
    session: Session, payment_summaries: list[dict[str, Any]], authorizations: list[dict[str, Any]]
) -> None:
    """INSERT payment summaries and their authorizations."""
    session.execute(_INSERT_PAYMENT_SUMMARIES, payment_summaries)
    session.execute(_INSERT_AUTHORIZATIONS, authorizations)


# --- channels -----------------------------------------------------------------------------


def channel_by_ref(session: Session, ref: str) -> m.Channel | None:
    return session.scalar(select(m.Channel).where(m.Channel.ref == ref))


def lock_channel(session: Session, ref: str) -> m.Channel | None:
    """The channel `ref`, locked FOR NO KEY UPDATE (upserts of one ref wait for each other)."""
    return session.scalar(
        select(m.Channel).where(m.Channel.ref == ref).with_for_update(key_share=True)
    )


def claim_channel(session: Session, ref: str) -> bool:
    """INSERT the channel `ref` unless it exists (ON CONFLICT: two racing PUTs of a new
    channel end with one row and no error); True when inserted."""
    table = m.Channel.__table__
    assert isinstance(table, Table)
    claim = dialect_insert(session, table).values(ref=ref).on_conflict_do_nothing()
    return session.execute(claim.returning(table.c.ref)).scalar() is not None


def all_channels(session: Session) -> list[m.Channel]:
    """Every channel, by ref."""
    return list(session.scalars(select(m.Channel).order_by(m.Channel.ref)))


def channel_refs(session: Session) -> list[str]:
    """The refs of every channel, in order."""
    return list(session.scalars(select(m.Channel.ref).order_by(m.Channel.ref)))


def channel_for_capture(
    session: Session, ref: str, trigger: str
) -> tuple[m.Channel, str | None, bool] | None:
    """`channel_with_group_ref`, and whether an enabled automation flow has `trigger`, in
    the same one round trip (an EXISTS on an index: capture pays nothing more for it)."""
    row = session.execute(
        select(m.Channel, m.LocationGroup.ref, flows_repo.enabled_flow_exists(trigger))
        .outerjoin(m.LocationGroup, m.LocationGroup.id == m.Channel.location_group_id)
        .where(m.Channel.ref == ref)
    ).one_or_none()
    return None if row is None else (row[0], row[1], bool(row[2]))


def channel_with_group_ref(session: Session, ref: str) -> tuple[m.Channel, str | None] | None:
    """The channel `ref` and the ref of its location group, in one round trip."""
    row = session.execute(
        select(m.Channel, m.LocationGroup.ref)
        .outerjoin(m.LocationGroup, m.LocationGroup.id == m.Channel.location_group_id)
        .where(m.Channel.ref == ref)
    ).one_or_none()
    return None if row is None else (row[0], row[1])
