"""A flow's runs as the API and the CLI list them, newest first."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from openoms.adapters.db import models as m
from openoms.adapters.db.repositories import flows as repo
from openoms.services.flows.definitions import get_flow


def list_runs(
    session: Session, ref: str, *, before_id: int | None = None, limit: int = 50
) -> list[m.FlowRun]:
    """The flow's runs, newest first (keyset on the run id); FlowNotFound (404)."""
    flow, _ = get_flow(session, ref)
    return list(repo.runs_of(session, flow.id, before_id=before_id, limit=limit))


def run_view(run: m.FlowRun, ref: str) -> dict[str, Any]:
    """One run: the version that ran, the event, matched or not, what was done, errors."""
    return {
        "id": run.id,
        "flow": ref,
        "version": run.version,
        "event_id": run.event_id,
        "event_type": run.event_type,
        "order_summary_id": run.order_summary_id,
        "matched": run.matched,
        "status": run.status,
        "actions_done": list(run.actions_done),
        "errors": list(run.errors),
        "attempts": run.attempts,
        "created_at": _iso(run.created_at),
        "updated_at": _iso(run.updated_at),
    }


def _iso(value: Any) -> str:
    return str(value.isoformat().replace("+00:00", "Z"))
