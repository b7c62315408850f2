"""Actions on the order page, for agents (and admin): hold, release, and cancel with a
preview then a confirm. Each runs the service the API's action runs, in one transaction,
and records the user who acted where the service takes an actor (`user:<email>`, as the API
records `api_key:<id>`).

Without JavaScript every action is a plain form: a POST that succeeds answers 303 back to
the order page; one the services refuse re-renders the order page with the API's sentence
(the problem detail) beside the form, and nothing changed (its transaction rolled back).

A cancel is previewed first: the very action the confirm would run, in a transaction that
is always rolled back (`Database.rehearsal`, as the API's `preview-cancel`), so the money
shown is the API's preview. The confirm form carries a fingerprint of the order as the
preview saw it; when the order changed in between (another agent, or the same confirm sent
twice) the confirm refuses and changes nothing rather than do something not previewed.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from openoms.adapters.db.session import Database
from openoms.adapters.outbox import Outbox
from openoms.console.auth import ORDER_ACTIONS, Visitor, require_action
from openoms.console.orders import order_page
from openoms.console.params import Db
from openoms.console.render import page
from openoms.domain.errors import Conflict, DomainError, ValidationFailed
from openoms.services.orders import place_hold, release_hold
from openoms.services.service_actions import CancelItems, ItemCancel, cancel_with_messages
from openoms.services.views import action_result, order_summary_view, refund_baseline

router = APIRouter(prefix="/console")
Actor = Annotated[Visitor, Depends(require_action(*ORDER_ACTIONS))]
SummaryId = Annotated[str, Path(max_length=60)]
Reason = Annotated[str, Form(max_length=500)]
QUANTITY = "quantity."  # a cancel form's field per line: quantity.<order item summary id>


class OrderChanged(Conflict):
    code = "order_changed_since_preview"
    title = "The order changed since the preview"


class NothingChosen(ValidationFailed):
    code = "quantity_invalid"
    title = "Nothing to cancel"


@router.post("/orders/{summary_id}/hold", include_in_schema=False)
def hold(
    request: Request, summary_id: SummaryId, visitor: Actor, db: Db, reason: Reason = ""
) -> Response:
    """Place a hold (the API's `actions/hold`), recorded as held by this user."""
    try:
        with db.transaction() as session:
            place_hold(
                session,
                _outbox(request),
                order_summary_id=summary_id,
                reason=reason,
                held_by=visitor.identity.actor,
            )
    except DomainError as exc:
        return _refused(request, visitor, db, summary_id, "hold", exc)
    return _back(summary_id, "held")


@router.post("/orders/{summary_id}/release", include_in_schema=False)
def release(
    request: Request,
    summary_id: SummaryId,
    visitor: Actor,
    db: Db,
    hold_id: Annotated[str, Form(max_length=60)] = "",
    reason: Reason = "",
) -> Response:
    """Release one hold, or every active hold when `hold_id` is empty (the API's
    `actions/release-hold`), recorded as released by this user."""
    try:
        with db.transaction() as session:
            release_hold(
                session,
                _outbox(request),
                order_summary_id=summary_id,
                released_by=visitor.identity.actor,
                hold_id=hold_id or None,
                reason=reason or None,
            )
    except DomainError as exc:
        return _refused(request, visitor, db, summary_id, "release", exc)
    return _back(summary_id, "released")


@router.post("/orders/{summary_id}/cancel/preview", include_in_schema=False)
async def preview_cancel(
    request: Request, summary_id: SummaryId, visitor: Actor, db: Db
) -> Response:
    """What the cancel would do: its lines, the money it gives back, the totals after."""
    form = await request.form()
    try:
        asked = _cancel_request(form)
        with db.rehearsal() as session:
            state = order_state(session, summary_id)
            result = _cancel(session, _outbox(request), summary_id, asked, preview=True)
    except DomainError as exc:
        return _refused(request, visitor, db, summary_id, "cancel", exc)
    return page(
        request,
        "cancel_preview.html",
        visitor,
        title="Cancel: preview",
        summary_id=summary_id,
        result=result,
        asked=asked,
        state=state,
        reference=result["order_summary"]["external_reference"],
    )


@router.post("/orders/{summary_id}/cancel", include_in_schema=False)
async def submit_cancel(
    request: Request, summary_id: SummaryId, visitor: Actor, db: Db
) -> Response:
    """The previewed cancel, if the order is still as the preview saw it."""
    form = await request.form()
    try:
        asked = replace(_cancel_request(form), requested_by=visitor.identity.actor)
        with db.transaction() as session:
            _cancel(
                session,
                _outbox(request),
                summary_id,
                asked,
                preview=False,
                expected_state=str(form.get("state", "")),
            )
    except DomainError as exc:
        return _refused(request, visitor, db, summary_id, "cancel", exc)
    return _back(summary_id, "canceled")


def order_state(session: Session, summary_id: str) -> str:
    """A fingerprint of everything the order page shows of the order: it changes with any
    change to the order (its timeline included)."""
    view = order_summary_view(session, summary_id)
    text = json.dumps(view, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _cancel(
    session: Session,
    outbox: Outbox,
    summary_id: str,
    asked: CancelItems,
    *,
    preview: bool,
    expected_state: str | None = None,
) -> dict[str, Any]:
    # The same steps as the API's cancel (api/cancels/router.py), the lock taken first.
    before = refund_baseline(session, summary_id)
    if expected_state is not None and order_state(session, summary_id) != expected_state:
        raise OrderChanged(
            "the order changed since this preview (someone else acted on it, or the confirm "
            "was sent twice); nothing was canceled: look at the order and preview again"
        )
    recorded, messages = cancel_with_messages(session, outbox, summary_id, asked)
    return action_result(
        session, summary_id, recorded, preview=preview, refunds_before=before, messages=messages
    )


def _cancel_request(form: FormData) -> CancelItems:
    """The lines and quantities a cancel form asks for (blank or 0: not that line)."""
    items = []
    for name, value in form.multi_items():
        if not name.startswith(QUANTITY) or not isinstance(value, str) or not value.strip():
            continue
        item_id = name.removeprefix(QUANTITY)
        if not value.strip().isdigit():
            raise ValidationFailed(
                f"quantity of {item_id} must be a whole number, not {value.strip()!r}",
                field="quantity",
            )
        if int(value) > 0:
            items.append(ItemCancel(item_id, int(value), None))
    if not items:
        raise NothingChosen("choose at least one unit to cancel", field="quantity")
    reason = _text(form.get("reason"))
    return CancelItems(tuple(items), reason or None, form.get("refund_shipping") == "true")


def _text(value: object) -> str:
    return value.strip()[:500] if isinstance(value, str) else ""


def _refused(
    request: Request, visitor: Visitor, db: Database, summary_id: str, form: str, exc: DomainError
) -> HTMLResponse:
    return order_page(
        request, visitor, db, summary_id, status_code=exc.status, errors={form: exc.detail}
    )


def _back(summary_id: str, done: str) -> RedirectResponse:
    return RedirectResponse(f"/console/orders/{summary_id}?done={done}", status_code=303)


def _outbox(request: Request) -> Outbox:
    outbox: Outbox = request.app.state.outbox
    return outbox
