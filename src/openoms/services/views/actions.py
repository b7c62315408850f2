"""The answers of service actions (cancel, adjust, return, exchange, reship): what they
changed, what will be refunded because of them, and the order summary after them. The API
and the demo answer with these; a preview builds the same answer in a rehearsal."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.orm import Session

from openoms.adapters.db import models as m
from openoms.adapters.db.repositories import fulfillment as repo
from openoms.domain.money import format_minor
from openoms.services.orders import RecordedChange, locked_summary
from openoms.services.payments import refunds_due
from openoms.services.service_actions import SubmittedExchange, SubmittedReship, reship_line_out
from openoms.services.views.order_summary import order_summary_view


def refund_baseline(session: Session, order_summary_id: str) -> int:
    """What ensure refunds would pay before a service action runs, for `action_result`:
    taken under the order summary's lock (OrderSummaryNotFound when there is none)."""
    locked_summary(session, order_summary_id)
    return refunds_due(session, order_summary_id)


def action_result(
    session: Session,
    order_summary_id: str,
    recorded: Sequence[RecordedChange],
    *,
    preview: bool,
    refunds_before: int,
    messages: Sequence[str] = (),
) -> dict[str, Any]:
    """The answer of a service action (schemas.service_actions.ServiceActionOut): its change
    orders, what will be refunded because of it, and the order summary after it.
    `to_refund` is what ensure refunds would pay now (`refunds.refunds_due`: credit memo
    balances and excess funds, e.g. money captured at order for units now canceled) less
    `refunds_before`, what it would have paid before the action (`refund_baseline`). A
    preview runs the same action in a rehearsal (Database.rehearsal) and answers this body
    before the rollback, with the ids left out."""
    body = action_body(session, order_summary_id, recorded, preview=preview, messages=messages)
    to_refund = max(refunds_due(session, order_summary_id) - refunds_before, 0)
    return {**body, "to_refund": format_minor(to_refund, body["order_summary"]["currency"])}


def action_body(
    session: Session,
    order_summary_id: str,
    recorded: Sequence[RecordedChange],
    *,
    preview: bool,
    messages: Sequence[str] = (),
) -> dict[str, Any]:
    """`action_result` but `to_refund`: for an action that answers its money otherwise."""
    summary = session.get(m.OrderSummary, order_summary_id)
    assert summary is not None
    skus = {i.id: i.sku for i in repo.summary_items(session, order_summary_id)}

    def money(minor: int) -> str:
        return format_minor(minor, summary.currency)

    return {
        "order_summary_id": order_summary_id,
        "preview": preview,
        "change_orders": [
            {
                "id": None if preview else r.change_order_id,
                "kind": r.change.kind.value,
                "stage": r.stage,
                "reason": r.change.reason,
                "grand_total": money(r.change.total),
                "lines": [
                    {
                        "order_item_summary_id": line.item_key,
                        "sku": skus.get(line.item_key),
                        "quantity": line.quantity,
                        "total_price": money(line.total_price),
                        "adjustments": money(line.adjustments),
                        "tax": money(line.tax),
                        "total": money(line.total),
                    }
                    for line in r.change.lines
                ],
                "credit_memo_id": None if preview else r.credit_memo_id,
                "credited": money(r.credited),
            }
            for r in recorded
        ],
        "messages": list(messages),
        "order_summary": order_summary_view(session, order_summary_id),
    }


def reship_result(session: Session, reship: SubmittedReship, *, preview: bool) -> dict[str, Any]:
    """The answer of a reship (schemas.reships.ReshipOut); a preview leaves the id out."""
    return {
        "order_summary_id": reship.order_summary_id,
        "preview": preview,
        "reship_id": None if preview else reship.reship_id,
        "reason": reship.reason.value,
        "note": reship.note,
        "items": [reship_line_out(ln) for ln in reship.lines],
        "messages": [
            f"{sum(ln.quantity for ln in reship.lines)} unit(s) will be sent again at no "
            "charge; the replacement fulfillment orders are routed by a job"
        ],
        "order_summary": order_summary_view(session, reship.order_summary_id),
    }


def exchange_result(
    session: Session, exchange: SubmittedExchange, *, preview: bool
) -> dict[str, Any]:
    """The answer of an exchange (schemas.reships.ExchangeOut); a preview leaves ids out."""
    base = action_body(
        session,
        exchange.order_summary_id,
        exchange.recorded,
        preview=preview,
        messages=exchange.messages,
    )
    summary = base["order_summary"]
    currency = summary["currency"]
    difference = exchange.new_items_total - exchange.returned_value
    money = format_minor(abs(difference), currency)
    if difference > 0:
        then = f"{money} {currency} more will be captured when the new items ship"
    elif difference < 0:
        then = f"{money} {currency} will be refunded once the return is credited"
    else:
        then = "an even exchange: no money moves"
    return {
        "order_summary_id": exchange.order_summary_id,
        "preview": preview,
        "return_order_id": None if preview else exchange.return_order_id,
        "change_orders": base["change_orders"],
        "new_items": [
            {
                "order_item_summary_id": None if preview else item_id,
                "sku": sku,
                "quantity": quantity,
                "delivery_group": group,
            }
            for item_id, sku, quantity, group in exchange.new_items
        ],
        "returned_value": format_minor(exchange.returned_value, currency),
        "new_items_total": format_minor(exchange.new_items_total, currency),
        "difference": format_minor(difference, currency),
        "messages": [*base["messages"], then],
        "order_summary": summary,
    }
