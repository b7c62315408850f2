"""Reship and exchange actions on an order summary (DESIGN.md §9, §12).

Each submit requires an `Idempotency-Key` and runs through `answer_idempotent` (a retry
with the key replays the first answer and changes nothing); each preview runs the very
same service in `db.rehearsal()` and answers before the rollback, so a preview can never
disagree with the submit.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from sqlalchemy.orm import Session

from openoms.adapters.outbox import Outbox
from openoms.api.errors import PROBLEM_JSON
from openoms.api.idempotency import RequiredIdempotencyKey
from openoms.api.service_actions import Action, Agent, preview, submit
from openoms.schemas.reships import ExchangeIn, ExchangeOut, ReshipIn, ReshipOut
from openoms.services.service_actions import (
    ExchangeReturn,
    NewItem,
    ReshipRequest,
    submit_exchange,
    submit_reship,
)
from openoms.services.views import exchange_result, reship_result

router = APIRouter(prefix="/api/v1", tags=["reships"])

PROBLEMS: dict[int | str, dict[str, Any]] = {
    status: {"description": text, "content": {PROBLEM_JSON: {}}}
    for status, text in {
        400: "A business rule is broken (stable `code`).",
        401: "No valid API key.",
        403: "The API key lacks the scope.",
        404: "No such order summary.",
        409: "Not available: e.g. `reship_exceeds_available`, with the numbers.",
        422: "The payload does not match the schema.",
    }.items()
}


# --- reship -------------------------------------------------------------------------------


def _reship(summary_id: str, payload: ReshipIn, by: str) -> Action:
    """The reship as a service action; `by` asks (in a preview too, so the
    two answer alike)."""
    requests = [ReshipRequest(i.order_item_summary_id, i.quantity, i.reason) for i in payload.items]

    def action(session: Session, outbox: Outbox, preview: bool) -> dict[str, Any]:
        reship = submit_reship(
            session,
            outbox,
            summary_id,
            requests,
            reason=payload.reason,
            note=payload.note,
            requested_by=by,
        )
        return reship_result(session, reship, preview=preview)

    return action


@router.post(
    "/order-summaries/{summary_id}/actions/preview-reship",
    response_model=ReshipOut,
    responses=PROBLEMS,
)
def preview_reship(
    summary_id: str, payload: ReshipIn, request: Request, principal: Agent
) -> dict[str, Any]:
    """What `submit-reship` would do, changing nothing."""
    return preview(request, _reship(summary_id, payload, principal.actor))


@router.post(
    "/order-summaries/{summary_id}/actions/submit-reship",
    response_model=ReshipOut,
    responses=PROBLEMS,
)
def submit_reship_action(
    summary_id: str,
    payload: ReshipIn,
    request: Request,
    response: Response,
    principal: Agent,
    idempotency_key: RequiredIdempotencyKey,
) -> dict[str, Any]:
    """Send replacement units at no charge for goods lost or damaged: at most each item's
    quantity_available_to_reship (fulfilled − (reshipped + return_initiated)), else 409
    `reship_exceeds_available`. quantity_reshipped rises now; the routing job makes the
    reship fulfillment orders (type reship, never invoiced). Emits `order_summary.reshipped`."""
    action = _reship(summary_id, payload, principal.actor)
    return submit(request, response, principal, idempotency_key, payload, action)


# --- exchange -----------------------------------------------------------------------------


def _exchange(summary_id: str, payload: ExchangeIn, by: str) -> Action:
    """The exchange as a service action; `by` asks (in a preview too, so the
    two answer alike)."""
    returns = [
        ExchangeReturn(i.order_item_summary_id, i.quantity, i.reason) for i in payload.return_items
    ]
    new_items = [
        NewItem(
            sku=i.sku,
            quantity=i.quantity,
            unit_price=i.unit_price,
            tax=i.tax,
            name=i.name,
            delivery_group=i.delivery_group,
        )
        for i in payload.new_items
    ]

    def action(session: Session, outbox: Outbox, preview: bool) -> dict[str, Any]:
        exchange = submit_exchange(
            session,
            outbox,
            summary_id,
            returns,
            new_items,
            reason=payload.reason,
            expected_location=payload.expected_location,
            requested_by=by,
        )
        return exchange_result(session, exchange, preview=preview)

    return action


@router.post(
    "/order-summaries/{summary_id}/actions/preview-exchange",
    response_model=ExchangeOut,
    responses=PROBLEMS,
)
def preview_exchange(
    summary_id: str, payload: ExchangeIn, request: Request, principal: Agent
) -> dict[str, Any]:
    """What `submit-exchange` would do, changing nothing."""
    return preview(request, _exchange(summary_id, payload, principal.actor))


@router.post(
    "/order-summaries/{summary_id}/actions/submit-exchange",
    response_model=ExchangeOut,
    responses=PROBLEMS,
)
def submit_exchange_action(
    summary_id: str,
    payload: ExchangeIn,
    request: Request,
    response: Response,
    principal: Agent,
    idempotency_key: RequiredIdempotencyKey,
) -> dict[str, Any]:
    """Return items and order others in one action: a return order for the returned units
    (credited when received) and an ADD change order for the new items, routed like an
    order. The return's credit pays for the new items' invoice first; only the difference
    is captured (dearer) or refunded (cheaper), an even exchange moves no money."""
    action = _exchange(summary_id, payload, principal.actor)
    return submit(request, response, principal, idempotency_key, payload, action)
