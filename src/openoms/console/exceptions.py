"""The process exception queue: what needs a person, filtered by status, category, severity
and order, oldest first a page at a time (cursor), each linked to its order. Agents and
finance work it (admin too): retry the failed action, triage, pause, resolve, ignore or
void, each with an optional note, through the services the API's `process-exceptions`
actions run, recording the user who acted (`user:<email>`). Warehouse users are refused
the page and its actions (403).

A refused action (a move the lifecycle does not allow, a retry of a closed exception or of
an action openoms cannot run again) re-renders the queue with the API's sentence beside
the exception's form and changes nothing.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from openoms.adapters.db.session import Database
from openoms.adapters.outbox import Outbox
from openoms.console.auth import (
    ORDER_DESK,
    Visitor,
    require_action,
    require_role,
)
from openoms.console.paging import PAGE_SIZE, SearchInvalid, decode_cursor, encode_cursor
from openoms.console.params import Db, Text
from openoms.console.render import page, with_query
from openoms.domain.errors import DomainError, ValidationFailed
from openoms.domain.fulfillment import (
    ACTIVE_EXCEPTION_STATUSES,
    PROCESS_EXCEPTION_TRANSITIONS,
    ProcessExceptionCategory,
    ProcessExceptionStatus,
)
from openoms.services.exceptions import (
    ExceptionFilter,
    ExceptionMove,
    exception_view,
    list_exceptions,
    move_exception,
    retry_exception,
)
from openoms.services.views import OrderSearch, search_orders

router = APIRouter(prefix="/console")
# Who works the queue: agents and finance (payment exceptions are theirs), and admin; a
# warehouse user reports through the fulfillment queue instead.
EXCEPTION_DESK = ORDER_DESK
Desk = Annotated[Visitor, Depends(require_role(*EXCEPTION_DESK))]
Actor = Annotated[Visitor, Depends(require_action(*EXCEPTION_DESK))]
Kept = Annotated[str, Form(max_length=200)]

OPEN = "open"  # the status filter's default: NEW, TRIAGED and PAUSED
ANY = "any"
SEVERITIES = ("low", "medium", "high")
_P = ProcessExceptionStatus
# The move each status the lifecycle can reach is reached by (the API's action names).
MOVE_TO = {
    _P.TRIAGED: ExceptionMove.TRIAGE,
    _P.PAUSED: ExceptionMove.PAUSE,
    _P.RESOLVED: ExceptionMove.RESOLVE,
    _P.IGNORED: ExceptionMove.IGNORE,
    _P.VOIDED: ExceptionMove.VOID,
}
# What the page says after an action (`done`) on exception `pe`.
DONE = {
    "retry": "{pe}: its failed action runs again; the exception is resolved when it succeeds.",
    "triage": "{pe} is triaged.",
    "pause": "{pe} is paused.",
    "resolve": "{pe} is resolved.",
    "ignore": "{pe} is ignored.",
    "void": "{pe} is voided.",
}


class ActionUnknown(ValidationFailed):
    code = "process_exception_action_invalid"
    title = "Unknown action"


@dataclass
class QueueForm:
    """The filter's fields (query parameters)."""

    status: Text = OPEN
    category: Text = ""
    severity: Text = ""
    order: Text = ""
    cursor: Text = ""
    limit: Annotated[int, Query(ge=1, le=200)] = PAGE_SIZE

    def fields(self) -> dict[str, Any]:
        """What a link to another page of the same queue carries (the cursor apart)."""
        fields = asdict(self)
        del fields["cursor"]
        fields["limit"] = self.limit if self.limit != PAGE_SIZE else ""
        return fields

    def where(self, session: Session) -> ExceptionFilter:
        """The filter; SearchInvalid names a field it cannot use."""
        statuses: tuple[str, ...]
        if self.status == OPEN:
            statuses = tuple(sorted(s.value for s in ACTIVE_EXCEPTION_STATUSES))
        elif self.status in ("", ANY):
            statuses = ()
        elif self.status in {s.value for s in ProcessExceptionStatus}:
            statuses = (self.status,)
        else:
            raise SearchInvalid(f"Status {self.status!r} is not a process exception status.")
        if self.category and self.category not in {c.value for c in ProcessExceptionCategory}:
            raise SearchInvalid(f"Category {self.category!r} is not an exception category.")
        if self.severity and self.severity not in SEVERITIES:
            raise SearchInvalid(f"Severity {self.severity!r} is not low, medium or high.")
        return ExceptionFilter(
            category=self.category or None,
            severity=self.severity or None,
            statuses=statuses,
            order_summary_id=_order_id(session, self.order.strip()),
        )


def _order_id(session: Session, order: str) -> str | None:
    """The order summary an `order` field names: its id (os_…) or its reference."""
    if not order or order.startswith("os_"):
        return order or None
    found = search_orders(session, OrderSearch(reference=order), after_id=None, limit=2)
    if not found:
        raise SearchInvalid(f"No order has the reference {order!r}.")
    if len(found) > 1:
        raise SearchInvalid(
            f"Orders of several channels have the reference {order!r}; give the order's id."
        )
    return str(found[0]["id"])


@router.get("/exceptions", response_class=HTMLResponse, include_in_schema=False)
def exceptions(
    request: Request,
    visitor: Desk,
    db: Db,
    form: Annotated[QueueForm, Depends()],
    done: Annotated[str, Query(max_length=20)] = "",
    pe: Annotated[str, Query(max_length=60)] = "",
) -> HTMLResponse:
    """The queue oldest first, filtered, `limit` a page; `done` and `pe` say what the last
    action did."""
    notice = DONE[done].format(pe=pe) if done in DONE and pe else ""
    return queue_page(request, visitor, db, form, notice=notice)


def queue_page(
    request: Request,
    visitor: Visitor,
    db: Database,
    form: QueueForm,
    *,
    status_code: int = 200,
    errors: dict[str, str] | None = None,
    notice: str = "",
) -> HTMLResponse:
    """The queue; `errors` puts a refused action's sentence beside its exception's form."""
    rows: list[dict[str, Any]] = []
    next_cursor = None
    error = ""
    with db.reading() as session:
        try:
            after = decode_cursor(form.cursor, prefix="pe_")
            found = list_exceptions(
                session, form.where(session), after_id=after, limit=form.limit + 1
            )
        except SearchInvalid as exc:
            error = str(exc)
        else:
            rows = [_row(e) for e in found[: form.limit]]
            if len(found) > form.limit:
                next_cursor = encode_cursor(rows[-1]["id"])
    template = "exceptions_results.html" if request.headers.get("HX-Request") else "exceptions.html"
    return page(
        request,
        template,
        visitor,
        status_code=400 if error else status_code,
        title="Process exceptions",
        form=form.fields(),
        rows=rows,
        next_cursor=next_cursor,
        first_page=not form.cursor,
        error=error,
        errors=errors or {},
        notice=notice,
        statuses=[s.value for s in ProcessExceptionStatus],
        categories=[c.value for c in ProcessExceptionCategory],
        severities=SEVERITIES,
    )


def _row(exception: Any) -> dict[str, Any]:
    """The API's body of the exception, with the moves its status allows now and whether
    a retry can be asked."""
    view = exception_view(exception)
    status = ProcessExceptionStatus(view["status"])
    view["moves"] = [MOVE_TO[s].value for s in sorted(PROCESS_EXCEPTION_TRANSITIONS[status])]
    view["open"] = status in ACTIVE_EXCEPTION_STATUSES
    return view


@router.post("/exceptions/{exception_id}/act", include_in_schema=False)
def act(
    request: Request,
    exception_id: Annotated[str, Path(max_length=60)],
    visitor: Actor,
    db: Db,
    action: Annotated[str, Form(max_length=20)],
    note: Annotated[str, Form(max_length=2000)] = "",
    status: Kept = OPEN,
    category: Kept = "",
    severity: Kept = "",
    order: Kept = "",
) -> Response:
    """Retry the failed action, or move the exception (triage, pause, resolve, ignore,
    void), with the note on its event; back to the same queue."""
    back = QueueForm(status=status, category=category, severity=severity, order=order)
    try:
        with db.transaction() as session:
            _act(session, _outbox(request), exception_id, action, note, visitor.identity.actor)
    except DomainError as exc:
        return queue_page(
            request,
            visitor,
            db,
            back,
            status_code=exc.status,
            errors={exception_id: exc.detail},
        )
    target = {**back.fields(), "done": action, "pe": exception_id}
    return RedirectResponse(with_query("/console/exceptions", target), status_code=303)


def _act(
    session: Session, outbox: Outbox, exception_id: str, action: str, note: str, by: str
) -> None:
    text = note.strip() or None
    if action == "retry":
        retry_exception(session, outbox, exception_id, note=text, by=by)
        return
    try:
        move = ExceptionMove(action)
    except ValueError:
        raise ActionUnknown(
            f"{action!r} is not an action on a process exception (retry, "
            f"{', '.join(m.value for m in ExceptionMove)})",
            field="action",
        ) from None
    move_exception(session, outbox, exception_id, move, note=text, by=by)


def _outbox(request: Request) -> Outbox:
    outbox: Outbox = request.app.state.outbox
    return outbox
