"""Routing runs (docs/routing-runs.md): place a channel's waiting groups together, as a dry
run that changes nothing or applied group by group, and read what each run did.

Both need the agent scope. A key bound to channels runs and sees only its channels' runs:
starting a run of another channel is 403 `channel_forbidden`, reading one is 404."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response

from openoms.adapters.db.session import Database
from openoms.api.deps import get_db
from openoms.api.errors import PROBLEM_JSON
from openoms.api.idempotency import IdempotencyKey, respond, run_claimed
from openoms.api.service_actions import Agent
from openoms.schemas.routing_runs import RoutingRunIn, RoutingRunList, RoutingRunOut
from openoms.services.routing import (
    RoutingRunNotFound,
    RunRequest,
    RunScope,
    get_run,
    list_runs,
    run_routing,
    run_view,
)

router = APIRouter(prefix="/api/v1/routing/runs", tags=["routing"])

PROBLEMS: dict[int | str, dict[str, Any]] = {
    status: {"description": text, "content": {PROBLEM_JSON: {}}}
    for status, text in {
        400: "An unknown channel (`channel_unknown`), or an unusable `Idempotency-Key`.",
        401: "No valid API key.",
        403: "The key lacks the agent scope, or is bound to other channels.",
        404: "Unknown run (`routing_run_not_found`).",
        409: "The `Idempotency-Key` was used for another request (`idempotency_key_reused`).",
        422: "The payload does not match the schema.",
    }.items()
}


@router.post("", status_code=201, response_model=RoutingRunOut, responses=PROBLEMS)
def start_run(
    payload: RoutingRunIn,
    request: Request,
    response: Response,
    principal: Agent,
    db: Annotated[Database, Depends(get_db)],
    idempotency_key: IdempotencyKey = None,
) -> dict[str, Any]:
    """Plan the channel's groups together: fewest shipments, then least shipping cost,
    within the channel's max splits, no group's promise made worse. A dry run (the default)
    records the plan and its savings and changes nothing else; `dry_run: false` then moves
    each group whose plan differs, in its own transaction, skipping any that changed
    meanwhile. Answers the run with each group's outcome.

    With an `Idempotency-Key`, a retry replays the first run's answer and starts no second
    run. A retry that finds the first still running, or cut short by a crash, starts a
    run: that is safe, as a run moves only groups whose plan still improves them."""
    principal.check_channel(payload.channel)

    def act() -> tuple[int, dict[str, Any]]:
        run_id = run_routing(
            db,
            request.app.state.outbox,
            RunRequest(
                channel=payload.channel,
                scope=RunScope(payload.scope),
                dry_run=payload.dry_run,
                trigger="api",
                requested_by=principal.actor,
                time_budget_ms=payload.time_budget_ms,
            ),
            datetime.now(UTC),
        )
        with db.reading() as session:
            run, groups = get_run(session, run_id)
            view = RoutingRunOut.model_validate(run_view(run, groups))
            return 201, view.model_dump(mode="json")

    body = payload.model_dump(mode="json")
    result = run_claimed(db, principal, idempotency_key, request, body, act, required=False)
    return respond(response, result)


@router.get("", response_model=RoutingRunList, responses=PROBLEMS)
def runs(
    principal: Agent,
    db: Annotated[Database, Depends(get_db)],
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    before: Annotated[datetime | None, Query(description="Runs created before this.")] = None,
) -> dict[str, Any]:
    """Runs, newest first (without their groups)."""
    with db.reading() as session:
        found = list_runs(session, principal.channels, limit=limit, before=before)
        return {"runs": [run_view(r) for r in found]}


@router.get("/{run_id}", response_model=RoutingRunOut, responses=PROBLEMS)
def run(run_id: str, principal: Agent, db: Annotated[Database, Depends(get_db)]) -> dict[str, Any]:
    """One run with each group's outcome."""
    with db.reading() as session:
        found, groups = get_run(session, run_id)
        if not principal.sees(found.channel):
            raise RoutingRunNotFound(f"no routing run {run_id!r}", run_id=run_id)
        return run_view(found, groups)
