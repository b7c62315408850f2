"""Fulfillment orders and shipments."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    ForeignKey,
    Index,
    Integer,
    String,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from openoms.adapters.db.models.base import Base, utcnow


class FulfillmentOrder(Base):
    """Items of one delivery group that ship from one location."""

    __tablename__ = "fulfillment_orders"
    __table_args__ = (Index("ix_fulfillment_orders_location_status", "location_id", "status"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    order_summary_id: Mapped[str] = mapped_column(ForeignKey("order_summaries.id"), index=True)
    delivery_group_summary_id: Mapped[str] = mapped_column(
        ForeignKey("order_delivery_group_summaries.id"), index=True
    )
    location_id: Mapped[str] = mapped_column(ForeignKey("locations.id"))
    reservation_id: Mapped[str | None] = mapped_column(ForeignKey("reservations.id"))
    # Which routing of the group made it (1, 2, … after rejections): retries of the same
    # routing find the FOs it already made instead of making more.
    routing_round: Mapped[int] = mapped_column(default=1)
    # standard, or reship (replacement goods at no charge: never invoiced).
    type: Mapped[str] = mapped_column(String(16), default="standard")
    status: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str | None] = mapped_column(String(500))  # routing reason, rejection reason
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    lines: Mapped[list[FulfillmentOrderLineItem]] = relationship(
        lazy="raise", order_by="FulfillmentOrderLineItem.id"
    )


class FulfillmentOrderLineItem(Base):
    __tablename__ = "fulfillment_order_line_items"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    fulfillment_order_id: Mapped[str] = mapped_column(
        ForeignKey("fulfillment_orders.id"), index=True
    )
    order_item_summary_id: Mapped[str] = mapped_column(
        ForeignKey("order_item_summaries.id"), index=True
    )
    sku: Mapped[str] = mapped_column(String(100))
    original_quantity: Mapped[int]
    quantity: Mapped[int]  # original − canceled
    shipped: Mapped[int] = mapped_column(default=0)


class Shipment(Base):
    __tablename__ = "shipments"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    fulfillment_order_id: Mapped[str] = mapped_column(
        ForeignKey("fulfillment_orders.id"), index=True
    )
    order_summary_id: Mapped[str] = mapped_column(String(40), index=True)
    status: Mapped[str] = mapped_column(String(20))
    carrier: Mapped[str] = mapped_column(String(50))
    service: Mapped[str | None] = mapped_column(String(50))
    tracking_number: Mapped[str | None] = mapped_column(String(100))
    label_url: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    items: Mapped[list[ShipmentItem]] = relationship(lazy="raise", order_by="ShipmentItem.id")


class ShipmentItem(Base):
    __tablename__ = "shipment_items"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    shipment_id: Mapped[str] = mapped_column(ForeignKey("shipments.id"), index=True)
    fulfillment_order_line_item_id: Mapped[str] = mapped_column(
        ForeignKey("fulfillment_order_line_items.id")
    )
    order_item_summary_id: Mapped[str] = mapped_column(String(40))
    sku: Mapped[str] = mapped_column(String(100))
    quantity: Mapped[int]
