"""Returns (DESIGN.md §4, §9, §12): return orders (RMAs) and their lifecycle actions, and the
simple return (`preview-return` / `submit-return`) of units already back.

Every POST but the preview requires an `Idempotency-Key` (each may move stock or money): a
retry with the same key replays the first answer and changes nothing. A preview runs the
very same submit in a rehearsal that is always rolled back, so it can never disagree with
the submit.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from sqlalchemy.orm import Session

from openoms.adapters.db.session import Database
from openoms.adapters.outbox import Outbox
from openoms.api.auth import require_scope
from openoms.api.cursors import decode_cursor, encode_cursor
from openoms.api.deps import get_db
from openoms.api.errors import PROBLEM_JSON
from openoms.api.idempotency import RequiredIdempotencyKey, answer_idempotent
from openoms.api.params import WHOLE_NUMBER
from openoms.api.service_actions import Action as ServiceAction
from openoms.api.service_actions import preview, submit
from openoms.domain.returns import ReturnOrderStatus
from openoms.schemas.returns import (
    CancelIn,
    ReceiveIn,
    ReturnOrderCreate,
    ReturnOrderOut,
    ReturnOrderPage,
    SubmitReturnIn,
    SubmitReturnOut,
)
from openoms.services import returns as service
from openoms.services import views
from openoms.services.access import Principal, Scope
from openoms.services.returns import ReturnOutcome
from openoms.services.views import action_result, refund_baseline

router = APIRouter(prefix="/api/v1", tags=["returns"])

PROBLEMS: dict[int | str, dict[str, Any]] = {
    status: {"description": text, "content": {PROBLEM_JSON: {}}}
    for status, text in {
        400: "A business rule is broken (stable `code`).",
        401: "No valid API key.",
        403: "The API key lacks the scope.",
        404: "No such return order or order summary.",
        409: "Conflicts with the current state (e.g. `return_exceeds_available`, "
        "`illegal_transition`).",
        422: "The payload does not match the schema.",
    }.items()
}

Agent = Annotated[Principal, Depends(require_scope(Scope.AGENT))]
Receiver = Annotated[Principal, Depends(require_scope(Scope.AGENT, Scope.WAREHOUSE))]
Db = Annotated[Database, Depends(get_db)]
Action = Literal["submit", "approve", "mark-in-transit", "close"]

# (session, outbox, return order id, by) → what the move did
_ACTIONS: dict[str, Callable[[Session, Outbox, str, str], ReturnOutcome]] = {
    "submit": lambda s, o, i, by: service.submit_return_order(s, o, i, by=by),
    "approve": lambda s, o, i, by: service.approve_return_order(s, o, i, by=by),
    "mark-in-transit": lambda s, o, i, by: service.mark_return_in_transit(s, o, i, by=by),
    "close": lambda s, o, i, by: service.close_return_order(s, o, i, by=by),
}


def _answer(session: Session, outcome: ReturnOutcome) -> dict[str, Any]:
    session.flush()
    body = views.get_return_order(session, outcome.return_order_id)
    return {**body, "messages": list(outcome.messages)}


@router.post("/return-orders", status_code=201, response_model=ReturnOrderOut, responses=PROBLEMS)
def create_return_order(
    payload: ReturnOrderCreate,
    request: Request,
    response: Response,
    principal: Agent,
    idempotency_key: RequiredIdempotencyKey,
) -> dict[str, Any]:
    """Open an RMA: the items expected back (each at most its quantity available to return:
    shipped and not already being returned). Submitted at once unless `submit` is false;
    lines under the channel's returnless threshold are refunded at once and not expected
    back (see `messages`). Nothing else is refunded until the return reaches its
    refund-eligible status; then, with `refund_shipping`, so is the delivery charge of each
    group left with nothing kept or to ship."""
    outbox = request.app.state.outbox
    status = ReturnOrderStatus.SUBMITTED if payload.submit else ReturnOrderStatus.DRAFT

    def operation(session: Session) -> tuple[int, dict[str, Any]]:
        outcome = service.create_return_order(
            session,
            outbox,
            payload.order_summary_id,
            payload.lines(),
            reason=payload.reason,
            expected_location=payload.expected_location,
            status=status,
            refund_shipping=payload.refund_shipping,
            by=principal.actor,
        )
        return 201, _answer(session, outcome)

    body = payload.model_dump(mode="json")
    return answer_idempotent(
        request, response, principal, idempotency_key, body, operation, required=True
    )


@router.get("/return-orders/{return_order_id}", response_model=ReturnOrderOut, responses=PROBLEMS)
def get_return_order(return_order_id: str, _: Receiver, db: Db) -> dict[str, Any]:
    """One return order with its lines and receipts."""
    with db.reading() as session:
        return views.get_return_order(session, return_order_id)


@router.get("/return-orders", response_model=ReturnOrderPage, responses=PROBLEMS)
def list_return_orders(
    _: Receiver,
    db: Db,
    order_summary_id: str | None = None,
    status: ReturnOrderStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=200), WHOLE_NUMBER] = 50,
    cursor: Annotated[str | None, Query(description="next_cursor of the previous page.")] = None,
) -> dict[str, Any]:
    """Return orders oldest first, optionally of one order summary and/or in one status."""
    with db.reading() as session:
        rows = views.list_return_orders(
            session,
            order_summary_id=order_summary_id,
            status=status.value if status else None,
            after_id=decode_cursor(cursor, prefix="ro_"),
            limit=limit + 1,
        )
    page = rows[:limit]
    more = len(rows) > limit
    return {"items": page, "next_cursor": encode_cursor(page[-1]["id"]) if more else None}


@router.post(
    "/return-orders/{return_order_id}/actions/receive",
    response_model=ReturnOrderOut,
    responses=PROBLEMS,
)
def receive_return_order(
    return_order_id: str,
    payload: ReceiveIn,
    request: Request,
    response: Response,
    principal: Receiver,
    idempotency_key: RequiredIdempotencyKey,
) -> dict[str, Any]:
    """Record units that arrived (APPROVED or IN_TRANSIT returns): restocked at the receiving
    location, or written off as damaged or discarded. The return is RECEIVED once nothing is
    expected any more; refunds follow its refund-eligible status."""
    outbox = request.app.state.outbox

    def operation(session: Session) -> tuple[int, dict[str, Any]]:
        outcome = service.receive(
            session, outbox, return_order_id, payload.lines(), by=principal.actor
        )
        return 200, _answer(session, outcome)

    body = payload.model_dump(mode="json")
    return answer_idempotent(
        request, response, principal, idempotency_key, body, operation, required=True
    )


@router.post(
    "/return-orders/{return_order_id}/actions/cancel",
    response_model=ReturnOrderOut,
    responses=PROBLEMS,
)
def cancel_return_order(
    return_order_id: str,
    request: Request,
    response: Response,
    principal: Agent,
    idempotency_key: RequiredIdempotencyKey,
    payload: CancelIn | None = None,
) -> dict[str, Any]:
    """Cancel units still expected back (all of them without `items`), giving their return
    initiated back. Nothing left expected: the return is CANCELED, or RECEIVED when some units
    did arrive (those are refunded)."""
    outbox = request.app.state.outbox
    payload = payload or CancelIn()
    lines = (
        [(i.return_order_line_item_id, i.quantity) for i in payload.items]
        if payload.items
        else None
    )

    def operation(session: Session) -> tuple[int, dict[str, Any]]:
        outcome = service.cancel_return_order(
            session, outbox, return_order_id, lines, by=principal.actor
        )
        return 200, _answer(session, outcome)

    body = payload.model_dump(mode="json")
    return answer_idempotent(
        request, response, principal, idempotency_key, body, operation, required=True
    )


@router.post(
    "/return-orders/{return_order_id}/actions/{action}",
    response_model=ReturnOrderOut,
    responses=PROBLEMS,
)
def move_return_order(
    return_order_id: str,
    action: Action,
    request: Request,
    response: Response,
    principal: Agent,
    idempotency_key: RequiredIdempotencyKey,
) -> dict[str, Any]:
    """Move the return along its lifecycle: `submit` (DRAFT → SUBMITTED), `approve`
    (SUBMITTED → APPROVED), `mark-in-transit` (APPROVED → IN_TRANSIT), `close` (RECEIVED →
    CLOSED). Any other move is 409 `illegal_transition`, naming the allowed ones."""
    outbox = request.app.state.outbox
    run = _ACTIONS[action]

    def operation(session: Session) -> tuple[int, dict[str, Any]]:
        return 200, _answer(session, run(session, outbox, return_order_id, principal.actor))

    return answer_idempotent(
        request, response, principal, idempotency_key, {}, operation, required=True
    )


# --- simple return ------------------------------------------------------------------------


def _simple_return(summary_id: str, payload: SubmitReturnIn, by: str) -> ServiceAction:
    """The simple return as a service action; `by` acts (in a preview too, so the
    two answer alike)."""

    def action(session: Session, outbox: Outbox, preview: bool) -> dict[str, Any]:
        before = refund_baseline(session, summary_id)
        outcome = service.submit_return(
            session,
            outbox,
            summary_id,
            payload.lines(),
            reason=payload.reason,
            location=payload.location,
            refund_shipping=payload.refund_shipping,
            by=by,
        )
        return _simple_body(session, outcome, preview=preview, refunds_before=before)

    return action


def _simple_body(
    session: Session, outcome: ReturnOutcome, *, preview: bool, refunds_before: int
) -> dict[str, Any]:
    session.flush()
    body = action_result(
        session,
        outcome.order_summary_id,
        outcome.recorded,
        preview=preview,
        refunds_before=refunds_before,
        messages=outcome.messages,
    )
    return_order = views.get_return_order(session, outcome.return_order_id)
    if preview:  # nothing was made: no ids
        return_order = {
            **return_order,
            "id": None,
            "lines": [{**line, "id": None} for line in return_order["lines"]],
        }
    return {**body, "return_order": return_order}


@router.post(
    "/order-summaries/{summary_id}/actions/preview-return",
    response_model=SubmitReturnOut,
    responses=PROBLEMS,
)
def preview_return(
    summary_id: str, payload: SubmitReturnIn, request: Request, principal: Agent
) -> dict[str, Any]:
    """What `submit-return` would do, changing nothing: the same action run in a rehearsal
    that is rolled back."""
    return preview(request, _simple_return(summary_id, payload, principal.actor))


@router.post(
    "/order-summaries/{summary_id}/actions/submit-return",
    response_model=SubmitReturnOut,
    responses=PROBLEMS,
)
def submit_return(
    summary_id: str,
    payload: SubmitReturnIn,
    request: Request,
    response: Response,
    principal: Agent,
    idempotency_key: RequiredIdempotencyKey,
) -> dict[str, Any]:
    """Return units already back (in store): one RMA created, approved and received at once,
    with restock at `location` or write-off, the return change order and its credit memo
    (refunded by ensure-refunds), returnless lines refunded without receipts, the return
    fee, and (`refund_shipping`) delivery charges of groups that came back whole."""
    action = _simple_return(summary_id, payload, principal.actor)
    return submit(request, response, principal, idempotency_key, payload, action)
