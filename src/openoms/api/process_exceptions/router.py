"""Process exceptions (DESIGN.md §3, §4, §9): the queue of things that need a person.

An agent lists and reads them, moves them through their lifecycle with one action per
status — `triage`, `pause`, `resolve`, `ignore`, `void` (the transition table decides; an
illegal move is 409 `illegal_transition`, nothing changed) — and `retry`s the failed action:
the job that failed (routing, label, ensure funds, authorization, refund) runs again, and
its success resolves the exception. Every POST honours `Idempotency-Key`.
"""

from __future__ import annotations

import logging
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from sqlalchemy.orm import Session

from openoms.adapters.db.session import Database
from openoms.adapters.outbox import Outbox
from openoms.api.auth import require_scope
from openoms.api.cursors import decode_cursor, encode_cursor
from openoms.api.deps import get_db
from openoms.api.errors import PROBLEM_JSON
from openoms.api.idempotency import IdempotencyKey, answer_idempotent, respond, run_idempotent
from openoms.api.params import WHOLE_NUMBER
from openoms.domain.fulfillment import ProcessExceptionCategory, ProcessExceptionStatus
from openoms.schemas.process_exceptions import (
    ProcessException,
    ProcessExceptionNote,
    ProcessExceptionPage,
)
from openoms.services import exceptions as service
from openoms.services.access import Principal, Scope

router = APIRouter(prefix="/api/v1", tags=["process-exceptions"])
log = logging.getLogger(__name__)

PROBLEMS: dict[int | str, dict[str, Any]] = {
    status: {"description": text, "content": {PROBLEM_JSON: {}}}
    for status, text in {
        400: "A bad cursor or idempotency key (stable `code`).",
        401: "No valid API key.",
        403: "The API key lacks the agent (or admin) scope.",
        404: "Unknown process exception (`process_exception_not_found`).",
        409: "Not allowed in its status (`illegal_transition`, `process_exception_not_active`),"
        " or an action openoms cannot run again (`process_exception_action_unknown`).",
        422: "The payload does not match the schema.",
    }.items()
}

Agent = Annotated[Principal, Depends(require_scope(Scope.AGENT, Scope.ADMIN))]


def _outbox(request: Request) -> Outbox:
    outbox: Outbox = request.app.state.outbox
    return outbox


# --- reading ------------------------------------------------------------------------------


@router.get("/process-exceptions", response_model=ProcessExceptionPage, responses=PROBLEMS)
def list_process_exceptions(
    _: Agent,
    db: Annotated[Database, Depends(get_db)],
    category: ProcessExceptionCategory | None = None,
    severity: Literal["low", "medium", "high"] | None = None,
    status: Annotated[
        list[ProcessExceptionStatus] | None,
        Query(description="Repeat for any of several (`status=NEW&status=TRIAGED`)."),
    ] = None,
    order_summary_id: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200), WHOLE_NUMBER] = 50,
    cursor: Annotated[str | None, Query(description="next_cursor of the previous page.")] = None,
) -> dict[str, Any]:
    """The exception queue oldest first, filtered by category, severity, status (one or
    several) and order summary, one page at a time."""
    where = service.ExceptionFilter(
        category=category.value if category else None,
        severity=severity,
        statuses=tuple(s.value for s in status or ()),
        order_summary_id=order_summary_id,
    )
    after = decode_cursor(cursor, prefix="pe_")
    with db.reading() as session:
        rows = service.list_exceptions(session, where, after_id=after, limit=limit + 1)
        page = rows[:limit]
        items = [service.exception_view(e) for e in page]
    more = len(rows) > limit
    return {"items": items, "next_cursor": encode_cursor(page[-1].id) if more and page else None}


@router.get(
    "/process-exceptions/{exception_id}", response_model=ProcessException, responses=PROBLEMS
)
def get_process_exception(
    exception_id: str, _: Agent, db: Annotated[Database, Depends(get_db)]
) -> dict[str, Any]:
    """One exception: what failed, how bad, its status and the action `retry` runs."""
    with db.reading() as session:
        return service.exception_view(service.get_exception(session, exception_id))


# --- acting -------------------------------------------------------------------------------


@router.post(
    "/process-exceptions/{exception_id}/actions/retry",
    status_code=202,
    response_model=ProcessException,
    responses=PROBLEMS,
)
def retry(
    exception_id: str,
    request: Request,
    response: Response,
    principal: Agent,
    payload: ProcessExceptionNote | None = None,
    idempotency_key: IdempotencyKey = None,
) -> dict[str, Any]:
    """Run the failed action again: the job that failed is queued again (revived when done
    or dead, brought forward when backing off) and the exception stays open until it
    succeeds, which resolves it; a new failure refreshes it (occurrences + 1). While that
    job is waiting to run, another retry changes nothing. What the job leaves alone while a
    person is asked (a label while its exception is open, an invoice held by a hard payment
    failure) it tries once more on an agent's retry. Emits
    `process_exception.retry_requested`. Only an open exception can be retried (409
    `process_exception_not_active`); an action openoms cannot run is 409
    `process_exception_action_unknown`."""
    db, outbox = get_db(request), _outbox(request)
    note = payload.note if payload else None

    def operation(session: Session) -> tuple[int, dict[str, Any]]:
        outcome = service.retry_exception(
            session, outbox, exception_id, note=note, by=principal.actor
        )
        return 202, service.exception_view(outcome.exception)

    body = payload.model_dump(mode="json") if payload else {}
    result = run_idempotent(db, principal, idempotency_key, request, body, operation)
    return respond(response, result)


@router.post(
    "/process-exceptions/{exception_id}/actions/{move}",
    response_model=ProcessException,
    responses=PROBLEMS,
)
def move(
    exception_id: str,
    move: service.ExceptionMove,
    request: Request,
    response: Response,
    principal: Agent,
    payload: ProcessExceptionNote | None = None,
    idempotency_key: IdempotencyKey = None,
) -> dict[str, Any]:
    """Move the exception to the action's status: `triage` → TRIAGED, `pause` → PAUSED,
    `resolve` → RESOLVED, `ignore` → IGNORED, `void` → VOIDED. NEW moves anywhere, TRIAGED
    and PAUSED to each other and to a close; closed ones never move (409
    `illegal_transition`, naming the moves allowed). Closing lowers the order summary's
    active_process_exception_count. Emits `process_exception.<status, lower case>` with the
    note."""
    outbox = _outbox(request)
    note = payload.note if payload else None

    def operation(session: Session) -> tuple[int, dict[str, Any]]:
        exception = service.move_exception(
            session, outbox, exception_id, move, note=note, by=principal.actor
        )
        return 200, service.exception_view(exception)

    body = payload.model_dump(mode="json") if payload else {}
    return answer_idempotent(request, response, principal, idempotency_key, body, operation)
