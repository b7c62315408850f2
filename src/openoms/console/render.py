"""Templates, the menu by role, and the pages the console answers when something is
refused (sign in, 403, 404, CSRF)."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from openoms import __version__
from openoms.console.auth import (
    ADMIN,
    ANYONE,
    ORDER_DESK,
    WAREHOUSE,
    PageForbidden,
    PageNotFound,
    SignInRequired,
    Visitor,
)
from openoms.console.security import CsrfRefused
from openoms.services.access import ConsoleRole

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=HERE / "templates")
templates.env.globals["version"] = __version__


def words(value: str | None) -> str:
    """A status or code as words: `WAITING_TO_FULFILL` → `waiting to fulfill`."""
    return (value or "").replace("_", " ").lower()


templates.env.filters["words"] = words

# (label, path, roles): what the menu offers each role. The routes check the same roles.
MENU: tuple[tuple[str, str, tuple[ConsoleRole, ...]], ...] = (
    ("Home", "/console/", ANYONE),
    ("Orders", "/console/orders", ORDER_DESK),
    ("Fulfillment orders", "/console/fulfillment", WAREHOUSE),
    ("Exceptions", "/console/exceptions", ORDER_DESK),
    ("Dashboard", "/console/dashboard", ORDER_DESK),
    ("Inventory", "/console/inventory", ANYONE),
    ("Routing runs", "/console/routing-runs", (ConsoleRole.AGENT,)),
    ("Settings", "/console/settings", ADMIN),
)


def menu_for(visitor: Visitor | None) -> list[tuple[str, str]]:
    if visitor is None:
        return []
    return [(label, path) for label, path, roles in MENU if visitor.identity.allows(*roles)]


# Every page: scripts and styles from this site only (htmx sets inline styles), never framed,
# never kept in a cache (an order page must not come back from the browser's history after
# sign-out), and no referrer to another site.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def page(
    request: Request,
    name: str,
    visitor: Visitor | None,
    *,
    status_code: int = 200,
    title: str = "",
    **context: Any,
) -> HTMLResponse:
    """Render template `name` in the layout (menu, user, CSRF token for htmx requests)."""
    return templates.TemplateResponse(
        request,
        name,
        {
            "visitor": visitor,
            "menu": menu_for(visitor),
            "csrf_token": visitor.csrf_token if visitor else "",
            "title": title,
            "current_path": request.url.path,
            **context,
        },
        status_code=status_code,
        headers=SECURITY_HEADERS,
    )


def with_query(path: str, params: dict[str, Any]) -> str:
    """`path` with the non-empty `params` as its query string."""
    kept = {key: value for key, value in params.items() if value not in (None, "")}
    return f"{path}?{urlencode(kept)}" if kept else path


templates.env.globals["with_query"] = with_query


def refusal(request: Request, status_code: int, title: str, message: str) -> HTMLResponse:
    """The page that says why a console request was refused, for whoever is signed in."""
    visitor = getattr(request.state, "console_visitor", None)
    return page(
        request, "refused.html", visitor, status_code=status_code, title=title, message=message
    )


def install_refusals(app: FastAPI) -> None:
    """The console's answers to its own exceptions (the API's handlers answer JSON), and a
    page instead of problem+json when a console request's parameters do not validate (the
    API's own handler still answers every other path). Call after the API's handlers."""
    api_validation = app.exception_handlers.get(RequestValidationError)
    if api_validation is None:
        raise RuntimeError("install the API's error handlers before the console")

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        if not request.url.path.startswith("/console/"):
            answer = api_validation(request, exc)
            return await answer if inspect.isawaitable(answer) else answer
        fields = "; ".join(
            f"{error['loc'][-1]}: {error['msg']}" for error in exc.errors() if error.get("loc")
        )
        return refusal(
            request,
            400,
            "Not understood",
            f"This request could not be read ({fields}). Nothing was changed.",
        )

    @app.exception_handler(SignInRequired)
    async def _sign_in(request: Request, _exc: SignInRequired) -> Response:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        location = f"/console/login?next={quote(target, safe='')}"
        if request.headers.get("HX-Request"):  # htmx follows this header, not a 303
            return Response(status_code=401, headers={"HX-Redirect": location})
        return RedirectResponse(location, status_code=303)

    @app.exception_handler(PageForbidden)
    async def _forbidden(request: Request, exc: PageForbidden) -> Response:
        return refusal(request, 403, "Not allowed", exc.message)

    @app.exception_handler(PageNotFound)
    async def _not_found(request: Request, exc: PageNotFound) -> Response:
        return refusal(request, 404, "Not found", exc.message)

    @app.exception_handler(CsrfRefused)
    async def _csrf(request: Request, _exc: CsrfRefused) -> Response:
        return refusal(
            request,
            403,
            "Form expired",
            "This form was not sent from a console page of this session (its "
            "security token is missing or stale). Nothing was changed; reload the page "
            "and try again.",
        )
