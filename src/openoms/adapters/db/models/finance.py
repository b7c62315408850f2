"""Invoices, credit memos and credit applications."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    ForeignKey,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from openoms.adapters.db.models.base import Base, Money, utcnow


class _FinanceDocument:
    """What an invoice and a credit memo both carry: totals by kind and what is still open."""

    # The source it was made for; unique so a retried job never makes the document twice.
    source_key: Mapped[str] = mapped_column(String(200), unique=True)
    currency: Mapped[str] = mapped_column(String(3))
    total_product: Mapped[int] = mapped_column(Money, default=0)
    total_delivery: Mapped[int] = mapped_column(Money, default=0)
    total_adjustments: Mapped[int] = mapped_column(Money, default=0)
    total_tax: Mapped[int] = mapped_column(Money, default=0)
    grand_total: Mapped[int] = mapped_column(Money, default=0)
    balance: Mapped[int] = mapped_column(Money, default=0)
    status: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class _FinanceDocumentLine:
    order_item_summary_id: Mapped[str | None] = mapped_column(String(40))
    type: Mapped[str] = mapped_column(String(20))  # product|delivery_charge|fee
    sku: Mapped[str | None] = mapped_column(String(100))
    quantity: Mapped[int] = mapped_column(default=0)
    total_price: Mapped[int] = mapped_column(Money, default=0)
    adjustments: Mapped[int] = mapped_column(Money, default=0)
    tax: Mapped[int] = mapped_column(Money, default=0)


class Invoice(_FinanceDocument, Base):
    """What is owed: for what shipped (one per shipment), or an increase such as a fee.
    `balance` is what captures have not covered yet; status POSTED, then PAID."""

    __tablename__ = "invoices"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    order_summary_id: Mapped[str] = mapped_column(ForeignKey("order_summaries.id"), index=True)

    lines: Mapped[list[InvoiceLine]] = relationship(lazy="raise", order_by="InvoiceLine.id")


class InvoiceLine(_FinanceDocumentLine, Base):
    __tablename__ = "invoice_lines"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    invoice_id: Mapped[str] = mapped_column(ForeignKey("invoices.id"), index=True)


class CreditMemo(_FinanceDocument, Base):
    """What is owed back for a cancel, return or discount (a change order): `grand_total` is
    positive, `balance` is what is not refunded yet; status POSTED, then REFUNDED."""

    __tablename__ = "credit_memos"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    order_summary_id: Mapped[str] = mapped_column(ForeignKey("order_summaries.id"), index=True)
    change_order_id: Mapped[str | None] = mapped_column(String(40))
    # The return order whose units it credits (an exchange applies it to its new items).
    return_order_id: Mapped[str | None] = mapped_column(ForeignKey("return_orders.id"), index=True)

    lines: Mapped[list[CreditMemoLine]] = relationship(lazy="raise", order_by="CreditMemoLine.id")


class CreditApplication(Base):
    """Part of a credit memo's balance that paid an invoice instead of going back to the
    customer (an exchange's credit paying its new items, a return fee paid out of the
    return's credit). Both balances go down together; unique per (memo, invoice)."""

    __tablename__ = "credit_applications"
    __table_args__ = (UniqueConstraint("credit_memo_id", "invoice_id"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    order_summary_id: Mapped[str] = mapped_column(ForeignKey("order_summaries.id"), index=True)
    credit_memo_id: Mapped[str] = mapped_column(ForeignKey("credit_memos.id"))
    invoice_id: Mapped[str] = mapped_column(ForeignKey("invoices.id"), index=True)
    amount: Mapped[int] = mapped_column(Money)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class CreditMemoLine(_FinanceDocumentLine, Base):
    __tablename__ = "credit_memo_lines"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    credit_memo_id: Mapped[str] = mapped_column(ForeignKey("credit_memos.id"), index=True)
