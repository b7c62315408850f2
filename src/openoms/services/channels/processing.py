"""Processing a stored delivery (the `process_channel_delivery` job), once.

- `orders/create`: map the order (domain/shopify.py), check its totals against Shopify's,
  and capture it through the same `capture_order` the API uses (reservation, routing,
  events). A replay of the same Shopify order under another webhook id finds the order
  captured for (channel, Shopify order id) and makes no second one.
- `orders/cancelled`: record the refunds the order carries, then cancel every unit of the
  order not shipped yet.
  Its payment follows `financial_status` (`order_payment`): an authorization through the
  `shopify` gateway, recorded captured too when Shopify says `paid`, none when `pending`.
- `refunds/create`: record Shopify's refund against the order's payments (money Shopify
  already gave back: never sent again) and on its timeline, once per Shopify refund id.
- any other topic: stored and marked ignored.

A delivery openoms cannot take (a refused mapping, totals that differ, a capture refused)
changes nothing but the delivery's status, and raises a high-severity `channel` process
exception naming why; an agent's retry runs the job again, and its success resolves it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from sqlalchemy.orm import Session

from openoms.adapters.db import models as m
from openoms.adapters.db.models import utcnow
from openoms.adapters.db.repositories import channels as repo
from openoms.adapters.jobs import JobContext, JobKind, Reschedule
from openoms.adapters.outbox import Outbox
from openoms.domain.errors import DomainError, ValidationFailed
from openoms.domain.fulfillment import ProcessExceptionCategory
from openoms.domain.money import format_minor
from openoms.domain.shopify import (
    check_totals,
    made_by_openoms,
    order_draft,
    order_payment,
    order_reference,
    refund_amount,
)
from openoms.services.channels.inbox import INBOX_JOB, inbox_job_key
from openoms.services.exceptions import raise_exception, resolve_exception, retry_action
from openoms.services.orders import add_note, capture_order
from openoms.services.payments import record_external_capture, record_external_refund
from openoms.services.service_actions import cancel_open_units

Topic = Callable[[Session, Outbox, m.ChannelInboxDelivery, dict[str, Any]], str]


class DeliveryUnreadable(ValidationFailed):
    code = "channel_delivery_unreadable"
    title = "Webhook delivery cannot be read"


class OrderNotCaptured(ValidationFailed):
    code = "channel_order_not_captured"
    title = "No order was captured for this platform order"


def exception_key(delivery_id: int) -> str:
    return f"channel_delivery:{delivery_id}"


def process_delivery(session: Session, outbox: Outbox, delivery_id: int) -> None:
    """Process a stored delivery (see the module docstring); a processed or ignored one is
    left alone, a refused one is tried again (an agent's retry)."""
    delivery = repo.delivery(session, delivery_id, lock=True)
    if delivery is None or delivery.status in ("processed", "ignored"):
        return
    handler = TOPICS.get(delivery.topic)
    if handler is None:
        _finish(delivery, "ignored", f"topic {delivery.topic!r} is not one openoms acts on")
        return
    try:
        payload = _payload(delivery)
        with session.begin_nested():  # a refusal rolls back to here, and only it
            outcome = handler(session, outbox, delivery, payload)
    except DomainError as exc:
        _refuse(session, outbox, delivery, exc)
        return
    _finish(delivery, "processed", outcome)
    resolve_exception(session, outbox, exception_key(delivery.id), note=outcome)


def _order_created(
    session: Session, outbox: Outbox, delivery: m.ChannelInboxDelivery, payload: dict[str, Any]
) -> str:
    mapped = order_draft(payload, channel=delivery.channel)
    priced = check_totals(mapped, payload)
    total = priced.totals.grand_total
    payment = order_payment(payload, channel=delivery.channel, total=total)
    draft = mapped.draft
    if payment.method is not None:
        draft = replace(draft, payments=(payment.method,))
    result = capture_order(session, outbox, draft)
    delivery.order_summary_id = result.order_summary_id
    if not result.created:
        return f"order {result.order_summary_id} was captured before for this Shopify order"
    money = f"{format_minor(total, draft.currency)} {draft.currency}"
    if payment.method is None:
        return f"captured as {result.order_summary_id}, {money}, on account (payment pending)"
    if payment.captured and payment.capture_reference:
        record_external_capture(session, outbox, result.order_summary_id, payment.capture_reference)
        return f"captured as {result.order_summary_id}, {money}, paid in Shopify"
    return f"captured as {result.order_summary_id}, {money}, authorized in Shopify"


def _order_cancelled(
    session: Session, outbox: Outbox, delivery: m.ChannelInboxDelivery, payload: dict[str, Any]
) -> str:
    summary = _summary(session, delivery)
    # The order's refunds first (Shopify cancels and refunds together): recorded before the
    # cancel makes the money excess, so openoms never refunds it a second time.
    refunds = payload.get("refunds")
    for refund in refunds if isinstance(refunds, list) else []:
        if isinstance(refund, dict):
            _record_refund(session, outbox, delivery, summary, refund)
    why = payload.get("cancel_reason") or "no reason given"
    changes = cancel_open_units(
        session,
        outbox,
        summary.id,
        reason=f"cancelled in Shopify ({why})",
        refund_shipping=True,
    )
    if not changes:
        return "nothing left to cancel: every unit had shipped or was canceled"
    total = format_minor(sum(c.change.total for c in changes), summary.currency)
    return f"canceled what had not shipped of {summary.id}: {total} {summary.currency}"


def _refund_created(
    session: Session, outbox: Outbox, delivery: m.ChannelInboxDelivery, payload: dict[str, Any]
) -> str:
    return _record_refund(session, outbox, delivery, _summary(session, delivery), payload)


def _record_refund(
    session: Session,
    outbox: Outbox,
    delivery: m.ChannelInboxDelivery,
    summary: m.OrderSummary,
    payload: dict[str, Any],
) -> str:
    """Record one Shopify refund against the order's payments and note it, once per refund
    id (a `refunds/create` body, or one of an order's `refunds`)."""
    refund_id = payload.get("id")
    if isinstance(refund_id, bool) or not isinstance(refund_id, int | str) or not str(refund_id):
        raise DeliveryUnreadable("the refund has no id", field="id")
    refunded = refund_amount(payload, summary.currency)
    amount = format_minor(refunded, summary.currency)
    if made_by_openoms(payload):  # recorded when openoms sent it through the shopify gateway
        return f"Shopify refund {refund_id} ({amount} {summary.currency}) was made by openoms"
    note = f"Shopify refund {refund_id}: {amount} {summary.currency} refunded in Shopify"
    source = f"{delivery.channel}:shopify-refund:{refund_id}"
    recorded = record_external_refund(
        session,
        outbox,
        summary.id,
        source=source,
        amount=refunded,
        reference=_refund_reference(payload),
    )
    if recorded == 0 and refunded > 0:
        return f"Shopify refund {refund_id} was recorded before"
    if recorded is None:  # an order on account: no payment of openoms to record it against
        note += " (order on account: noted only)"
    add_note(session, outbox, order_summary_id=summary.id, note=note, author="shopify")
    return note


def _refund_reference(payload: dict[str, Any]) -> str | None:
    """The id of the refund's first successful refund transaction, if it has one."""
    for transaction in payload.get("transactions") or []:
        if (
            isinstance(transaction, dict)
            and transaction.get("kind") == "refund"
            and transaction.get("status") in (None, "success")
            and transaction.get("id") is not None
        ):
            return str(transaction["id"])[:200]
    return None


TOPICS: dict[str, Topic] = {
    "orders/create": _order_created,
    "orders/cancelled": _order_cancelled,
    "refunds/create": _refund_created,
}


def _payload(delivery: m.ChannelInboxDelivery) -> dict[str, Any]:
    try:
        payload = json.loads(delivery.body)
    except ValueError:
        raise DeliveryUnreadable("the body is not JSON", field="body") from None
    if not isinstance(payload, dict):
        raise DeliveryUnreadable("the body is not a JSON object", field="body")
    key = "order_id" if delivery.topic == "refunds/create" else "id"
    delivery.external_reference = order_reference({"id": payload.get(key)})
    name = payload.get("name")
    if delivery.topic != "refunds/create" and isinstance(name, str | int):
        delivery.order_name = str(name)[:100]
    return payload


def _summary(session: Session, delivery: m.ChannelInboxDelivery) -> m.OrderSummary:
    reference = delivery.external_reference or ""
    summary = repo.summary_by_reference(session, delivery.channel, reference)
    if summary is None:
        raise OrderNotCaptured(
            f"no order was captured for Shopify order {reference} on channel {delivery.channel!r}",
            field="id",
        )
    delivery.order_summary_id = summary.id
    return summary


def _finish(delivery: m.ChannelInboxDelivery, status: str, outcome: str) -> None:
    delivery.status = status
    delivery.outcome = outcome
    delivery.processed_at = utcnow()


def _refuse(
    session: Session, outbox: Outbox, delivery: m.ChannelInboxDelivery, exc: DomainError
) -> None:
    _finish(delivery, "refused", f"{exc.code}: {exc.detail}")
    order = delivery.order_name or delivery.external_reference or "?"
    raise_exception(
        session,
        outbox,
        order_summary_id=delivery.order_summary_id,
        category=ProcessExceptionCategory.CHANNEL,
        severity="high",
        dedupe_key=exception_key(delivery.id),
        message=(
            f"Shopify {delivery.topic} for order {order} on channel {delivery.channel!r} "
            f"was not applied: {exc.detail}"
        ),
        action=retry_action(
            INBOX_JOB,
            {"delivery_id": delivery.id, "code": exc.code, "field": exc.field},
            key=inbox_job_key(delivery.id),
            retry_payload={"delivery_id": delivery.id},
        ),
    )


def inbox_job() -> JobKind:
    """The `process_channel_delivery` job: one stored delivery, in one transaction."""

    def handler(
        context: JobContext, session: Session, payload: dict[str, Any]
    ) -> Reschedule | None:
        process_delivery(session, context.outbox, int(payload["delivery_id"]))
        return None

    return JobKind(handler=handler)
