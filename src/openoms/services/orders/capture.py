"""Capture: turn a validated order into an Order, its OrderSummary and an event, at once.

Capture runs on every order, so its writes are plain rows given to Core INSERTs built once
(repositories/orders.py): no ORM unit of work (`bench/capture.py` measures it;
docs/benchmarks.md has the figures).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from openoms.adapters.db.ids import new_id
from openoms.adapters.db.models import utcnow
from openoms.adapters.db.repositories import orders as repo
from openoms.adapters.outbox import Outbox
from openoms.domain.errors import DomainError
from openoms.domain.events import DomainEvent
from openoms.domain.money import format_minor
from openoms.domain.order import Lifecycle, OrderDraft, PricedOrder, price_order
from openoms.domain.payments import AuthorizationStatus
from openoms.domain.quantities import ItemQuantities
from openoms.domain.summary import derive_status
from openoms.services.orders.authorization_gate import queue_verification
from openoms.services.orders.automation_gate import queue_automation_gate
from openoms.services.orders.capture_routing import queue_order_routing
from openoms.services.orders.capture_stock import GroupReservation, reserve_order_stock
from openoms.services.orders.channels import capture_channel_policy


@dataclass(frozen=True, slots=True)
class CapturedRows:
    """The rows a capture inserted (as given to the INSERTs): what the 201 body is built
    from without reading the order back (views.captured_order_view)."""

    summary: dict[str, Any]
    groups: list[dict[str, Any]]
    items: list[dict[str, Any]]  # the item summaries
    payments: list[dict[str, Any]]  # the payment summaries
    authorizations: list[dict[str, Any]]


@dataclass(frozen=True, slots=True)
class CaptureResult:
    order_summary_id: str
    created: bool
    written: CapturedRows | None = None  # a new order's rows; None for a repeat


def capture_order(session: Session, outbox: Outbox, draft: OrderDraft) -> CaptureResult:
    """Capture an order, or return the summary already captured for its channel reference.

    Validation happens before anything is written, so a rejected order stores nothing; an
    order must name a configured channel (400 `channel_unknown` otherwise). The summary row
    is inserted first with ON CONFLICT DO NOTHING, so a repeat of a captured (channel,
    external_reference), or two racing captures of a new one, end with one summary and no
    error. A repeat answers with the existing summary even when the repeated draft would no
    longer validate.
    """
    session.flush()  # what the caller left pending goes first, as with any ORM query
    try:
        priced = price_order(draft)
    except DomainError:
        existing = repo.summary_id_by_reference(session, draft.channel, draft.external_reference)
        if existing is not None:
            return CaptureResult(existing, created=False)
        raise
    summary_id = new_id("os")
    summary_row = _summary_row(summary_id, priced)
    if not repo.claim_summary(session, summary_row):
        # The reference is taken by a committed summary (ON CONFLICT waits for a racing
        # one to commit): that is the answer.
        existing = repo.summary_id_by_reference(session, draft.channel, draft.external_reference)
        assert existing is not None
        return CaptureResult(existing, created=False)
    # Every order, managed or not, names a configured channel: ChannelUnknown rolls the
    # claim back (looked up after the claim, so a repeat never pays for it).
    policy, automated = capture_channel_policy(session, draft.channel)
    written = _insert_order(session, summary_row, priced)
    group_ids = [row["id"] for row in written.groups]
    reservations: list[GroupReservation] = []
    if draft.lifecycle is Lifecycle.MANAGED:
        reservations = reserve_order_stock(session, outbox, summary_id, priced, policy)
        # Routing waits for the check of reported authorizations (routing_gate_key) and for
        # the flows on `order_summary.created` (automation_gate.py), which queue it when
        # they pass; otherwise it is queued now, in this transaction.
        gated = policy.verify_authorizations and queue_verification(session, summary_id, draft)
        if automated:
            gated = queue_automation_gate(session, summary_id, utcnow()) or gated
        if not gated:
            queue_order_routing(session, summary_id, group_ids)
    outbox.record(session, [_created_event(summary_id, priced, reservations)])
    return CaptureResult(summary_id, created=True, written=written)


def _summary_row(summary_id: str, priced: PricedOrder) -> dict[str, Any]:
    draft = priced.draft
    totals = priced.totals
    items = [(i.type, ItemQuantities(ordered=i.quantity)) for i in priced.items]
    now = utcnow()
    row: dict[str, Any] = {
        "id": summary_id,
        "original_order_id": _order_id(summary_id),
        "channel": draft.channel,
        "external_reference": draft.external_reference,
        "currency": draft.currency,
        "lifecycle": draft.lifecycle.value,
        "status": derive_status(items).value,
        "ordered_at": draft.ordered_at,
        "customer_name": draft.customer.name,
        "customer_email": draft.customer.email,
        "total_product": totals.product,
        "total_delivery": totals.delivery,
        "total_adjustments": totals.adjustments,
        "total_tax": totals.tax,
        "grand_total": totals.grand_total,
        "routing_attempts": 0,
        "active_process_exception_count": 0,
        "created_at": now,
        "updated_at": now,
    }
    return row


def _order_id(summary_id: str) -> str:
    # The original order shares the summary's ULID, so either id finds the other.
    return "ord_" + summary_id.removeprefix("os_")


def _insert_order(
    session: Session, summary_row: dict[str, Any], priced: PricedOrder
) -> CapturedRows:
    """Insert the original order, its delivery groups, items and payments; returns the
    rows of the summary (`summary_row`, inserted already), its groups (by position), item
    summaries and payments."""
    summary_id = summary_row["id"]
    order_id = _order_id(summary_id)
    group_rows, group_ids = _group_rows(summary_id, priced.draft)
    item_summaries, items = _item_rows(summary_id, order_id, priced, group_ids)
    repo.insert_order(
        session, _order_row(summary_id, order_id, priced), group_rows, item_summaries, items
    )
    payments, authorizations = _insert_payments(session, summary_id, priced.draft)
    return CapturedRows(summary_row, group_rows, item_summaries, payments, authorizations)


def _order_row(summary_id: str, order_id: str, priced: PricedOrder) -> dict[str, Any]:
    draft = priced.draft
    totals = priced.totals
    return {
        "id": order_id,
        "order_summary_id": summary_id,
        "kind": "original",
        "channel": draft.channel,
        "external_reference": draft.external_reference,
        "currency": draft.currency,
        "ordered_at": draft.ordered_at,
        "total_product": totals.product,
        "total_delivery": totals.delivery,
        "total_adjustments": totals.adjustments,
        "total_tax": totals.tax,
        "grand_total": totals.grand_total,
        "order_adjustments": [
            {"amount": a.amount, "tax": a.tax, "reason": a.reason} for a in draft.adjustments
        ],
    }


def _group_rows(summary_id: str, draft: OrderDraft) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """The delivery group summary rows, and the id each group ref got."""
    groups = []
    group_ids: dict[str, str] = {}
    for position, g in enumerate(draft.delivery_groups):
        group_ids[g.ref] = new_id("odg")
        address = g.recipient.address if g.recipient else None
        groups.append(
            {
                "id": group_ids[g.ref],
                "order_summary_id": summary_id,
                "position": position,
                "ref": g.ref,
                "method": g.method.value,
                "service": g.service,
                "pickup_location": g.pickup_location,
                "recipient_name": g.recipient.name if g.recipient else None,
                "recipient_email": g.recipient.email if g.recipient else None,
                "recipient_phone": g.recipient.phone if g.recipient else None,
                "address_line1": address.line1 if address else None,
                "address_line2": address.line2 if address else None,
                "city": address.city if address else None,
                "region": address.region if address else None,
                "postal_code": address.postal_code if address else None,
                "country": address.country if address else None,
                "lat": address.lat if address else None,
                "lon": address.lon if address else None,
                "delivery_charge": g.charge,
                "delivery_charge_tax": g.charge_tax,
            }
        )
    return groups, group_ids


def _item_rows(
    summary_id: str, order_id: str, priced: PricedOrder, group_ids: dict[str, str]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The item summary rows and the order item rows, one of each per priced item."""
    summaries = []
    order_items = []
    for position, item in enumerate(priced.items):
        item_summary_id = new_id("ois")
        common = {
            "type": item.type.value,
            "sku": item.sku,
            "name": item.name,
            "unit_price": item.unit_price,
            "total_price": item.total_price,
            "adjustments": item.adjustments,
            "tax": item.tax,
        }
        summaries.append(
            {
                **common,
                "id": item_summary_id,
                "order_summary_id": summary_id,
                "delivery_group_summary_id": group_ids[item.delivery_group],
                "position": position,
                "key": item.key,
                "quantity_ordered": item.quantity,
            }
        )
        order_items.append(
            {
                **common,
                "id": new_id("oi"),
                "order_id": order_id,
                "order_item_summary_id": item_summary_id,
                "position": position,
                "quantity": item.quantity,
                "adjustment_details": [
                    {"amount": a.amount, "tax": a.tax, "reason": a.reason}
                    for a in item.adjustment_details
                ],
            }
        )
    return summaries, order_items


def _insert_payments(
    session: Session, summary_id: str, draft: OrderDraft
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Record payment authorizations as the channel reports them (gateways come later);
    returns the payment summary and authorization rows."""
    payment_summaries: list[dict[str, Any]] = []
    authorizations: list[dict[str, Any]] = []
    if not draft.payments:
        return payment_summaries, authorizations
    for position, payment in enumerate(draft.payments):
        ops_id = new_id("ops")
        payment_summaries.append(
            {
                "id": ops_id,
                "order_summary_id": summary_id,
                "position": position,
                "gateway": payment.gateway,
                "token": payment.token,
                "display": mask_token(payment.token),
                # Authorized only once a gateway said so: a bare token is authorized by
                # the worker (services/payments/authorizations.py) right after capture.
                "authorized": payment.amount if payment.authorization_reference else 0,
            }
        )
        authorizations.append(
            {
                "id": new_id("pa"),
                "order_payment_summary_id": ops_id,
                "amount": payment.amount,
                "gateway_reference": payment.authorization_reference,
                "status": (
                    AuthorizationStatus.AUTHORIZED
                    if payment.authorization_reference
                    else AuthorizationStatus.PENDING
                ).value,
            }
        )
    repo.insert_payments(session, payment_summaries, authorizations)
    return payment_summaries, authorizations


def mask_token(token: str) -> str:
    """What may be shown of a payment token: its kind and last four characters."""
    kind = token.split("_", 1)[0] if "_" in token else "token"
    return f"{kind}_…{token[-4:]}" if len(token) > 8 else f"{kind}_…"


def _created_event(
    summary_id: str, priced: PricedOrder, reservations: list[GroupReservation]
) -> DomainEvent:
    draft = priced.draft
    return DomainEvent(
        name="order_summary.created",
        aggregate_type="order_summary",
        aggregate_id=summary_id,
        order_summary_id=summary_id,
        payload={
            "order_summary_id": summary_id,
            "channel": draft.channel,
            "external_reference": draft.external_reference,
            "lifecycle": draft.lifecycle.value,
            "currency": draft.currency,
            "grand_total": format_minor(priced.totals.grand_total, draft.currency),
            "totals": {
                "product": format_minor(priced.totals.product, draft.currency),
                "delivery": format_minor(priced.totals.delivery, draft.currency),
                "adjustments": format_minor(priced.totals.adjustments, draft.currency),
                "tax": format_minor(priced.totals.tax, draft.currency),
                "grand_total": format_minor(priced.totals.grand_total, draft.currency),
            },
            "delivery_groups": [g.ref for g in draft.delivery_groups],
            "reservations": {r.delivery_group: r.reservation_id for r in reservations},
            "backordered": [
                {
                    "delivery_group": r.delivery_group,
                    "sku": s.sku,
                    "quantity": s.requested - s.available,
                }
                for r in reservations
                for s in r.backordered
            ],
        },
    )
