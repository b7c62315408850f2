"""Cancel units of an order summary (DESIGN.md §9, §12): `preview-cancel` answers what
`submit-cancel` would do, by running the very same action in a transaction that is always
rolled back, so the two can never disagree. `submit-cancel` requires an `Idempotency-Key`: a
retry with the same key replays the first answer and cancels nothing more."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from fastapi import APIRouter, Request, Response
from sqlalchemy.orm import Session

from openoms.adapters.outbox import Outbox
from openoms.api.errors import PROBLEM_JSON
from openoms.api.idempotency import RequiredIdempotencyKey
from openoms.api.service_actions import Action, Agent, preview, submit
from openoms.schemas.service_actions import ItemsActionIn, ServiceActionOut
from openoms.services.access import Principal
from openoms.services.service_actions import cancel_with_messages
from openoms.services.views import action_result, refund_baseline

router = APIRouter(prefix="/api/v1", tags=["cancels"])

PROBLEMS: dict[int | str, dict[str, Any]] = {
    status: {"description": text, "content": {PROBLEM_JSON: {}}}
    for status, text in {
        400: "An item not on the order (`order_item_summary_unknown`), a delivery charge "
        "named (`delivery_charge_cancel_invalid`: use refund_shipping), a quantity below one "
        "(`quantity_invalid`), or an Idempotency-Key problem.",
        401: "No valid API key.",
        403: "The API key lacks the agent scope.",
        404: "Unknown order summary (`order_summary_not_found`).",
        409: "More than the units not shipped yet (`cancel_exceeds_available`: return shipped "
        "units instead), or the Idempotency-Key was used for another request.",
        422: "The payload does not match the schema.",
    }.items()
}


def _cancel(summary_id: str, payload: ItemsActionIn, principal: Principal) -> Action:
    asked = replace(payload.to_cancel(), requested_by=principal.actor)

    def action(session: Session, outbox: Outbox, preview: bool) -> dict[str, Any]:
        before = refund_baseline(session, summary_id)
        recorded, messages = cancel_with_messages(session, outbox, summary_id, asked)
        return action_result(
            session,
            summary_id,
            recorded,
            preview=preview,
            refunds_before=before,
            messages=messages,
        )

    return action


@router.post(
    "/order-summaries/{summary_id}/actions/preview-cancel",
    response_model=ServiceActionOut,
    responses=PROBLEMS,
)
def preview_cancel(
    summary_id: str, payload: ItemsActionIn, request: Request, principal: Agent
) -> dict[str, Any]:
    """What `submit-cancel` with this payload would do now: its change order, what it would
    refund and the order summary after it. Changes nothing; ids are null."""
    return preview(request, _cancel(summary_id, payload, principal))


@router.post(
    "/order-summaries/{summary_id}/actions/submit-cancel",
    response_model=ServiceActionOut,
    responses=PROBLEMS,
)
def submit_cancel(
    summary_id: str,
    payload: ItemsActionIn,
    request: Request,
    response: Response,
    principal: Agent,
    idempotency_key: RequiredIdempotencyKey,
) -> dict[str, Any]:
    """Cancel units not shipped yet: unallocated units first, then units of fulfillment
    orders least advanced first (their lines shrink, their stock is released). One change
    order of kind cancel; with `refund_shipping`, each delivery group left with nothing
    ordered also gives back its delivery charge. Emits `order_summary.changed`; money
    captured beyond what is now owed is refunded by the worker."""
    action = _cancel(summary_id, payload, principal)
    return submit(request, response, principal, idempotency_key, payload, action)
