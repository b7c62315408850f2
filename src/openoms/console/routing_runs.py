"""Routing runs in the console (docs/routing-runs.md): agents and admins see the runs and
what each saved; an admin starts one, as a dry run or applied. The POST runs the service
the API's `POST /api/v1/routing/runs` runs; a refusal re-renders the page with the API's
sentence beside the form, and nothing changed."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from openoms.adapters.db.session import Database
from openoms.console.auth import Visitor, require_action, require_role
from openoms.console.params import Db
from openoms.console.render import page
from openoms.domain.errors import DomainError, ValidationFailed
from openoms.services.access import ConsoleRole
from openoms.services.orders import known_channels
from openoms.services.routing import (
    DEFAULT_BUDGET_MS,
    RoutingRunNotFound,
    RunRequest,
    RunScope,
    get_run,
    list_runs,
    run_routing,
    run_view,
)

router = APIRouter(prefix="/console")
VIEWERS = (ConsoleRole.AGENT,)  # and admin, who may open every page
PATH = "/console/routing-runs"


@router.get("/routing-runs", response_class=HTMLResponse, include_in_schema=False)
def runs_page(
    request: Request,
    visitor: Annotated[Visitor, Depends(require_role(*VIEWERS))],
    db: Db,
    run: Annotated[str | None, Query(max_length=60)] = None,
) -> HTMLResponse:
    """The runs, newest first, with their savings; `run` opens one with its groups."""
    return _render(request, visitor, db, run)


def _render(
    request: Request,
    visitor: Visitor,
    db: Database,
    run_id: str | None,
    *,
    error: str = "",
    status_code: int = 200,
) -> HTMLResponse:
    chosen: dict[str, Any] | None = None
    with db.reading() as session:
        runs = [run_view(r) for r in list_runs(session, None, limit=50)]
        channels = known_channels(session)
        if run_id:
            try:
                found, groups = get_run(session, run_id)
                chosen = run_view(found, groups)
            except RoutingRunNotFound as exc:
                error = error or exc.detail
    return page(
        request,
        "routing_runs.html",
        visitor,
        status_code=status_code,
        title="Routing runs",
        runs=runs,
        chosen=chosen,
        channels=channels,
        can_start=visitor.identity.allows(ConsoleRole.ADMIN),
        error=error,
    )


@router.post("/routing-runs", include_in_schema=False)
def start(
    request: Request,
    visitor: Annotated[Visitor, Depends(require_action(ConsoleRole.ADMIN))],
    db: Db,
    channel: Annotated[str, Form(max_length=100)] = "",
    scope: Annotated[str, Form(max_length=20)] = "waiting",
    mode: Annotated[str, Form(max_length=10)] = "dry",
) -> Response:
    """Start a run (the API's POST): `mode` "dry" plans only, "apply" moves."""
    try:
        request_ = RunRequest(
            channel=channel,
            scope=_scope(scope),
            dry_run=mode != "apply",
            trigger="console",
            requested_by=visitor.identity.actor,
            time_budget_ms=DEFAULT_BUDGET_MS,
        )
        run_id = run_routing(db, request.app.state.outbox, request_, datetime.now(UTC))
    except DomainError as exc:
        return _render(request, visitor, db, None, error=exc.detail, status_code=exc.status)
    return RedirectResponse(f"{PATH}?run={run_id}", status_code=303)


def _scope(value: str) -> RunScope:
    try:
        return RunScope(value)
    except ValueError:
        raise ScopeUnknown(
            f"scope is waiting or unreleased, not {value!r}", field="scope"
        ) from None


class ScopeUnknown(ValidationFailed):
    code = "routing_run_scope_invalid"
    title = "Routing run scope is not valid"
