"""Gateway calls, payments (captures) and refunds."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from openoms.adapters.db.models.base import Base, Money, utcnow


class PaymentGatewayLog(Base):
    """Every request to a payment gateway and its answer (tokens masked, never stored raw)."""

    __tablename__ = "payment_gateway_logs"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    order_payment_summary_id: Mapped[str | None] = mapped_column(String(40), index=True)
    gateway: Mapped[str] = mapped_column(String(50))
    operation: Mapped[str] = mapped_column(String(20))  # authorize|capture|refund|reverse
    idempotency_key: Mapped[str] = mapped_column(String(200), index=True)
    amount: Mapped[int] = mapped_column(Money)
    currency: Mapped[str] = mapped_column(String(3))
    result: Mapped[str] = mapped_column(String(20))  # SUCCESS|DECLINE|PERMANENT_FAIL|INDETERMINATE
    gateway_reference: Mapped[str | None] = mapped_column(String(200))
    message: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Payment(Base):
    """Money captured against an authorization (pending until the gateway confirms)."""

    __tablename__ = "payments"
    __table_args__ = (UniqueConstraint("idempotency_key"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    order_payment_summary_id: Mapped[str] = mapped_column(
        ForeignKey("order_payment_summaries.id"), index=True
    )
    payment_authorization_id: Mapped[str | None] = mapped_column(
        ForeignKey("payment_authorizations.id")
    )
    invoice_id: Mapped[str | None] = mapped_column(String(40), index=True)
    amount: Mapped[int] = mapped_column(Money)
    status: Mapped[str] = mapped_column(String(20))  # PENDING|PROCESSED|FAILED
    idempotency_key: Mapped[str] = mapped_column(String(200))
    gateway_reference: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Refund(Base):
    """Money given back against a payment, for a credit memo or excess funds."""

    __tablename__ = "refunds"
    __table_args__ = (UniqueConstraint("idempotency_key"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    order_payment_summary_id: Mapped[str] = mapped_column(
        ForeignKey("order_payment_summaries.id"), index=True
    )
    payment_id: Mapped[str] = mapped_column(ForeignKey("payments.id"))
    credit_memo_id: Mapped[str | None] = mapped_column(String(40), index=True)
    amount: Mapped[int] = mapped_column(Money)
    status: Mapped[str] = mapped_column(String(20))  # PENDING|PROCESSED|FAILED
    idempotency_key: Mapped[str] = mapped_column(String(200))
    gateway_reference: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
