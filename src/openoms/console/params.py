"""The parameters most console endpoints take, declared once."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query

from openoms.adapters.db.session import Database
from openoms.console.auth import ADMIN, Visitor, console_db, require_action, require_role

Db = Annotated[Database, Depends(console_db)]
Admin = Annotated[Visitor, Depends(require_role(*ADMIN))]
"""An admin reading a settings page."""
AdminAction = Annotated[Visitor, Depends(require_action(*ADMIN))]
"""An admin's POST: signed in, CSRF token checked."""
Text = Annotated[str, Query(max_length=200)]
"""A search field or a cursor."""
Done = Annotated[str, Query(max_length=40)]
"""The key of the notice a page shows after a redirect (`?done=`)."""
