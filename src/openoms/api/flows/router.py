"""The flows API (admin only): store a flow (each PUT a new version), read it with its
history, list its runs, and try it on an event without running it. Flows are checked
against the event catalog here, through `trigger_catalog()` (docs/flows.md)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response

from openoms.adapters.db.session import Database
from openoms.api.auth import require_scope
from openoms.api.cursors import decode_cursor, encode_cursor
from openoms.api.deps import get_db
from openoms.api.errors import PROBLEM_JSON
from openoms.api.params import WHOLE_NUMBER
from openoms.domain.errors import ValidationFailed
from openoms.schemas.flows import (
    FlowDetail,
    FlowIn,
    FlowList,
    FlowRunPage,
    FlowTestIn,
    FlowTestOut,
    trigger_catalog,
)
from openoms.services import flows as service
from openoms.services.access import Principal, Scope

router = APIRouter(prefix="/api/v1", tags=["flows"])

PROBLEMS: dict[int | str, dict[str, Any]] = {
    status: {"description": text, "content": {PROBLEM_JSON: {}}}
    for status, text in {
        400: "An invalid flow (`flow_invalid`, `field` naming the path: `trigger`, "
        "`when.all[1].op`, `actions[0].reason`), a bad ref or cursor, or a test event of "
        "another trigger (`flow_trigger_mismatch`).",
        401: "No valid API key.",
        403: "The API key lacks the admin scope.",
        404: "Unknown flow (`flow_not_found`) or test event (`flow_event_not_found`).",
        422: "The payload does not match the schema.",
    }.items()
}

Admin = Annotated[Principal, Depends(require_scope(Scope.ADMIN))]
Db = Annotated[Database, Depends(get_db)]


@router.put("/flows/{ref}", response_model=FlowDetail, responses=PROBLEMS)
def put_flow(
    ref: str, payload: FlowIn, request: Request, response: Response, _: Admin, db: Db
) -> dict[str, Any]:
    """Store the flow as its next version (201 when `ref` is new, else 200). It is checked
    against its trigger's schema first: an unknown trigger, field, op or action type, an op
    that does not fit its field (a string with `gt`), or a bad action parameter answers 400
    `flow_invalid` naming the path, and nothing is stored. Emits `flow.upserted`."""
    with db.transaction() as session:
        flow, _version, created = service.put_flow(
            session, request.app.state.outbox, trigger_catalog(), ref, payload.to_document()
        )
        answer = _detail(*service.get_flow(session, flow.ref))
    response.status_code = 201 if created else 200
    return answer


@router.get("/flows", response_model=FlowList, responses=PROBLEMS)
def list_flows(_: Admin, db: Db) -> dict[str, Any]:
    """Every flow by ref, with its current version."""
    with db.reading() as session:
        return {"items": [service.flow_view(f, v) for f, v in service.list_flows(session)]}


@router.get("/flows/{ref}", response_model=FlowDetail, responses=PROBLEMS)
def get_flow(ref: str, _: Admin, db: Db) -> dict[str, Any]:
    """The flow's current version and its history (every version, newest first)."""
    with db.reading() as session:
        return _detail(*service.get_flow(session, ref))


@router.get("/flows/{ref}/runs", response_model=FlowRunPage, responses=PROBLEMS)
def list_runs(
    ref: str,
    _: Admin,
    db: Db,
    limit: Annotated[int, Query(ge=1, le=200), WHOLE_NUMBER] = 50,
    cursor: Annotated[str | None, Query(description="next_cursor of the previous page.")] = None,
) -> dict[str, Any]:
    """The flow's runs, newest first: one per event of its trigger it ran on, with the
    version, matched or not, the actions done, the errors and the attempts."""
    before = _run_cursor(cursor)
    with db.reading() as session:
        runs = service.list_runs(session, ref, before_id=before, limit=limit + 1)
        items = [service.run_view(run, ref) for run in runs[:limit]]
    more = len(runs) > limit
    return {"items": items, "next_cursor": encode_cursor(str(items[-1]["id"])) if more else None}


@router.post("/flows/{ref}/actions/test", response_model=FlowTestOut, responses=PROBLEMS)
def try_flow(ref: str, payload: FlowTestIn, _: Admin, db: Db) -> dict[str, Any]:
    """Try the flow's current version on an event (`event_id`, or `order_summary_id` with a
    `trigger`: the order's latest event of it): whether it matches and the actions it would
    apply. Changes nothing, enabled or not."""
    with db.reading() as session:
        return service.try_flow(
            session,
            trigger_catalog(),
            ref,
            event_id=payload.event_id,
            order_summary_id=payload.order_summary_id,
            trigger=payload.trigger,
        )


def _detail(flow: Any, versions: list[Any]) -> dict[str, Any]:
    return {
        **service.flow_view(flow, versions[0]),
        "versions": [service.version_view(v) for v in versions],
    }


def _run_cursor(cursor: str | None) -> int | None:
    value = decode_cursor(cursor)
    if value is None:
        return None
    if not value.isdigit():
        raise ValidationFailed("cursor is not one this API issued", field="cursor")
    return int(value)
