"""Returns on the order page, for agents (and admin), each previewed then confirmed
(previews.py) with the API's services:

- a simple return (`return`): units already back, received with a condition and a
  disposition at a location, credited and refunded in one go (the API's `submit-return`);
- an RMA (`rma`): a return order expecting units back (the API's `POST /return-orders`),
  then approved (or marked in transit, closed: the API's lifecycle actions, no money
  moves, no preview), then received line by line with condition and disposition
  (`receive`: the API's `actions/receive`), the preview showing the refund that results.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from openoms.console.action_forms import checked, choice, quantities, text
from openoms.console.auth import ORDER_ACTIONS, Visitor, require_action
from openoms.console.params import Db
from openoms.console.previews import (
    Context,
    PreviewedAction,
    SummaryId,
    outbox_of,
    refused,
    register,
)
from openoms.domain.errors import DomainError, ReturnOrderNotFound
from openoms.domain.returns import ReturnCondition, ReturnDisposition, ReturnOrderStatus
from openoms.services import returns as service
from openoms.services import views
from openoms.services.returns import ReturnOutcome

router = APIRouter(prefix="/console")
Move = Literal["approve", "mark-in-transit", "close"]
MOVES = {
    "approve": service.approve_return_order,
    "mark-in-transit": service.mark_return_in_transit,
    "close": service.close_return_order,
}


def simple_return(context: Context, form: FormData) -> dict[str, Any]:
    """Return units already back (the API's `submit-return`)."""
    lines = [
        service.SimpleReturnLine(
            item_id,
            units,
            None,
            choice(form, f"condition.{item_id}", ReturnCondition, ReturnCondition.NEW),
            choice(form, f"disposition.{item_id}", ReturnDisposition, ReturnDisposition.RESTOCK),
        )
        for item_id, units in quantities(form, what="to return")
    ]
    outcome = service.submit_return(
        context.session,
        context.outbox,
        context.summary_id,
        lines,
        reason=text(form, "reason"),
        location=text(form, "location", limit=100),
        refund_shipping=checked(form, "refund_shipping"),
        by=context.visitor.identity.actor,
    )
    return answer(context, outcome)


def create_rma(context: Context, form: FormData) -> dict[str, Any]:
    """Open a return order expecting units back, submitted (the API's `POST /return-orders`)."""
    lines = [
        service.ReturnLineRequest(item_id, units)
        for item_id, units in quantities(form, what="to return")
    ]
    outcome = service.create_return_order(
        context.session,
        context.outbox,
        context.summary_id,
        lines,
        reason=text(form, "reason"),
        expected_location=text(form, "expected_location", limit=100),
        status=ReturnOrderStatus.SUBMITTED,
        refund_shipping=checked(form, "refund_shipping"),
        by=context.visitor.identity.actor,
    )
    return answer(context, outcome)


def receive(context: Context, form: FormData) -> dict[str, Any]:
    """Receive units of one of the order's return orders (the API's `actions/receive`)."""
    return_order_id = own_return(context.session, context.summary_id, form.get("return_order_id"))
    location = text(form, "location", limit=100)
    lines = [
        service.ReceiptRequest(
            line_id,
            units,
            choice(form, f"condition.{line_id}", ReturnCondition, ReturnCondition.NEW),
            choice(form, f"disposition.{line_id}", ReturnDisposition, ReturnDisposition.RESTOCK),
            location,
        )
        for line_id, units in quantities(form, what="to receive")
    ]
    outcome = service.receive(
        context.session, context.outbox, return_order_id, lines, by=context.visitor.identity.actor
    )
    return answer(context, outcome)


def answer(context: Context, outcome: ReturnOutcome) -> dict[str, Any]:
    """The API's answer of a simple return: the service action's money, and the return
    order (its ids left out of a preview)."""
    context.session.flush()
    body = views.action_result(
        context.session,
        context.summary_id,
        outcome.recorded,
        preview=context.preview,
        refunds_before=context.refunds_before,
        messages=outcome.messages,
    )
    return {
        **body,
        "return_order": views.get_return_order(context.session, outcome.return_order_id),
    }


def own_return(session: Session, summary_id: str, return_order_id: object) -> str:
    """The id, if it names a return order of this order (404 as the API's, otherwise)."""
    ro_id = return_order_id if isinstance(return_order_id, str) else ""
    if views.get_return_order(session, ro_id[:60])["order_summary_id"] != summary_id:
        raise ReturnOrderNotFound(f"return order '{ro_id}' is not a return of this order")
    return ro_id


register(
    "return",
    PreviewedAction("Return units", "Confirm the return", "returned", ORDER_ACTIONS, simple_return),
)
register(
    "rma",
    PreviewedAction("Open a return (RMA)", "Open the return", "rma", ORDER_ACTIONS, create_rma),
)
register(
    "receive",
    PreviewedAction(
        "Receive returned units", "Confirm the receipt", "received", ORDER_ACTIONS, receive
    ),
)


@router.post("/orders/{summary_id}/returns/{return_order_id}/{move}", include_in_schema=False)
def move_return(
    request: Request,
    summary_id: SummaryId,
    return_order_id: Annotated[str, Path(max_length=60)],
    move: Move,
    visitor: Annotated[Visitor, Depends(require_action(*ORDER_ACTIONS))],
    db: Db,
) -> Response:
    """Approve, mark in transit or close a return order (the API's lifecycle actions)."""
    try:
        with db.transaction() as session:
            own_return(session, summary_id, return_order_id)
            MOVES[move](session, outbox_of(request), return_order_id, by=visitor.identity.actor)
    except DomainError as exc:
        return refused(request, visitor, db, summary_id, f"return-{return_order_id}", exc)
    return RedirectResponse(f"/console/orders/{summary_id}?done=return-moved", status_code=303)
