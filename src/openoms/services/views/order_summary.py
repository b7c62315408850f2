"""The one read model of an order summary (DESIGN.md §12), shared by API, CLI and console."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache
from types import SimpleNamespace
from typing import Any

from sqlalchemy.orm import Session

from openoms.adapters.db import models as m
from openoms.adapters.db.repositories.holds import summary_holds
from openoms.adapters.db.repositories.orders import load_summary, summary_events
from openoms.adapters.db.repositories.routing import (
    summary_fulfillment_orders,
    summary_process_exceptions,
)
from openoms.adapters.db.repositories.views import change_order_lines
from openoms.domain.errors import OrderSummaryNotFound
from openoms.domain.fulfillment import CATEGORY, FulfillmentOrderStatus
from openoms.domain.money import format_minor
from openoms.domain.payments import PaymentBalance
from openoms.services.finance import documents_of
from openoms.services.fulfillment import shipments_of
from openoms.services.orders import CapturedRows, hold_view, item_quantities
from openoms.services.views.returns import return_orders_of


def order_summary_view(session: Session, summary_id: str) -> dict[str, Any]:
    summary = load_summary(session, summary_id)
    if summary is None:
        raise OrderSummaryNotFound(f"order summary '{summary_id}' does not exist")
    groups_by_id = {g.id: g.ref for g in summary.delivery_groups}
    positions = {i.id: i.position for i in summary.items}
    fulfillment_orders = summary_fulfillment_orders(session, summary_id)
    shipments = shipments_of(session, [fo.id for fo, _ in fulfillment_orders])
    invoices, credit_memos = documents_of(session, summary_id)
    holds = [hold_view(h) for h in summary_holds(session, summary_id)]
    return {
        **_header(summary, summary.delivery_groups, summary.items, summary.payment_summaries),
        "fulfillment_orders": [
            _fulfillment_order(fo, ref, groups_by_id, positions, shipments.get(fo.id, []))
            for fo, ref in fulfillment_orders
        ],
        "change_orders": _change_orders(session, summary_id, summary.currency),
        "invoices": invoices,
        "credit_memos": credit_memos,
        "return_orders": _return_orders(session, summary_id),
        "process_exceptions": [
            _process_exception(e) for e in summary_process_exceptions(session, summary_id)
        ],
        "on_hold": any(h["released_at"] is None for h in holds),
        "holds": holds,
        "events": [_event(e) for e in summary_events(session, summary_id)],
    }


def captured_order_view(session: Session, written: CapturedRows) -> dict[str, Any]:
    """`order_summary_view` of an order captured in this transaction, built from the rows
    capture inserted (`CaptureResult.written`) with the defaults their INSERTs applied: a
    new order has no fulfillment orders, documents, change or return orders, exceptions
    or holds yet. Only its events (capture's and its reservations') are read."""
    summary = _as_row(m.OrderSummary, written.summary)
    summary.ordered_at = summary.ordered_at.astimezone(UTC)  # stored as UTC
    payments = [_as_row(m.OrderPaymentSummary, p) for p in written.payments]
    for payment in payments:
        payment.authorizations = [
            _as_row(m.PaymentAuthorization, a)
            for a in written.authorizations
            if a["order_payment_summary_id"] == payment.id
        ]
    groups = [_as_row(m.OrderDeliveryGroupSummary, g) for g in written.groups]
    items = [_as_row(m.OrderItemSummary, i) for i in written.items]
    return {
        **_header(summary, groups, items, payments),
        "fulfillment_orders": [],
        "change_orders": [],
        "invoices": [],
        "credit_memos": [],
        "return_orders": [],
        "process_exceptions": [],
        "on_hold": False,
        "holds": [],
        "events": [_event(e) for e in summary_events(session, summary.id)],
    }


def _header(summary: Any, groups: Any, items: Any, payments: Any) -> dict[str, Any]:
    """The summary's brief, delivery groups, items and payment summaries."""
    groups_by_id = {g.id: g.ref for g in groups}
    return {
        **summary_brief(summary),
        "delivery_groups": [_group(g, summary.currency) for g in groups],
        "items": [_item(i, groups_by_id, summary.currency) for i in items],
        "payment_summaries": [_payment(p, summary.currency) for p in payments],
    }


def _as_row(model: type[m.Base], row: dict[str, Any]) -> Any:
    """An inserted `row` read as its model's attributes, with the column defaults."""
    return SimpleNamespace(**{**_column_defaults(model), **row})


@cache
def _column_defaults(model: type[m.Base]) -> dict[str, Any]:
    """The scalar defaults of the model's columns (0 for a counter, say)."""
    return {
        column.key: column.default.arg
        for column in model.__table__.columns
        if column.default is not None and column.default.is_scalar
    }


def _return_orders(session: Session, summary_id: str) -> list[dict[str, Any]]:
    return return_orders_of(session, summary_id)


def _change_orders(session: Session, summary_id: str, currency: str) -> list[dict[str, Any]]:
    """The summary's change orders, oldest first, with their signed lines."""
    money = _money(currency)
    rows = change_order_lines(session, summary_id)
    orders: dict[str, dict[str, Any]] = {}
    for order, line in rows:
        body = orders.setdefault(
            order.id,
            {
                "id": order.id,
                "kind": order.change_kind,
                "reason": order.reason,
                "created_at": order.created_at.isoformat().replace("+00:00", "Z"),
                "totals": {
                    "product": money(order.total_product),
                    "delivery": money(order.total_delivery),
                    "adjustments": money(order.total_adjustments),
                    "tax": money(order.total_tax),
                },
                "grand_total": money(order.grand_total),
                "lines": [],
            },
        )
        body["lines"].append(
            {
                "order_item_summary_id": line.order_item_summary_id,
                "sku": line.sku,
                "quantity": line.quantity,
                "total_price": money(line.total_price),
                "adjustments": money(line.adjustments),
                "tax": money(line.tax),
                "total": money(line.total_price + line.adjustments + line.tax),
            }
        )
    return list(orders.values())


def summary_brief(summary: m.OrderSummary) -> dict[str, Any]:
    """The header of a summary: what a list of summaries shows for each."""
    money = _money(summary.currency)
    return {
        "id": summary.id,
        "status": summary.status,
        "lifecycle": summary.lifecycle,
        "channel": summary.channel,
        "external_reference": summary.external_reference,
        "currency": summary.currency,
        "ordered_at": summary.ordered_at.isoformat().replace("+00:00", "Z"),
        "customer": {"name": summary.customer_name, "email": summary.customer_email},
        "totals": {
            "product": money(summary.total_product),
            "delivery": money(summary.total_delivery),
            "adjustments": money(summary.total_adjustments),
            "tax": money(summary.total_tax),
            "grand_total": money(summary.grand_total),
        },
        "routing_attempts": summary.routing_attempts,
        "active_process_exception_count": summary.active_process_exception_count,
        "created_at": summary.created_at.isoformat().replace("+00:00", "Z"),
    }


def _money(currency: str) -> Any:
    return lambda minor: format_minor(minor, currency)


def _group(g: m.OrderDeliveryGroupSummary, currency: str) -> dict[str, Any]:
    address = None
    if g.address_line1 is not None:
        address = {
            "line1": g.address_line1,
            "line2": g.address_line2,
            "city": g.city,
            "region": g.region,
            "postal_code": g.postal_code,
            "country": g.country,
            "lat": g.lat,
            "lon": g.lon,
        }
    return {
        "id": g.id,
        "ref": g.ref,
        "method": g.method,
        "service": g.service,
        "pickup_location": g.pickup_location,
        "recipient": (
            {
                "name": g.recipient_name,
                "email": g.recipient_email,
                "phone": g.recipient_phone,
                "address": address,
            }
            if g.recipient_name is not None
            else None
        ),
        "delivery_charge": {
            "amount": format_minor(g.delivery_charge, currency),
            "tax": format_minor(g.delivery_charge_tax, currency),
        },
    }


def _item(item: m.OrderItemSummary, groups: dict[str, str], currency: str) -> dict[str, Any]:
    q = item_quantities(item)
    money = _money(currency)
    return {
        "id": item.id,
        "type": item.type,
        "sku": item.sku,
        "name": item.name,
        "delivery_group": groups[item.delivery_group_summary_id],
        "status": q.status.value,
        "unit_price": money(item.unit_price),
        "total_price": money(item.total_price),
        "adjustments": money(item.adjustments),
        "tax": money(item.tax),
        "total": money(item.total_price + item.adjustments + item.tax),
        "quantity_ordered": q.ordered,
        "quantity_canceled": q.canceled,
        "quantity_returned": q.returned,
        "quantity_return_initiated": q.return_initiated,
        "quantity_allocated": q.allocated,
        "quantity_fulfilled": q.fulfilled,
        "quantity_reshipped": q.reshipped,
        "quantity": q.quantity,
        "quantity_net_ordered": q.net_ordered,
        "quantity_available_to_fulfill": q.available_to_fulfill,
        "quantity_available_to_cancel": q.available_to_cancel,
        "quantity_available_to_return": q.available_to_return,
        "quantity_available_to_reship": q.available_to_reship,
    }


def _fulfillment_order(
    fo: m.FulfillmentOrder,
    location_ref: str,
    groups: dict[str, str],
    positions: dict[str, int],
    shipments: list[dict[str, Any]],
) -> dict[str, Any]:
    status = FulfillmentOrderStatus(fo.status)
    lines = sorted(
        fo.lines, key=lambda line: (positions.get(line.order_item_summary_id, 0), line.id)
    )
    return {
        "id": fo.id,
        "type": fo.type,
        "location": location_ref,
        "status": status.value,
        "status_category": CATEGORY[status].value,
        "delivery_group": groups[fo.delivery_group_summary_id],
        "routing_round": fo.routing_round,
        "reason": fo.reason,
        "created_at": _iso(fo.created_at),
        "lines": [
            {
                "id": line.id,
                "order_item_summary_id": line.order_item_summary_id,
                "sku": line.sku,
                "quantity": line.quantity,
                "original_quantity": line.original_quantity,
                "shipped": line.shipped,
            }
            for line in lines
        ],
        "shipments": shipments,
    }


def _process_exception(e: m.ProcessException) -> dict[str, Any]:
    return {
        "id": e.id,
        "category": e.category,
        "severity": e.severity,
        "priority": e.priority,
        "status": e.status,
        "message": e.message,
        "occurrences": e.occurrences,
        "created_at": _iso(e.created_at),
        "updated_at": _iso(e.updated_at),
    }


def _iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


def _payment(p: m.OrderPaymentSummary, currency: str) -> dict[str, Any]:
    money = _money(currency)
    balance = PaymentBalance(
        authorized=p.authorized,
        captured=p.captured,
        refunded=p.refunded,
        reversed=p.reversed,
        pending_capture=p.pending_capture,
        pending_refund=p.pending_refund,
    )
    return {
        "id": p.id,
        "gateway": p.gateway,
        "method": p.display,
        "authorized": money(p.authorized),
        "captured": money(p.captured),
        "refunded": money(p.refunded),
        "reversed": money(p.reversed),
        "pending_capture": money(p.pending_capture),
        "pending_refund": money(p.pending_refund),
        "available_to_capture": money(balance.available_to_capture),
        "available_to_refund": money(balance.available_to_refund),
        "authorizations": [
            {
                "id": a.id,
                "amount": money(a.amount),
                "status": a.status,
                "gateway_reference": a.gateway_reference,
            }
            for a in p.authorizations
        ],
    }


def _event(e: m.Event) -> dict[str, Any]:
    return {
        "id": e.event_id,
        "name": e.name,
        "occurred_at": e.occurred_at.isoformat().replace("+00:00", "Z"),
        "payload": e.payload,
    }
