"""Orders as captured, and the order summary with its groups, items, payment summaries
and authorizations."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Float,
    ForeignKey,
    Index,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from openoms.adapters.db.models.base import Base, Money, utcnow


class Order(Base):
    """An order as captured (kind 'original') or a change order against it (kind 'change')."""

    __tablename__ = "orders"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    order_summary_id: Mapped[str] = mapped_column(String(40), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    change_kind: Mapped[str | None] = mapped_column(String(16))
    original_order_id: Mapped[str | None] = mapped_column(ForeignKey("orders.id"))
    reason: Mapped[str | None] = mapped_column(String(500))
    channel: Mapped[str] = mapped_column(String(100))
    external_reference: Mapped[str] = mapped_column(String(200))
    currency: Mapped[str] = mapped_column(String(3))
    ordered_at: Mapped[datetime]
    total_product: Mapped[int] = mapped_column(Money)
    total_delivery: Mapped[int] = mapped_column(Money)
    total_adjustments: Mapped[int] = mapped_column(Money)
    total_tax: Mapped[int] = mapped_column(Money)
    grand_total: Mapped[int] = mapped_column(Money)
    order_adjustments: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    items: Mapped[list[OrderItem]] = relationship(lazy="raise", order_by="OrderItem.position")


class OrderItem(Base):
    __tablename__ = "order_items"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    order_id: Mapped[str] = mapped_column(ForeignKey("orders.id"), index=True)
    order_item_summary_id: Mapped[str] = mapped_column(
        ForeignKey("order_item_summaries.id"), index=True
    )
    position: Mapped[int]
    type: Mapped[str] = mapped_column(String(20))
    sku: Mapped[str] = mapped_column(String(100))
    name: Mapped[str | None] = mapped_column(String(300))
    quantity: Mapped[int]
    unit_price: Mapped[int] = mapped_column(Money)
    total_price: Mapped[int] = mapped_column(Money)
    adjustments: Mapped[int] = mapped_column(Money)
    tax: Mapped[int] = mapped_column(Money)
    adjustment_details: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)


class OrderSummary(Base):
    __tablename__ = "order_summaries"
    __table_args__ = (
        UniqueConstraint("channel", "external_reference"),
        Index("ix_order_summaries_customer_email", "customer_email"),
        Index("ix_order_summaries_status", "status"),
        Index("ix_order_summaries_ordered_at", "ordered_at"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    original_order_id: Mapped[str] = mapped_column(String(40))
    channel: Mapped[str] = mapped_column(String(100))
    external_reference: Mapped[str] = mapped_column(String(200))
    currency: Mapped[str] = mapped_column(String(3))
    lifecycle: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(32))
    ordered_at: Mapped[datetime]
    customer_name: Mapped[str] = mapped_column(String(300))
    customer_email: Mapped[str | None] = mapped_column(String(320))
    total_product: Mapped[int] = mapped_column(Money)
    total_delivery: Mapped[int] = mapped_column(Money)
    total_adjustments: Mapped[int] = mapped_column(Money)
    total_tax: Mapped[int] = mapped_column(Money)
    grand_total: Mapped[int] = mapped_column(Money)
    routing_attempts: Mapped[int] = mapped_column(default=0)
    # The routing strategy this order's routing uses instead of its channel's (set by an
    # automation flow's `set_routing_strategy`); None: the channel's.
    routing_strategy: Mapped[str | None] = mapped_column(String(32))
    active_process_exception_count: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    delivery_groups: Mapped[list[OrderDeliveryGroupSummary]] = relationship(
        lazy="raise", order_by="OrderDeliveryGroupSummary.position"
    )
    items: Mapped[list[OrderItemSummary]] = relationship(
        lazy="raise", order_by="OrderItemSummary.position"
    )
    payment_summaries: Mapped[list[OrderPaymentSummary]] = relationship(
        lazy="raise", order_by="OrderPaymentSummary.position"
    )


class OrderDeliveryGroupSummary(Base):
    __tablename__ = "order_delivery_group_summaries"
    __table_args__ = (UniqueConstraint("order_summary_id", "ref"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    order_summary_id: Mapped[str] = mapped_column(ForeignKey("order_summaries.id"))
    position: Mapped[int]
    ref: Mapped[str] = mapped_column(String(100))
    method: Mapped[str] = mapped_column(String(16))
    service: Mapped[str | None] = mapped_column(String(100))
    pickup_location: Mapped[str | None] = mapped_column(String(100))
    recipient_name: Mapped[str | None] = mapped_column(String(300))
    recipient_email: Mapped[str | None] = mapped_column(String(320))
    recipient_phone: Mapped[str | None] = mapped_column(String(50))
    address_line1: Mapped[str | None] = mapped_column(String(300))
    address_line2: Mapped[str | None] = mapped_column(String(300))
    city: Mapped[str | None] = mapped_column(String(200))
    region: Mapped[str | None] = mapped_column(String(200))
    postal_code: Mapped[str | None] = mapped_column(String(40))
    country: Mapped[str | None] = mapped_column(String(2))
    lat: Mapped[float | None] = mapped_column(Float)
    lon: Mapped[float | None] = mapped_column(Float)
    delivery_charge: Mapped[int] = mapped_column(Money, default=0)
    delivery_charge_tax: Mapped[int] = mapped_column(Money, default=0)


class OrderItemSummary(Base):
    __tablename__ = "order_item_summaries"
    __table_args__ = (UniqueConstraint("order_summary_id", "key"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    order_summary_id: Mapped[str] = mapped_column(ForeignKey("order_summaries.id"))
    delivery_group_summary_id: Mapped[str] = mapped_column(
        ForeignKey("order_delivery_group_summaries.id")
    )
    position: Mapped[int]
    key: Mapped[str] = mapped_column(String(60))
    type: Mapped[str] = mapped_column(String(20))
    sku: Mapped[str] = mapped_column(String(100))
    name: Mapped[str | None] = mapped_column(String(300))
    unit_price: Mapped[int] = mapped_column(Money)
    quantity_ordered: Mapped[int]
    quantity_canceled: Mapped[int] = mapped_column(default=0)
    quantity_returned: Mapped[int] = mapped_column(default=0)
    quantity_return_initiated: Mapped[int] = mapped_column(default=0)
    quantity_allocated: Mapped[int] = mapped_column(default=0)
    quantity_fulfilled: Mapped[int] = mapped_column(default=0)
    quantity_reshipped: Mapped[int] = mapped_column(default=0)
    total_price: Mapped[int] = mapped_column(Money)
    adjustments: Mapped[int] = mapped_column(Money)
    tax: Mapped[int] = mapped_column(Money)


class OrderPaymentSummary(Base):
    """One per payment method; amounts in minor units of the order's currency."""

    __tablename__ = "order_payment_summaries"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    order_summary_id: Mapped[str] = mapped_column(ForeignKey("order_summaries.id"), index=True)
    position: Mapped[int]
    gateway: Mapped[str] = mapped_column(String(50))
    # The gateway's reusable payment token. Needed to capture later; never logged or shown.
    token: Mapped[str] = mapped_column(String(255))
    display: Mapped[str] = mapped_column(String(50))
    authorized: Mapped[int] = mapped_column(Money, default=0)
    captured: Mapped[int] = mapped_column(Money, default=0)
    refunded: Mapped[int] = mapped_column(Money, default=0)
    reversed: Mapped[int] = mapped_column(Money, default=0)
    pending_capture: Mapped[int] = mapped_column(Money, default=0)
    pending_refund: Mapped[int] = mapped_column(Money, default=0)

    authorizations: Mapped[list[PaymentAuthorization]] = relationship(lazy="raise")


class PaymentAuthorization(Base):
    __tablename__ = "payment_authorizations"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    order_payment_summary_id: Mapped[str] = mapped_column(
        ForeignKey("order_payment_summaries.id"), index=True
    )
    amount: Mapped[int] = mapped_column(Money)
    gateway_reference: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
