"""Sign in, sign out, and the home page."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from openoms.adapters.db.session import Database
from openoms.console.auth import ANYONE, Visitor, csrf_checked, require_role
from openoms.console.params import Db
from openoms.console.render import menu_for, page
from openoms.console.security import (
    LOGIN_CSRF_COOKIE,
    LOGIN_FORM_SECONDS,
    SESSION_COOKIE,
    SESSION_SECONDS,
    CsrfRefused,
    clear_cookie,
    keys_of,
    set_cookie,
)
from openoms.services.access import SignIn, sign_in, sign_out

router = APIRouter(prefix="/console")


def safe_next(target: str | None) -> str:
    """Where to go after signing in: a console path of this site, never another site."""
    if target and target.startswith("/console") and not target.startswith("//"):
        return target
    return "/console/"


async def _login_form(
    request: Request, *, next_: str, message: str = "", email: str = "", status_code: int = 200
) -> HTMLResponse:
    keys = await keys_of(request)
    nonce, cookie = keys.login_nonce()
    response = page(
        request,
        "login.html",
        None,
        status_code=status_code,
        title="Sign in",
        login_csrf=nonce,
        next=safe_next(next_),
        message=message,
        email=email,
    )
    set_cookie(request, response, LOGIN_CSRF_COOKIE, cookie, LOGIN_FORM_SECONDS)
    return response


@router.get("/login", response_class=HTMLResponse, include_in_schema=False)
async def login_form(request: Request, next: str = "", signed_out: bool = False) -> HTMLResponse:
    message = "You are signed out." if signed_out else ""
    return await _login_form(request, next_=next, message=message)


@router.post("/login", include_in_schema=False)
async def login(
    request: Request,
    db: Db,
    email: Annotated[str, Form(max_length=320)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
    csrf_token: Annotated[str, Form(max_length=200)] = "",
    next: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    """Check the password (within the login rate limit) and open a session."""
    keys = await keys_of(request)
    if not keys.login_nonce_valid(request.cookies.get(LOGIN_CSRF_COOKIE), csrf_token):
        raise CsrfRefused()
    client = request.client.host if request.client else "unknown"
    outcome = await run_in_threadpool(_sign_in, db, email, password, client)
    if outcome.token is None:
        return await _login_form(
            request,
            next_=next,
            message=outcome.refusal or "",
            email=email,
            status_code=429 if outcome.limited else 401,
        )
    response = RedirectResponse(safe_next(next), status_code=303)
    set_cookie(
        request, response, SESSION_COOKIE, keys.session_cookie(outcome.token), SESSION_SECONDS
    )
    clear_cookie(response, LOGIN_CSRF_COOKIE)
    return response


def _sign_in(db: Database, email: str, password: str, client: str) -> SignIn:
    # Committed whether or not it signs in: a failure counts towards the rate limit.
    with db.transaction() as session:
        return sign_in(session, email, password, client=client)


@router.post("/logout", include_in_schema=False)
async def logout(
    db: Db,
    visitor: Annotated[Visitor, Depends(csrf_checked)],
) -> Response:
    """End the session: its cookie no longer signs anyone in, here or in any process."""
    await run_in_threadpool(_sign_out, db, visitor.token)
    response = RedirectResponse("/console/login?signed_out=1", status_code=303)
    clear_cookie(response, SESSION_COOKIE)
    return response


def _sign_out(db: Database, token: str) -> None:
    with db.transaction() as session:
        sign_out(session, token)


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
def home(
    request: Request, visitor: Annotated[Visitor, Depends(require_role(*ANYONE))]
) -> HTMLResponse:
    return page(request, "home.html", visitor, title="Home", links=menu_for(visitor)[1:])
