"""The service console: server-rendered pages (Jinja2, htmx for partial updates) under
/console, served by the API's app on the same services. htmx is vendored
(static/vendor/htmx.min.js, see its NOTICE); nothing is fetched from elsewhere and there is
no build step. Every page works without JavaScript where a form can.

This package calls services only (docs/architecture.md); its pages declare the roles that
may open them (auth.py) and its POSTs their CSRF check (security.py).
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from openoms.console import (
    dashboard,
    exceptions,
    fulfillment,
    inventory,
    money_actions,
    order_actions,
    orders,
    packing_slip,
    previews,
    reships,
    returns,
    routing_runs,
    session_routes,
    settings,
    settings_access,
    settings_flows,
    warehouse_actions,
)
from openoms.console.render import HERE, install_refusals

__all__ = ["install_console"]
_PREVIEWED = (money_actions, reships)  # imported for the actions they register


def install_console(app: FastAPI) -> None:
    """Mount the console on `app` (whose `state.db` it reads) under /console."""
    install_refusals(app)
    app.include_router(session_routes.router)
    app.include_router(orders.router)
    app.include_router(order_actions.router)
    # returns, money_actions and reships register their actions with previews on import
    app.include_router(returns.router)
    app.include_router(previews.router)
    app.include_router(fulfillment.router)
    app.include_router(warehouse_actions.router)
    app.include_router(packing_slip.router)
    app.include_router(exceptions.router)
    app.include_router(routing_runs.router)
    app.include_router(dashboard.router)
    app.include_router(inventory.router)
    app.include_router(settings.router)
    app.include_router(settings_access.router)
    app.include_router(settings_flows.router)
    app.mount("/console/static", StaticFiles(directory=HERE / "static"), name="console-static")
