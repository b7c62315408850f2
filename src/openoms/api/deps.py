"""Objects the routers need, taken from the application state (no module globals)."""

from __future__ import annotations

from fastapi import FastAPI, Request

from openoms.adapters.db.session import Database
from openoms.adapters.payments import Gateways, default_gateways


def get_db(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


def gateways_of(app: FastAPI) -> Gateways:
    """The app's payment gateways, built over its database on first use (a process that
    also runs a worker sets `app.state.gateways` to the ones its payment jobs use, see
    `create_app`)."""
    gateways: Gateways | None = getattr(app.state, "gateways", None)
    if gateways is None:
        gateways = app.state.gateways = default_gateways(app.state.db)
    return gateways
