"""problem+json for every error: domain errors keep their stable code and 4xx status;
payload validation is 422 with the fields; anything else is a 500 (a bug) with no details,
logged once."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import iter_route_contexts
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from openoms.adapters.db.session import is_transient
from openoms.api.idempotency import missing_key
from openoms.domain.errors import DomainError, TemporarilyUnavailable
from openoms.schemas import field_path

PROBLEM_JSON = "application/problem+json"
log = logging.getLogger("openoms.api")


def problem(status: int, code: str, title: str, detail: str, **extra: Any) -> JSONResponse:
    body = {
        "type": f"https://openoms.dev/problems/{code.replace('_', '-')}",
        "title": title,
        "status": status,
        "detail": detail,
        "code": code,
        **extra,
    }
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON)


def domain_problem(exc: DomainError) -> JSONResponse:
    extra: dict[str, Any] = dict(exc.extra)
    if exc.field:
        extra["field"] = exc.field
    return problem(exc.status, exc.code, exc.title, exc.detail, **extra)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def _domain(_request: Request, exc: DomainError) -> JSONResponse:
        return domain_problem(exc)

    @app.exception_handler(DBAPIError)
    async def _database(_request: Request, exc: DBAPIError) -> JSONResponse:
        if not is_transient(exc):
            raise exc  # a bug: the 500 of UnhandledErrors, logged once
        # A deadlock or serialization failure that outlasted retry_transient's retries:
        # nothing was stored, and the same request may be sent again.
        log.warning("a transaction kept failing on contention", exc_info=exc)
        return domain_problem(
            TemporarilyUnavailable(
                "the database was too busy with conflicting changes to carry out the "
                "request, and nothing of it was stored: send it again"
            )
        )

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, exc: RequestValidationError) -> JSONResponse:
        key_error = missing_key(exc.errors())
        if key_error is not None:
            return domain_problem(key_error)
        errors = [
            {"field": field_path(tuple(e.get("loc", ()))), "message": e.get("msg", "")}
            for e in exc.errors()
        ]
        detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors[:5])
        return problem(422, "payload_invalid", "Payload is invalid", detail, errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = HTTP_CODES.get(exc.status_code, "http_error")
        answer = problem(exc.status_code, code, str(exc.detail), str(exc.detail))
        answer.headers.update(exc.headers or {})
        if exc.status_code == 405:
            answer.headers["Allow"] = ", ".join(allowed_methods(request))
        return answer

    app.add_middleware(UnhandledErrors)


def allowed_methods(request: Request) -> list[str]:
    """Every method some route serves at the request's path. (Starlette's own `Allow` names
    only the first route matching the path, and a path often has a GET and a PUT route.)"""
    methods: set[str] = set()
    for route in iter_route_contexts(request.app.routes):
        regex = getattr(route, "path_regex", None)
        if regex is not None and regex.match(request.url.path):
            methods |= route.methods or set()
    return sorted(methods)


HTTP_CODES = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}


class UnhandledErrors:
    """Answers an error nothing else handled with a bare 500 problem and logs it, once.

    An `exception_handler(Exception)` would log it and answer, but Starlette's outermost
    middleware then raises it again for the server, which logs it a second time. This
    middleware sits inside that one and lets nothing escape, unless the answer had already
    begun (then only the server can report it, and it does)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracked(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracked)
        except Exception:
            if started:
                raise
            log.exception("unhandled error")
            answer = problem(
                500, "internal_error", "Internal error", "An unexpected error occurred."
            )
            await answer(scope, receive, send)
