"""Return orders, their lines and receipts."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    ForeignKey,
    Index,
    String,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from openoms.adapters.db.models.base import Base, utcnow


class ReturnOrder(Base):
    """An RMA: what is expected back from an order, why, and to which location."""

    __tablename__ = "return_orders"
    __table_args__ = (Index("ix_return_orders_status", "status"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    order_summary_id: Mapped[str] = mapped_column(ForeignKey("order_summaries.id"), index=True)
    status: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str | None] = mapped_column(String(500))
    expected_location_id: Mapped[str | None] = mapped_column(ForeignKey("locations.id"))
    # The status at which refunds run, fixed when the return order is made (channel policy).
    refund_eligible_status: Mapped[str] = mapped_column(String(20), default="RECEIVED")
    # The exchange this return belongs to, if any (its new items are on the order).
    exchange_change_order_id: Mapped[str | None] = mapped_column(String(40))
    # Refund the delivery charge of each group the return's credit leaves empty.
    refund_shipping: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    lines: Mapped[list[ReturnOrderLineItem]] = relationship(
        lazy="raise", order_by="ReturnOrderLineItem.id"
    )


class ReturnOrderLineItem(Base):
    __tablename__ = "return_order_line_items"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    return_order_id: Mapped[str] = mapped_column(ForeignKey("return_orders.id"), index=True)
    order_item_summary_id: Mapped[str] = mapped_column(
        ForeignKey("order_item_summaries.id"), index=True
    )
    sku: Mapped[str] = mapped_column(String(100))
    reason: Mapped[str | None] = mapped_column(String(500))
    quantity_expected: Mapped[int]
    quantity_received: Mapped[int] = mapped_column(default=0)
    quantity_canceled: Mapped[int] = mapped_column(default=0)
    # Units already turned into a return change order and credit memo.
    quantity_credited: Mapped[int] = mapped_column(default=0)


class ReturnReceipt(Base):
    """Units of a return line that arrived: where, in which condition, and what became of
    them (restock at the receiving location, or written off as damaged or discarded)."""

    __tablename__ = "return_receipts"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    return_order_line_item_id: Mapped[str] = mapped_column(
        ForeignKey("return_order_line_items.id"), index=True
    )
    location_id: Mapped[str | None] = mapped_column(ForeignKey("locations.id"))
    quantity: Mapped[int]
    condition: Mapped[str] = mapped_column(String(20))  # new | opened | damaged
    disposition: Mapped[str] = mapped_column(String(20))  # restock | damaged | discard
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
