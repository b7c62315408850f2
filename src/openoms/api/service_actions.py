"""What every service action endpoint shares (DESIGN.md §9): a preview runs the very same
action as its submit in a unit of work that is always rolled back (`Database.rehearsal`),
so the two can never disagree; a submit runs once per Idempotency-Key (`answer_idempotent`),
so a retry replays the first answer and changes nothing."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Depends, Request, Response
from pydantic import BaseModel
from sqlalchemy.orm import Session

from openoms.adapters.outbox import Outbox
from openoms.api.auth import require_scope
from openoms.api.deps import get_db
from openoms.api.idempotency import answer_idempotent
from openoms.services.access import Principal, Scope

Agent = Annotated[Principal, Depends(require_scope(Scope.AGENT))]
# (session, outbox, preview) → the answer's body
Action = Callable[[Session, Outbox, bool], dict[str, Any]]


def preview(request: Request, action: Action) -> dict[str, Any]:
    """The action's answer, rolled back: nothing it did stays."""
    with get_db(request).rehearsal() as session:
        return action(session, request.app.state.outbox, True)


def submit(
    request: Request,
    response: Response,
    principal: Principal,
    idempotency_key: str,
    payload: BaseModel,
    action: Action,
) -> dict[str, Any]:
    """The action, committed once per Idempotency-Key (required: every submit moves money
    or stock); 200 with its answer."""
    outbox: Outbox = request.app.state.outbox

    def operation(session: Session) -> tuple[int, dict[str, Any]]:
        return 200, action(session, outbox, False)

    body = payload.model_dump(mode="json")
    return answer_idempotent(
        request, response, principal, idempotency_key, body, operation, required=True
    )
