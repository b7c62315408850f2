"""The order page's previewed actions beyond cancel (returns.py, money_actions.py): each a
form that is first previewed, then confirmed, as the cancel is (order_actions.py).

`POST /console/orders/{id}/{action}/preview` runs the very service the API's action runs,
in a transaction that is always rolled back (`Database.rehearsal`, as the API's previews),
and shows the money before anything moves. The preview page's confirm form sends the same
fields back with a fingerprint of the order as the preview saw it;
`POST /console/orders/{id}/{action}` runs the action for real only if the order is still
that order (else 409 `order_changed_since_preview`, nothing done: a confirm sent twice acts
once). A refused action re-renders the order page with the API's sentence beside the form,
its transaction rolled back. Each action declares the roles that may use it; the check is
made on the server, after the CSRF token, for the preview and the confirm alike.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from openoms.adapters.db.session import Database
from openoms.adapters.outbox import Outbox
from openoms.console.auth import PageForbidden, Visitor, csrf_checked
from openoms.console.order_actions import OrderChanged, order_state
from openoms.console.orders import order_page
from openoms.console.params import Db
from openoms.console.render import page
from openoms.domain.errors import DomainError
from openoms.services.access import ConsoleRole
from openoms.services.views import refund_baseline

router = APIRouter(prefix="/console")
SummaryId = Annotated[str, Path(max_length=60)]
Name = Literal["return", "rma", "receive", "discount", "reship", "exchange", "refund"]
SENT_BACK_EXCLUDED = {"csrf_token", "state"}


@dataclass(frozen=True, slots=True)
class Context:
    """What an action runs with: its transaction, the outbox, the order and who acts."""

    session: Session
    outbox: Outbox
    summary_id: str
    visitor: Visitor
    refunds_before: int
    preview: bool


# (context, the form) → the answer shown (a preview) or kept for `after` (a confirm)
Run = Callable[[Context, FormData], dict[str, Any]]
# After a confirm's commit (a refund's gateway call): may raise a DomainError to show.
After = Callable[[Request, str, dict[str, Any]], None]


@dataclass(frozen=True, slots=True)
class PreviewedAction:
    title: str  # "Return units"
    confirm: str  # the confirm button: "Confirm the return"
    done: str  # the order page's `done` after it
    roles: tuple[ConsoleRole, ...]
    run: Run
    after: After | None = None


ACTIONS: dict[str, PreviewedAction] = {}


def register(name: str, action: PreviewedAction) -> None:
    ACTIONS[name] = action


def allowed(visitor: Visitor, name: str) -> PreviewedAction:
    """The action, if the visitor's role may use it (403 naming whom it is for, otherwise)."""
    action = ACTIONS[name]
    if not visitor.identity.allows(*action.roles):
        names = ", ".join(role.value for role in action.roles)
        raise PageForbidden(
            f"{action.title} is for {names} users; you are signed in as "
            f"{visitor.identity.role.value}. Nothing was changed."
        )
    return action


@router.post("/orders/{summary_id}/{name}/preview", include_in_schema=False)
async def preview(
    request: Request,
    summary_id: SummaryId,
    name: Name,
    visitor: Annotated[Visitor, Depends(csrf_checked)],
    db: Db,
) -> Response:
    """What the action would do now, nothing moved: the API's preview figures."""
    action = allowed(visitor, name)
    form = await request.form()
    try:
        with db.rehearsal() as session:
            before = refund_baseline(session, summary_id)  # the order's lock, taken first
            state = order_state(session, summary_id)
            context = Context(session, outbox_of(request), summary_id, visitor, before, True)
            result = action.run(context, form)
    except DomainError as exc:
        return refused(request, visitor, db, summary_id, name, exc)
    return page(
        request,
        "action_preview.html",
        visitor,
        title=f"{action.title}: preview",
        action_name=name,
        action=action,
        summary_id=summary_id,
        result=result,
        state=state,
        sent_back=[
            (key, value)
            for key, value in form.multi_items()
            if key not in SENT_BACK_EXCLUDED and isinstance(value, str)
        ],
        reference=result["order_summary"]["external_reference"],
    )


@router.post("/orders/{summary_id}/{name}", include_in_schema=False)
async def confirm(
    request: Request,
    summary_id: SummaryId,
    name: Name,
    visitor: Annotated[Visitor, Depends(csrf_checked)],
    db: Db,
) -> Response:
    """The previewed action, if the order is still as the preview saw it."""
    action = allowed(visitor, name)
    form = await request.form()
    expected = str(form.get("state", ""))
    try:
        with db.transaction() as session:
            before = refund_baseline(session, summary_id)
            if order_state(session, summary_id) != expected:
                raise OrderChanged(
                    "the order changed since this preview (someone else acted on it, or the "
                    "confirm was sent twice); nothing was done: look at the order and preview "
                    "again"
                )
            context = Context(session, outbox_of(request), summary_id, visitor, before, False)
            result = action.run(context, form)
        if action.after is not None:
            action.after(request, summary_id, result)
    except DomainError as exc:
        return refused(request, visitor, db, summary_id, name, exc)
    return RedirectResponse(f"/console/orders/{summary_id}?done={action.done}", status_code=303)


def refused(
    request: Request, visitor: Visitor, db: Database, summary_id: str, form: str, exc: DomainError
) -> Response:
    return order_page(
        request, visitor, db, summary_id, status_code=exc.status, errors={form: exc.detail}
    )


def outbox_of(request: Request) -> Outbox:
    outbox: Outbox = request.app.state.outbox
    return outbox
