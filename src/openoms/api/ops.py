"""Operating it: liveness, readiness and the Prometheus metrics.

`/health/live` and `/health/ready` need no API key (load balancers and orchestrators probe
them); `/metrics` needs a key with the `metrics` scope (or admin) and stays out of the
OpenAPI document, like any scrape target.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text
from starlette.concurrency import run_in_threadpool

from openoms import __version__
from openoms.adapters.db.migrate import connection_is_at_head
from openoms.adapters.db.session import Database
from openoms.adapters.metrics import Metrics, scrape_registry
from openoms.api.auth import require_scope
from openoms.api.deps import app_db
from openoms.api.errors import PROBLEM_JSON, problem
from openoms.services.access import Principal, Scope

router = APIRouter(tags=["health"])

NOT_READY: dict[int | str, dict[str, Any]] = {
    503: {
        "description": "The database does not answer, or its schema is not migrated to this "
        "version (`not_ready`, naming which in `checks`).",
        "content": {PROBLEM_JSON: {}},
    }
}


def app_metrics(app: FastAPI) -> Metrics:
    """The app's process-local metrics (set by `create_app`)."""
    metrics: Metrics = app.state.metrics
    return metrics


@router.get("/health/live")
def live() -> dict[str, Any]:
    """Liveness: 200 while the process serves requests. Needs no API key."""
    return {"status": "ok", "version": __version__}


@router.get("/health/ready", responses=NOT_READY)
async def ready(request: Request) -> Any:
    """Readiness: 200 when the database answers and its schema is migrated to this
    version; otherwise 503 `not_ready` with `checks` naming what is wrong. Needs no API key."""
    db = app_db(request)
    checks = await run_in_threadpool(_readiness, db)
    if all(value == "ok" for value in checks.values()):
        return {"status": "ok", "version": __version__, "database": db.dialect, "checks": checks}
    failing = ", ".join(f"{name}: {value}" for name, value in checks.items() if value != "ok")
    return problem(503, "not_ready", "Not ready", f"Not ready ({failing}).", checks=checks)


def _readiness(db: Database) -> dict[str, str]:
    try:
        with db.reading() as session:
            session.execute(text("select 1"))
            at_head = connection_is_at_head(session.connection())
    except Exception as exc:  # any failure to answer is "not ready", never a 500
        return {"database": f"unreachable ({type(exc).__name__})", "migrations": "unknown"}
    return {"database": "ok", "migrations": "ok" if at_head else "not at head"}


Scraper = Annotated[Principal, Depends(require_scope(Scope.METRICS))]


@router.get("/metrics", include_in_schema=False)
def metrics(_: Scraper, request: Request) -> Response:
    """Prometheus text format: this process's counters and histograms (every process's
    under PROMETHEUS_MULTIPROC_DIR) and the queue, outbox and exception figures read from
    the database now."""
    registry = scrape_registry(app_metrics(request.app), app_db(request))
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
