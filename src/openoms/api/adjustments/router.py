"""Discounts on items of an order summary (DESIGN.md §9, §12), as Salesforce's
adjustItemPreview / adjustItemSubmit: `adjust-item-preview` runs the very same action as
`adjust-item-submit` in a transaction that is always rolled back, so the two can never
disagree. `adjust-item-submit` requires an `Idempotency-Key`: a retry with the same key replays
the first answer and discounts nothing more."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from fastapi import APIRouter, Request, Response
from sqlalchemy.orm import Session

from openoms.adapters.outbox import Outbox
from openoms.api.errors import PROBLEM_JSON
from openoms.api.idempotency import RequiredIdempotencyKey
from openoms.api.service_actions import Action, Agent, preview, submit
from openoms.schemas.service_actions import AdjustItemsIn, ServiceActionOut
from openoms.services.access import Principal
from openoms.services.service_actions import submit_adjustments
from openoms.services.views import action_result, refund_baseline

router = APIRouter(prefix="/api/v1", tags=["adjustments"])

PROBLEMS: dict[int | str, dict[str, Any]] = {
    status: {"description": text, "content": {PROBLEM_JSON: {}}}
    for status, text in {
        400: "An item not on the order (`order_item_summary_unknown`), or not a discount the "
        "item can bear (`discount_invalid`: an amount that is not negative, a percentage "
        "outside (0, 100], more than the item is worth), or an Idempotency-Key problem.",
        401: "No valid API key.",
        403: "The API key lacks the agent scope.",
        404: "Unknown order summary (`order_summary_not_found`).",
        409: "The Idempotency-Key was used for another request.",
        422: "The payload does not match the schema.",
    }.items()
}


def _adjust(summary_id: str, payload: AdjustItemsIn, principal: Principal) -> Action:
    asked = replace(payload.to_adjustments(), requested_by=principal.actor)

    def action(session: Session, outbox: Outbox, preview: bool) -> dict[str, Any]:
        before = refund_baseline(session, summary_id)
        recorded = submit_adjustments(session, outbox, summary_id, asked)
        return action_result(session, summary_id, recorded, preview=preview, refunds_before=before)

    return action


@router.post(
    "/order-summaries/{summary_id}/actions/adjust-item-preview",
    response_model=ServiceActionOut,
    responses=PROBLEMS,
)
def adjust_item_preview(
    summary_id: str, payload: AdjustItemsIn, request: Request, principal: Agent
) -> dict[str, Any]:
    """What `adjust-item-submit` with this payload would do now: its change orders by
    stage, what it would refund and the order summary after it. Changes nothing; ids are
    null."""
    return preview(request, _adjust(summary_id, payload, principal))


@router.post(
    "/order-summaries/{summary_id}/actions/adjust-item-submit",
    response_model=ServiceActionOut,
    responses=PROBLEMS,
)
def adjust_item_submit(
    summary_id: str,
    payload: AdjustItemsIn,
    request: Request,
    response: Response,
    principal: Agent,
    idempotency_key: RequiredIdempotencyKey,
) -> dict[str, Any]:
    """Discount items: up to three change orders of kind adjust (pre_fulfillment,
    in_fulfillment, post_fulfillment). What was already invoiced is credited on a credit
    memo and refunded by the worker; the rest lowers what later invoices bill. Emits
    `order_summary.changed`."""
    action = _adjust(summary_id, payload, principal)
    return submit(request, response, principal, idempotency_key, payload, action)
