"""SQLAlchemy 2 typed models. Amounts are integer minor units beside a currency column.

Relationships load explicitly (`lazy="raise"`): a repository says what it needs.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite keeps no zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON()}


Money = BigInteger  # minor units


# --- access -------------------------------------------------------------------------------


class ApiKey(Base):
    """An API key. Only the sha256 of the whole presented key is stored (`key_hash`, unique,
    the lookup on every request); `prefix` is a short, non-secret label for display."""

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    prefix: Mapped[str] = mapped_column(String(16))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    scopes: Mapped[str] = mapped_column(String(200))  # space-separated Scope values, sorted
    # Channel refs the key is bound to (sorted); None: unbound, it sees every channel.
    channels: Mapped[list[str] | None] = mapped_column(JSON, default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None]


class IdempotencyRecord(Base):
    """The stored answer to a POST made with an Idempotency-Key, per API key."""

    __tablename__ = "idempotency_records"
    __table_args__ = (UniqueConstraint("api_key_id", "key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    api_key_id: Mapped[str] = mapped_column(String(40))
    key: Mapped[str] = mapped_column(String(255))
    method: Mapped[str] = mapped_column(String(10))
    path: Mapped[str] = mapped_column(String(500))
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int]
    response_body: Mapped[dict[str, Any]]
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)  # for purging


# --- orders -------------------------------------------------------------------------------


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


# --- events (outbox) ----------------------------------------------------------------------


class Event(Base):
    """A domain event, written in the same transaction as the change it records."""

    __tablename__ = "events"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    event_id: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(100), index=True)
    aggregate_type: Mapped[str] = mapped_column(String(50))
    aggregate_id: Mapped[str] = mapped_column(String(100))
    order_summary_id: Mapped[str | None] = mapped_column(String(40), index=True)
    payload: Mapped[dict[str, Any]]
    occurred_at: Mapped[datetime] = mapped_column(default=utcnow)


class EventDelivery(Base):
    """One event for one consumer: claimed by a worker, done once, retried with backoff."""

    __tablename__ = "event_deliveries"
    __table_args__ = (
        UniqueConstraint("event_id", "consumer"),
        # Claiming scans pending rows in id order; done rows pile up and must not be scanned.
        Index(
            "ix_event_deliveries_pending",
            "id",
            "available_at",
            postgresql_where=text("status = 'pending'"),
            sqlite_where=text("status = 'pending'"),
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id"))
    consumer: Mapped[str] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(default=0)
    available_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_error: Mapped[str | None] = mapped_column(Text)
    processed_at: Mapped[datetime | None]


# --- locations, channels, inventory (OCI) -------------------------------------------------


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


# --- fulfillment, shipments, exceptions, jobs ----------------------------------------------


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


class ProcessException(Base):
    """Something that needs a person: what failed, how bad, and the action to retry."""

    __tablename__ = "process_exceptions"
    __table_args__ = (Index("ix_process_exceptions_status_category", "status", "category"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    order_summary_id: Mapped[str | None] = mapped_column(String(40), index=True)
    category: Mapped[str] = mapped_column(String(20))
    severity: Mapped[str] = mapped_column(String(10))  # low | medium | high
    priority: Mapped[int] = mapped_column(default=3)
    status: Mapped[str] = mapped_column(String(10))
    message: Mapped[str] = mapped_column(Text)
    # The action that failed and can be retried, e.g. {"kind": "route", "payload": {...}}.
    action: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # One open exception per failing thing: a repeat failure updates it instead.
    dedupe_key: Mapped[str | None] = mapped_column(String(200), index=True)
    occurrences: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Job(Base):
    """Work to do later, once: routing a delivery group, requesting a label, … Claimed with
    FOR UPDATE SKIP LOCKED (or a lease for jobs that call out), retried with backoff."""

    __tablename__ = "jobs"
    __table_args__ = (
        Index(
            "ix_jobs_due",
            "available_at",
            postgresql_where=text("status = 'pending'"),
            sqlite_where=text("status = 'pending'"),
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(50))
    dedupe_key: Mapped[str] = mapped_column(String(200), unique=True)
    payload: Mapped[dict[str, Any]]
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending|done|dead
    attempts: Mapped[int] = mapped_column(default=0)
    available_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


# --- payments and finance -----------------------------------------------------------------


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


# --- the sandboxes' own storage -----------------------------------------------------------
# What a remote gateway or carrier keeps on its side, kept here for the sandbox adapters
# (adapters/payments/sandbox.py, adapters/carriers/sandbox.py) so every process over one
# database talks to the same sandbox. openoms' own code never reads these tables.


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
