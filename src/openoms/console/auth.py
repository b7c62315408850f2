"""Who is signed in, and what each page lets them see.

Every page declares its roles with `Depends(require_role(...))` (admin may open every
page): no session, an ended or expired one, or a disabled user → the sign-in page (303);
a role without the page → 403. The menu hides what a role cannot open, but this is what
refuses it. Every POST also declares `Depends(csrf_checked)`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool

from openoms.adapters.db.session import Database
from openoms.console.security import (
    SESSION_COOKIE,
    Keys,
    check_csrf,
    keys_of,
    presented_csrf,
)
from openoms.services.access import ConsoleIdentity, ConsoleRole, session_identity


class SignInRequired(Exception):
    """No live session: the browser goes to the sign-in page and comes back after."""


class PageForbidden(Exception):
    """The signed-in user's role may not open this page (or this location)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class PageNotFound(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True, slots=True)
class Visitor:
    """The signed-in user with their session token (for CSRF) and the app's keys."""

    identity: ConsoleIdentity
    token: str
    keys: Keys

    @property
    def csrf_token(self) -> str:
        return self.keys.csrf_token(self.token)


def console_db(request: Request) -> Database:
    """The whole database: console users are not bound to channels."""
    db: Database = request.app.state.db
    return db


async def current_visitor(request: Request) -> Visitor:
    keys = await keys_of(request)
    token = keys.session_token(request.cookies.get(SESSION_COOKIE))
    if token is None:
        raise SignInRequired()
    identity = await run_in_threadpool(_identity, console_db(request), token)
    if identity is None:
        raise SignInRequired()
    request.state.console_visitor = Visitor(identity, token, keys)
    return request.state.console_visitor  # type: ignore[no-any-return]


def _identity(db: Database, token: str) -> ConsoleIdentity | None:
    with db.reading() as session:
        return session_identity(session, token)


def require_role(*roles: ConsoleRole) -> Callable[..., Awaitable[Visitor]]:
    """A page's dependency: the visitor, holding one of `roles` (admin holds all)."""
    names = ", ".join(role.value for role in roles)

    async def allowed(visitor: Visitor = Depends(current_visitor)) -> Visitor:
        if not visitor.identity.allows(*roles):
            raise PageForbidden(
                f"This page is for {names} users; you are signed in as "
                f"{visitor.identity.role.value}."
            )
        return visitor

    return allowed


def require_action(*roles: ConsoleRole) -> Callable[..., Awaitable[Visitor]]:
    """An action's (POST's) dependency: its CSRF token checked first (nothing runs without
    it), then the role, as `require_role`."""
    role_check = require_role(*roles)

    async def allowed(visitor: Visitor = Depends(csrf_checked)) -> Visitor:
        return await role_check(visitor)

    return allowed


async def csrf_checked(request: Request, visitor: Visitor = Depends(current_visitor)) -> Visitor:
    """A signed-in POST's dependency: its CSRF token must be this session's."""
    check_csrf(visitor.keys, visitor.token, await presented_csrf(request))
    return visitor


ANYONE = tuple(ConsoleRole)
ORDER_DESK = (ConsoleRole.AGENT, ConsoleRole.FINANCE)
WAREHOUSE = (ConsoleRole.WAREHOUSE,)
# Who may act on an order (hold, release, cancel): agents (and admin); finance reads.
ORDER_ACTIONS = (ConsoleRole.AGENT,)
# Who may give money back on a payment method (the API's refund is the agent scope's):
# agents, and finance, who otherwise read orders (and admin).
MONEY_ACTIONS = (ConsoleRole.AGENT, ConsoleRole.FINANCE)
ADMIN = (ConsoleRole.ADMIN,)
