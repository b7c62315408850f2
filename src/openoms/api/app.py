"""The FastAPI application: routers, error handlers, and the objects they share."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI
from sqlalchemy import text

from openoms import __version__
from openoms.adapters.carriers import Carriers
from openoms.adapters.db.session import Database
from openoms.adapters.metrics import Metrics
from openoms.adapters.outbox import Outbox
from openoms.adapters.payments import Gateways
from openoms.api.adjustments.router import router as adjustments_router
from openoms.api.auth import install_auth
from openoms.api.cancels.router import router as cancels_router
from openoms.api.channel_adapters.router import router as channel_adapters_router
from openoms.api.errors import install_error_handlers
from openoms.api.events.router import router as events_router
from openoms.api.finance.router import router as finance_router
from openoms.api.flows.router import router as flows_router
from openoms.api.fulfillment.router import router as fulfillment_router
from openoms.api.holds.router import router as holds_router
from openoms.api.inventory.router import IMPORT_PATH
from openoms.api.inventory.router import router as inventory_router
from openoms.api.keys.router import router as keys_router
from openoms.api.limits import install_body_limits
from openoms.api.locations.router import router as locations_router
from openoms.api.logs import RequestIdMiddleware
from openoms.api.openapi import install_openapi
from openoms.api.ops import router as ops_router
from openoms.api.orders.router import router as orders_router
from openoms.api.params import refuse_control_characters
from openoms.api.payments.router import router as payments_router
from openoms.api.process_exceptions.router import router as process_exceptions_router
from openoms.api.ratelimit import RateLimit
from openoms.api.reservations.router import router as reservations_router
from openoms.api.reships.router import router as reships_router
from openoms.api.returns.router import router as returns_router
from openoms.api.routing.router import router as routing_router
from openoms.api.routing.runs import router as routing_runs_router
from openoms.api.webhooks.router import router as webhooks_router
from openoms.config import MAX_BODY_BYTES, MAX_IMPORT_BYTES
from openoms.console import install_console
from openoms.schemas.flows import trigger_catalog
from openoms.services.inventory import ReservationBatcher
from openoms.worker.consumers import default_metrics

DESCRIPTION = """
openoms runs the whole life of a commerce order: capture, reservation, routing,
fulfillment, shipment, payment capture, cancellations, returns and refunds.

Authenticate with `Authorization: Bearer <api key>`; scopes are storefront, warehouse,
agent, metrics (`GET /metrics`, Prometheus text) and admin. Amounts are decimal strings
in the order's currency. Errors are `application/problem+json` with a stable `code`. Send
an `Idempotency-Key` header on every POST so a retry replays the first answer instead of
acting twice; the POSTs that move money or stock require it (400
`idempotency_key_required` without one).

Request bodies are capped: 1 MiB for JSON, 256 MiB for an inventory import (both
configurable); over the cap is 413 `payload_too_large`.
"""


def create_app(
    db: Database,
    outbox: Outbox,
    *,
    carriers: Carriers | None = None,
    gateways: Gateways | None = None,
    rate_limit: RateLimit | None = None,
    clock: Callable[[], float] = time.monotonic,
    max_body_bytes: int = MAX_BODY_BYTES,
    max_import_bytes: int = MAX_IMPORT_BYTES,
    metrics: Metrics | None = None,
) -> FastAPI:
    """The app over `db`. Pass the `carriers` and payment `gateways` an in-process worker
    uses, so both share one set of accounts and its steering (otherwise they are built over
    `db` on first use; the sandboxes keep their state in `db` either way).
    `rate_limit` limits each non-admin key (none: no limit; `openoms serve` reads it from
    the environment); `clock` (monotonic seconds) drives the key caches and the limiter.
    Request bodies are capped at `max_body_bytes`, inventory imports at `max_import_bytes`.
    `metrics` are the process's (the worker's job registry reports to the same ones); by
    default the app has its own, and the carriers and gateways it is given report to them.
    Reservations at one location share transactions through the app's
    `ReservationBatcher` (group commit), stopped when the app shuts down."""
    batcher = ReservationBatcher(db, outbox)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        batcher.close()

    app = FastAPI(
        title="openoms",
        version=__version__,
        description=DESCRIPTION,
        dependencies=[Depends(refuse_control_characters)],
        lifespan=lifespan,
    )
    app.state.db = db
    app.state.outbox = outbox
    app.state.reservation_batcher = batcher
    app.state.metrics = metrics = metrics or default_metrics()
    if carriers is not None:
        carriers.instrument(metrics.carrier)
        app.state.carriers = carriers
    if gateways is not None:
        gateways.instrument(metrics.gateway)
        app.state.gateways = gateways
    install_error_handlers(app)
    install_auth(app, rate_limit=rate_limit, clock=clock)
    install_body_limits(app, max_bytes=max_body_bytes, paths={IMPORT_PATH: max_import_bytes})
    app.add_middleware(RequestIdMiddleware)  # last added runs first: every answer has an id
    app.include_router(orders_router)
    app.include_router(locations_router)
    app.include_router(inventory_router)
    app.include_router(reservations_router)
    app.include_router(routing_router)
    app.include_router(routing_runs_router)
    app.include_router(fulfillment_router)
    app.include_router(payments_router)
    app.include_router(finance_router)
    app.include_router(cancels_router)
    app.include_router(holds_router)
    app.include_router(adjustments_router)
    app.include_router(returns_router)
    app.include_router(reships_router)
    app.include_router(process_exceptions_router)
    app.include_router(keys_router)
    app.include_router(events_router)
    app.include_router(flows_router)
    app.include_router(webhooks_router)
    app.include_router(channel_adapters_router)
    app.include_router(ops_router)
    app.state.flow_catalog = trigger_catalog()  # what the console checks a flow it changes by
    install_console(app)  # the service console, under /console, on the same services
    install_openapi(app)

    @app.get("/health", tags=["health"])
    def health() -> dict[str, Any]:
        """Liveness and database reachability. Needs no API key."""
        with db.reading() as session:
            session.execute(text("select 1"))
        return {"status": "ok", "version": __version__, "database": db.dialect}

    return app
