"""Channel adapters: a channel's platform settings, its inbox of deliveries, and the
sandbox connector's ledger."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from openoms.adapters.db.models.base import Base, utcnow


class ChannelAdapter(Base):
    """The platform a channel's orders come from (`type`: shopify), how its deliveries are
    verified and which connector takes shipments and cancellations back to it. The secrets
    are stored as they must be used (an HMAC needs the secret itself) and never shown."""

    __tablename__ = "channel_adapters"

    channel: Mapped[str] = mapped_column(ForeignKey("channels.ref"), primary_key=True)
    type: Mapped[str] = mapped_column(String(20))
    shop_domain: Mapped[str] = mapped_column(String(255))
    webhook_secret: Mapped[str] = mapped_column(Text)
    connector: Mapped[str] = mapped_column(String(20), default="sandbox")
    connector_base_url: Mapped[str | None] = mapped_column(String(500))
    connector_token: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class ChannelInboxDelivery(Base):
    """One delivery from a channel's platform, stored raw as it came, once per (channel,
    webhook id): a replay of the same id stores nothing new."""

    __tablename__ = "channel_inbox"
    __table_args__ = (UniqueConstraint("channel", "webhook_id"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    channel: Mapped[str] = mapped_column(String(100))
    webhook_id: Mapped[str] = mapped_column(String(200))
    topic: Mapped[str] = mapped_column(String(100))
    shop_domain: Mapped[str] = mapped_column(String(255))
    body: Mapped[str] = mapped_column(Text)
    # received | processed | refused | ignored
    status: Mapped[str] = mapped_column(String(12), default="received")
    # The platform's order id and name (Shopify: `id`, `name` such as "#1001"), for search.
    external_reference: Mapped[str | None] = mapped_column(String(100), index=True)
    order_name: Mapped[str | None] = mapped_column(String(100), index=True)
    order_summary_id: Mapped[str | None] = mapped_column(String(40), index=True)
    outcome: Mapped[str | None] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    processed_at: Mapped[datetime | None] = mapped_column()


class SandboxChannelCall(Base):
    """A call the sandbox channel connector was asked to make (its ledger), once per
    idempotency key: what a real platform would have been told."""

    __tablename__ = "sandbox_channel_calls"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    channel: Mapped[str] = mapped_column(String(100), index=True)
    operation: Mapped[str] = mapped_column(String(20))  # fulfillment | cancel
    external_reference: Mapped[str] = mapped_column(String(100))
    request: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
