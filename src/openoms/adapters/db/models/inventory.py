"""Locations, location groups, channels, inventory records and reservations."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from openoms.adapters.db.models.base import Base, utcnow


class Location(Base):
    """A place that holds stock: warehouse, store, 3PL or drop-ship vendor."""

    __tablename__ = "locations"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    ref: Mapped[str] = mapped_column(String(100), unique=True)
    name: Mapped[str] = mapped_column(String(300))
    type: Mapped[str] = mapped_column(String(16))
    address_line1: Mapped[str | None] = mapped_column(String(300))
    city: Mapped[str | None] = mapped_column(String(200))
    region: Mapped[str | None] = mapped_column(String(200))
    postal_code: Mapped[str | None] = mapped_column(String(40))
    country: Mapped[str | None] = mapped_column(String(2))
    lat: Mapped[float | None] = mapped_column(Float)
    lon: Mapped[float | None] = mapped_column(Float)
    can_ship: Mapped[bool] = mapped_column(default=True)
    can_pickup: Mapped[bool] = mapped_column(default=False)
    active: Mapped[bool] = mapped_column(default=True)
    daily_capacity: Mapped[int | None]
    # [{"country": "GB" | "*", "currency": "GBP", "per_shipment": minor, "per_unit": minor}]
    shipping_costs: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class LocationGroup(Base):
    """A named set of locations (e.g. "online"); its availability is the members' sum."""

    __tablename__ = "location_groups"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    ref: Mapped[str] = mapped_column(String(100), unique=True)
    name: Mapped[str] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class LocationGroupMember(Base):
    __tablename__ = "location_group_members"

    group_id: Mapped[str] = mapped_column(ForeignKey("location_groups.id"), primary_key=True)
    location_id: Mapped[str] = mapped_column(
        ForeignKey("locations.id"), primary_key=True, index=True
    )


class Channel(Base):
    """Per-channel policy: where its orders reserve and route, what a shortage does."""

    __tablename__ = "channels"

    ref: Mapped[str] = mapped_column(String(100), primary_key=True)
    location_group_id: Mapped[str | None] = mapped_column(ForeignKey("location_groups.id"))
    shortage_policy: Mapped[str] = mapped_column(String(16), default="reject")
    routing_strategy: Mapped[str] = mapped_column(String(32), default="fewest_splits")
    max_splits: Mapped[int] = mapped_column(default=2)
    # Seconds between scheduled routing runs (services/routing/runs.py); None: none.
    routing_run_every: Mapped[int | None]
    # Days of the channel's past orders a routing run's look-ahead draws from; None: off.
    routing_lookahead_days: Mapped[int | None]
    capture_policy: Mapped[str] = mapped_column(String(32), default="on_shipment")
    # {"GBP": 500}: items under this value (minor units) are refunded without a return.
    returnless_threshold: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # {"GBP": 295}: a fee (minor units, tax included) invoiced per received return order.
    return_fee: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # The return order status at which its refunds run (RECEIVED by default).
    refund_eligible_status: Mapped[str] = mapped_column(String(20), default="RECEIVED")
    # Check each authorization reported at capture with its gateway before routing.
    verify_authorizations: Mapped[bool] = mapped_column(default=True)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class InventoryRecord(Base):
    """Stock of one SKU at one location. available_to_fulfill = on_hand − reserved − safety."""

    __tablename__ = "inventory_records"
    __table_args__ = (
        UniqueConstraint("location_id", "sku"),
        Index("ix_inventory_records_sku", "sku"),
        CheckConstraint("on_hand >= 0", name="on_hand_not_negative"),
        CheckConstraint("reserved >= 0", name="reserved_not_negative"),
        CheckConstraint("safety_stock >= 0", name="safety_stock_not_negative"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    location_id: Mapped[str] = mapped_column(ForeignKey("locations.id"))
    sku: Mapped[str] = mapped_column(String(100))
    on_hand: Mapped[int] = mapped_column(default=0)
    reserved: Mapped[int] = mapped_column(default=0)
    safety_stock: Mapped[int] = mapped_column(default=0)
    # [{"quantity": 10, "expected_date": "2026-12-01"}]
    futures: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    # The import that last set this record (a full import zeroes the ones it did not set).
    last_import_id: Mapped[str | None] = mapped_column(String(40))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class InventoryImportRecord(Base):
    """A record id already applied by an import: a repeat of it is skipped."""

    __tablename__ = "inventory_import_records"

    record_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    import_id: Mapped[str] = mapped_column(String(40))
    applied_at: Mapped[datetime] = mapped_column(default=utcnow)


class Reservation(Base):
    """Stock held for an order or a cart, against a location group or one location.

    Every unit held sits on a concrete inventory record (see ReservationLine), so the
    no-oversell guarantee is the inventory record's conditional update and nothing else.
    """

    __tablename__ = "reservations"
    __table_args__ = (UniqueConstraint("owner", "idempotency_key"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    owner: Mapped[str] = mapped_column(String(40))  # API key id, or "system"
    idempotency_key: Mapped[str] = mapped_column(String(255))
    request_hash: Mapped[str] = mapped_column(String(64))
    location_group_id: Mapped[str | None] = mapped_column(ForeignKey("location_groups.id"))
    location_id: Mapped[str | None] = mapped_column(ForeignKey("locations.id"))
    order_summary_id: Mapped[str | None] = mapped_column(String(40), index=True)
    status: Mapped[str] = mapped_column(String(16))
    expires_at: Mapped[datetime | None] = mapped_column(index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    lines: Mapped[list[ReservationLine]] = relationship(lazy="raise", order_by="ReservationLine.id")


class ReservationLine(Base):
    """Units of one SKU held at one location for a reservation."""

    __tablename__ = "reservation_lines"
    __table_args__ = (UniqueConstraint("reservation_id", "sku", "location_id"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    reservation_id: Mapped[str] = mapped_column(ForeignKey("reservations.id"))
    sku: Mapped[str] = mapped_column(String(100))
    location_id: Mapped[str] = mapped_column(ForeignKey("locations.id"))
    quantity: Mapped[int] = mapped_column(default=0)  # held now
    fulfilled: Mapped[int] = mapped_column(default=0)  # shipped from this hold
    released: Mapped[int] = mapped_column(default=0)  # given back
