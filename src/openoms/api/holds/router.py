"""Holds on an order summary: while one is active, routing waits (services/orders/holds.py).

Both actions need the agent scope, as every other order summary action. They move no money
or stock, so an `Idempotency-Key` is optional (as on status steps); with one, a retry with
the same key replays the first answer and places or releases nothing more (without one, a
retried hold places a second hold). A key bound to channels sees an order of another
channel as unknown (404)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from sqlalchemy.orm import Session

from openoms.api.errors import PROBLEM_JSON
from openoms.api.idempotency import IdempotencyKey, answer_idempotent
from openoms.api.service_actions import Agent
from openoms.schemas.holds import HoldActionOut, HoldIn, ReleaseHoldIn
from openoms.services.orders import hold_view, is_held, place_hold, release_hold

router = APIRouter(prefix="/api/v1", tags=["holds"])


def _problems(conflict: str) -> dict[int | str, dict[str, Any]]:
    return {
        status: {"description": text, "content": {PROBLEM_JSON: {}}}
        for status, text in {
            400: "A blank reason (`hold_reason_required`), or an Idempotency-Key problem.",
            401: "No valid API key.",
            403: "The API key lacks the agent scope.",
            404: "Unknown order summary (`order_summary_not_found`).",
            409: f"{conflict}, or the Idempotency-Key was used for another request.",
            422: "The payload does not match the schema.",
        }.items()
    }


@router.post(
    "/order-summaries/{summary_id}/actions/hold",
    status_code=201,
    response_model=HoldActionOut,
    responses=_problems(
        "The order is FULFILLED, CANCELED or CLOSED: nothing is left to route "
        "(`order_not_holdable`)"
    ),
)
def hold(
    summary_id: str,
    payload: HoldIn,
    request: Request,
    response: Response,
    principal: Agent,
    idempotency_key: IdempotencyKey = None,
) -> dict[str, Any]:
    """Hold the order: no delivery group of it is routed until every hold is released.
    Routing done before the hold stays (its fulfillment orders are not undone); an order may
    carry several holds. Emits `order_summary.held`; answers 201 with the hold."""
    outbox = request.app.state.outbox

    def operation(session: Session) -> tuple[int, dict[str, Any]]:
        placed = place_hold(
            session,
            outbox,
            order_summary_id=summary_id,
            reason=payload.reason,
            held_by=principal.actor,
        )
        session.flush()
        return 201, {"order_summary_id": summary_id, "holds": [hold_view(placed)], "on_hold": True}

    body = payload.model_dump(mode="json")
    return answer_idempotent(request, response, principal, idempotency_key, body, operation)


@router.post(
    "/order-summaries/{summary_id}/actions/release-hold",
    response_model=HoldActionOut,
    responses=_problems(
        "`hold_id` is not an active hold of the order, or it has none (`hold_not_active`)"
    ),
)
def release(
    summary_id: str,
    request: Request,
    response: Response,
    principal: Agent,
    payload: ReleaseHoldIn | None = None,
    idempotency_key: IdempotencyKey = None,
) -> dict[str, Any]:
    """Release the hold `hold_id`, or every active hold when it is absent. Emits
    `order_summary.released` for each; when none is left active the order's routing is
    queued at once (the groups a rejection or new stock asked to route while it was held
    included). The body may be left out: every active hold is released."""
    outbox = request.app.state.outbox
    payload = payload or ReleaseHoldIn()

    def operation(session: Session) -> tuple[int, dict[str, Any]]:
        released = release_hold(
            session,
            outbox,
            order_summary_id=summary_id,
            released_by=principal.actor,
            hold_id=payload.hold_id,
            reason=payload.reason,
        )
        session.flush()
        return 200, {
            "order_summary_id": summary_id,
            "holds": [hold_view(h) for h in released],
            "on_hold": is_held(session, summary_id),
        }

    body = payload.model_dump(mode="json")
    return answer_idempotent(request, response, principal, idempotency_key, body, operation)
