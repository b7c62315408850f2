"""Objects the routers need, taken from the application state (no module globals)."""

from __future__ import annotations

from fastapi import Request

from openoms.adapters.db.session import Database


def get_db(request: Request) -> Database:
    db: Database = request.app.state.db
    return db
