"""Settings, for admins: flows — the list, enabling and disabling one (its definition
stored again as the next version, with the service the API's PUT /flows/{ref} runs), and a
flow's page with its definition, versions and runs."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from openoms.adapters.db.session import Database
from openoms.console.auth import (
    PageNotFound,
    Visitor,
)
from openoms.console.paging import PAGE_SIZE, SearchInvalid, encode_cursor
from openoms.console.params import Admin, AdminAction, Db, Done, Text
from openoms.console.render import page
from openoms.console.settings_access import number_cursor, outbox_of
from openoms.domain.errors import DomainError, NotFound
from openoms.services import flows

router = APIRouter(prefix="/console")
DONE = {
    "flow-enabled": "The flow is enabled (a new version of it is stored).",
    "flow-disabled": "The flow is disabled (a new version of it is stored).",
}


@router.get("/settings/flows", response_class=HTMLResponse, include_in_schema=False)
def flow_list(request: Request, visitor: Admin, db: Db, done: Done = "") -> HTMLResponse:
    return flows_page(request, visitor, db, notice=DONE.get(done, ""))


def flows_page(
    request: Request,
    visitor: Visitor,
    db: Database,
    *,
    status_code: int = 200,
    errors: dict[str, str] | None = None,
    notice: str = "",
) -> HTMLResponse:
    with db.reading() as session:
        rows = [flows.flow_view(f, v) for f, v in flows.list_flows(session)]
    return page(
        request,
        "settings_flows.html",
        visitor,
        status_code=status_code,
        title="Flows",
        rows=rows,
        errors=errors or {},
        notice=notice,
    )


@router.post("/settings/flows/{ref}/{move}", include_in_schema=False)
def toggle_flow(
    request: Request,
    ref: Annotated[str, Path(max_length=100)],
    move: Annotated[str, Path(max_length=10)],
    visitor: AdminAction,
    db: Db,
) -> Response:
    """Enable or disable a flow: its current definition stored again as the next version
    with `enabled` changed (the API's PUT /flows/{ref})."""
    if move not in ("enable", "disable"):
        raise PageNotFound(f"There is no action {move!r} on a flow.")
    catalog = request.app.state.flow_catalog  # the API's app sets it (api/app.py)
    try:
        with db.transaction() as session:
            flow, versions = flows.get_flow(session, ref)
            current = versions[0]
            document = flows.FlowDocument(
                trigger=current.trigger,
                actions=list(current.actions),
                when=current.when,
                enabled=move == "enable",
                description=current.description,
            )
            flows.put_flow(session, outbox_of(request), catalog, flow.ref, document)
    except DomainError as exc:
        return flows_page(request, visitor, db, status_code=exc.status, errors={ref: exc.detail})
    return RedirectResponse(f"/console/settings/flows?done=flow-{move}d", 303)


@router.get("/settings/flows/{ref}", response_class=HTMLResponse, include_in_schema=False)
def flow(
    request: Request,
    ref: Annotated[str, Path(max_length=100)],
    visitor: Admin,
    db: Db,
    cursor: Text = "",
) -> HTMLResponse:
    """A flow's definition, its versions, and its runs newest first, a page at a time."""
    error = ""
    runs: list[dict[str, Any]] = []
    more = None
    with db.reading() as session:
        try:
            found, versions = flows.get_flow(session, ref)
        except NotFound as exc:
            raise PageNotFound(exc.detail) from None
        view = flows.flow_view(found, versions[0])
        try:
            before = number_cursor(cursor, "fr_")
        except SearchInvalid as exc:
            error = str(exc)
        else:
            got = flows.list_runs(session, ref, before_id=before, limit=PAGE_SIZE + 1)
            runs = [flows.run_view(run, ref) for run in got[:PAGE_SIZE]]
            more = encode_cursor(f"fr_{runs[-1]['id']}") if len(got) > PAGE_SIZE else None
    definition = {k: view[k] for k in ("trigger", "when", "actions", "enabled", "description")}
    return page(
        request,
        "settings_flow.html",
        visitor,
        status_code=400 if error else 200,
        title=f"Flow {ref}",
        f=view,
        definition=json.dumps(definition, indent=2, ensure_ascii=False),
        versions=[flows.version_view(v) for v in versions],
        runs=runs,
        next_cursor=more,
        first_page=not cursor,
        error=error,
    )
