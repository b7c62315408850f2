"""Reading return orders: the public body of an RMA (lines, receipts, locations by ref), one,
a filtered page, or all of an order summary's (for its view)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from openoms.adapters.db import models as m
from openoms.adapters.db.repositories import returns as returns_repo
from openoms.adapters.db.repositories import views as repo
from openoms.domain.errors import ReturnOrderNotFound
from openoms.services.returns import location_refs


def get_return_order(session: Session, return_order_id: str) -> dict[str, Any]:
    """The public body of one return order."""
    order = returns_repo.get_return_order(session, return_order_id)
    if order is None:
        raise ReturnOrderNotFound(f"return order '{return_order_id}' does not exist")
    return _views(session, [order])[0]


def list_return_orders(
    session: Session,
    *,
    order_summary_id: str | None = None,
    status: str | None = None,
    after_id: str | None = None,
    limit: int = 50,
) -> list[dict[str, Any]]:
    """Return orders in id (creation) order, filtered; at most `limit`."""
    orders = repo.list_return_orders(
        session, order_summary_id=order_summary_id, status=status, after_id=after_id, limit=limit
    )
    return _views(session, orders)


def return_orders_of(session: Session, order_summary_id: str) -> list[dict[str, Any]]:
    """The order summary's return orders, oldest first (three queries)."""
    return _views(session, repo.summary_return_orders(session, order_summary_id))


def _views(session: Session, orders: Sequence[m.ReturnOrder]) -> list[dict[str, Any]]:
    if not orders:
        return []
    lines = _lines(session, [o.id for o in orders])
    refs = location_refs(session, {o.expected_location_id for o in orders} - {None})
    return [
        {
            "id": o.id,
            "order_summary_id": o.order_summary_id,
            "status": o.status,
            "reason": o.reason,
            "expected_location": refs.get(o.expected_location_id or ""),
            "refund_eligible_status": o.refund_eligible_status,
            "refund_shipping": o.refund_shipping,
            "exchange_change_order_id": o.exchange_change_order_id,
            "lines": lines.get(o.id, []),
            "created_at": _iso(o.created_at),
            "updated_at": _iso(o.updated_at),
        }
        for o in orders
    ]


def _lines(session: Session, order_ids: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
    """Per return order id, its lines in the order's item order, each with its receipts."""
    rows = repo.return_lines_with_receipts(session, order_ids)
    lines: dict[str, list[dict[str, Any]]] = defaultdict(list)
    seen: dict[str, dict[str, Any]] = {}
    for line, receipt, ref in rows:
        body = seen.get(line.id)
        if body is None:
            body = seen[line.id] = _line_view(line)
            lines[line.return_order_id].append(body)
        if receipt is not None:
            body["receipts"].append(
                {
                    "location": ref,
                    "quantity": receipt.quantity,
                    "condition": receipt.condition,
                    "disposition": receipt.disposition,
                    "received_at": _iso(receipt.received_at),
                }
            )
    return lines


def _line_view(line: m.ReturnOrderLineItem) -> dict[str, Any]:
    return {
        "id": line.id,
        "order_item_summary_id": line.order_item_summary_id,
        "sku": line.sku,
        "reason": line.reason,
        "quantity_expected": line.quantity_expected,
        "quantity_received": line.quantity_received,
        "quantity_canceled": line.quantity_canceled,
        "quantity_credited": line.quantity_credited,
        "returnless": line.quantity_expected == 0 and line.quantity_credited > 0,
        "receipts": [],
    }


def _iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")
