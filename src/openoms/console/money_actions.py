"""Actions on the order page that give money back, each previewed then confirmed
(previews.py) with the API's services:

- a discount (`discount`, agents and admin): per line a percentage or an amount off, as
  the API's `adjust-item-preview` / `adjust-item-submit`;
- a refund (`refund`, agents, finance and admin): an amount given back on one payment
  method with no credit memo (goodwill, price match), as the API's
  `payment-summaries/{id}/actions/refund` — which the API's agent scope may do, so agents
  may here too; finance, who read the order, may also move this money. The preview plans
  the refund over the captures in a rolled-back transaction; the confirm records the
  pending refunds (requested by `user:<email>`), commits, then calls the gateway outside
  any transaction, as the API does.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request
from starlette.datastructures import FormData

from openoms.adapters.payments import Gateways, default_gateways
from openoms.console.action_forms import NothingChosen, text
from openoms.console.auth import MONEY_ACTIONS, ORDER_ACTIONS
from openoms.console.previews import Context, PreviewedAction, outbox_of, register
from openoms.domain.errors import ValidationFailed
from openoms.domain.money import Money, format_minor
from openoms.services import payments
from openoms.services.service_actions import AdjustItems, ItemAdjustment, submit_adjustments
from openoms.services.views import action_result, order_summary_view

DISCOUNT_TYPES = ("percentage", "amount_with_tax", "amount_without_tax")


def discount(context: Context, form: FormData) -> dict[str, Any]:
    """Discount lines (the API's `adjust-item-submit`)."""
    items = []
    for name, value in form.multi_items():
        if not name.startswith("amount.") or not isinstance(value, str) or not value.strip():
            continue
        item_id = name.removeprefix("amount.")
        kind = text(form, f"discount_type.{item_id}") or "percentage"
        if kind not in DISCOUNT_TYPES:
            raise ValidationFailed(
                f"discount type must be one of {', '.join(DISCOUNT_TYPES)}, not {kind!r}",
                field="discount_type",
            )
        items.append(ItemAdjustment(item_id, kind, value.strip()[:40], None))
    if not items:
        raise NothingChosen("give at least one line a discount", field="amount")
    recorded = submit_adjustments(
        context.session,
        context.outbox,
        context.summary_id,
        AdjustItems(tuple(items), text(form, "reason"), context.visitor.identity.actor),
    )
    return action_result(
        context.session,
        context.summary_id,
        recorded,
        preview=context.preview,
        refunds_before=context.refunds_before,
    )


def refund(context: Context, form: FormData) -> dict[str, Any]:
    """Plan (preview) or record (confirm) the refund of an amount on one payment method."""
    summary = order_summary_view(context.session, context.summary_id)
    amount = Money.parse(text(form, "amount", limit=40) or "", summary["currency"])
    payment_summary_id = text(form, "payment_summary_id", limit=60) or ""
    ids = payments.prepare_refund(
        context.session,
        context.outbox,
        context.summary_id,
        payment_summary_id,
        amount,
        text(form, "reason"),
        requested_by=context.visitor.identity.actor,
    )
    context.session.flush()
    return {
        "refund_ids": ids,
        "payment_summary_id": payment_summary_id,
        "refunds": payments.refund_views(context.session, ids),
        "to_refund": format_minor(amount.minor, summary["currency"]),
        "order_summary": order_summary_view(context.session, context.summary_id),
    }


def send_refund(request: Request, summary_id: str, result: dict[str, Any]) -> None:
    """After the confirm's commit: send the recorded refunds to the gateway (no transaction
    open) and settle them. Refused for good: the API's 402 sentence."""
    ids: list[str] = result["refund_ids"]
    db = request.app.state.db
    payments.send_pending_refunds(db, outbox_of(request), gateways_of(request), summary_id, ids)
    with db.reading() as session:
        sent = payments.refund_views(session, ids)
    if any(r["status"] == "FAILED" for r in sent):
        done = [r["amount"] for r in sent if r["status"] != "FAILED"]
        moved = f"{' + '.join(done)} was refunded" if done else "nothing was refunded"
        raise payments.RefundDeclined(
            f"the gateway refused the refund on payment summary {result['payment_summary_id']}; "
            f"{moved}",
            refund_ids=ids,
        )


def gateways_of(request: Request) -> Gateways:
    """The app's payment gateways (those the API uses: made once, on first use)."""
    app = request.app
    gateways: Gateways | None = getattr(app.state, "gateways", None)
    if gateways is None:
        gateways = app.state.gateways = default_gateways(app.state.db)
        gateways.instrument(app.state.metrics.gateway)
    return gateways


register(
    "discount",
    PreviewedAction("Discount", "Confirm the discount", "discounted", ORDER_ACTIONS, discount),
)
register(
    "refund",
    PreviewedAction(
        "Refund", "Confirm the refund", "refunded", MONEY_ACTIONS, refund, after=send_refund
    ),
)
