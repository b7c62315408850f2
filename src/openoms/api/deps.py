"""Objects the routers need, taken from the application state (no module globals)."""

from __future__ import annotations

from fastapi import FastAPI, Request

from openoms.adapters.db.session import Database
from openoms.adapters.payments import Gateways, default_gateways
from openoms.services.inventory import ReservationBatcher


def app_db(request: Request) -> Database:
    """The whole database, whoever asks: for authentication itself."""
    db: Database = request.app.state.db
    return db


def get_db(request: Request) -> Database:
    """The database as the authenticated caller may see it: a key bound to channels sees
    only their orders and what hangs off them (adapters/db/visibility.py), an unbound key
    everything. Every endpoint takes its database here, after its scope dependency (declare
    the principal before the database); asking before authentication is a bug."""
    principal = getattr(request.state, "principal", None)
    if principal is None:
        raise RuntimeError("get_db was called before the API key was checked")
    return app_db(request).visible_to(principal.channels)


def gateways_of(app: FastAPI) -> Gateways:
    """The app's payment gateways, built over its database on first use (a process that
    also runs a worker sets `app.state.gateways` to the ones its payment jobs use, see
    `create_app`)."""
    gateways: Gateways | None = getattr(app.state, "gateways", None)
    if gateways is None:
        gateways = app.state.gateways = default_gateways(app.state.db)
        gateways.instrument(app.state.metrics.gateway)
    return gateways


def reservation_batcher(request: Request) -> ReservationBatcher:
    """The app's reservation batcher (one per process, made by `create_app`)."""
    batcher: ReservationBatcher = request.app.state.reservation_batcher
    return batcher
