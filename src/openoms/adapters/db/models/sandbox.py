"""The sandbox gateway's and carrier's own storage (they survive restarts)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from openoms.adapters.db.models.base import Base, Money, utcnow


class SandboxGatewayMovement(Base):
    """A movement a sandbox gateway made (its ledger), once per (gateway, operation, key),
    with what was taken from it since: an authorization's `captured` and `reversed`, a
    capture's `refunded`."""

    __tablename__ = "sandbox_gateway_movements"
    __table_args__ = (UniqueConstraint("gateway", "operation", "idempotency_key"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    gateway: Mapped[str] = mapped_column(String(50))
    operation: Mapped[str] = mapped_column(String(20))  # authorize|capture|refund|reverse
    idempotency_key: Mapped[str] = mapped_column(String(200))
    reference: Mapped[str] = mapped_column(String(100), unique=True)
    token: Mapped[str] = mapped_column(String(255))
    amount: Mapped[int] = mapped_column(Money)
    currency: Mapped[str] = mapped_column(String(3))
    on_reference: Mapped[str | None] = mapped_column(String(200))  # what it acted on
    captured: Mapped[int] = mapped_column(Money, default=0)
    reversed: Mapped[int] = mapped_column(Money, default=0)
    refunded: Mapped[int] = mapped_column(Money, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class SandboxGatewayAnswer(Base):
    """A final answer (SUCCESS or PERMANENT_FAIL) a sandbox gateway gave, with the request
    it answered: the same key answers the same again; the key reused differently is
    refused."""

    __tablename__ = "sandbox_gateway_answers"

    gateway: Mapped[str] = mapped_column(String(50), primary_key=True)
    operation: Mapped[str] = mapped_column(String(20), primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(200), primary_key=True)
    token: Mapped[str] = mapped_column(String(255))
    amount: Mapped[int] = mapped_column(Money)
    currency: Mapped[str] = mapped_column(String(3))
    on_reference: Mapped[str | None] = mapped_column(String(200))
    result: Mapped[str] = mapped_column(String(20))
    answered_amount: Mapped[int] = mapped_column(Money)
    answered_reference: Mapped[str | None] = mapped_column(String(100))
    message: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class SandboxGatewayAttempt(Base):
    """How often a sandbox gateway was called with one (operation, key): `tok_timeout`
    counts its lost answers with it, `tok_flaky` draws its luck from it. Its row lock
    serialises concurrent calls with the same key."""

    __tablename__ = "sandbox_gateway_attempts"

    gateway: Mapped[str] = mapped_column(String(50), primary_key=True)
    operation: Mapped[str] = mapped_column(String(20), primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(200), primary_key=True)
    calls: Mapped[int] = mapped_column(default=0)


class SandboxCarrierLabel(Base):
    """A label a sandbox carrier sold, once per (carrier, idempotency key), and where its
    parcel is (`state`, a TrackingState)."""

    __tablename__ = "sandbox_carrier_labels"
    __table_args__ = (UniqueConstraint("carrier", "idempotency_key"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    carrier: Mapped[str] = mapped_column(String(50))
    idempotency_key: Mapped[str] = mapped_column(String(200))
    tracking_number: Mapped[str] = mapped_column(String(100), unique=True)
    label_url: Mapped[str | None] = mapped_column(String(500))
    service: Mapped[str | None] = mapped_column(String(50))
    state: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
