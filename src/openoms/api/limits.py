"""Request body caps: a body over its cap is 413 `payload_too_large` (problem+json), and
nothing is stored.

A pure ASGI middleware, so nothing reads a body in full before the cap is checked: a
declared `Content-Length` over the cap is refused before the body is read, and a streamed
body is refused as soon as what was received passes the cap (nothing after it is read).
JSON endpoints share one cap (1 MiB by default); a path may have its own (inventory imports:
256 MiB by default, see `openoms.config`)."""

from __future__ import annotations

from collections.abc import Mapping

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from openoms.api.errors import problem


class BodyTooLarge(HTTPException):
    """Raised from `receive` while an endpoint reads its body (an HTTPException, so that
    FastAPI passes it to the error handlers rather than calling it a parse error)."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__(413, f"The request body is larger than {max_bytes} bytes.")
        self.max_bytes = max_bytes


class BodySizeLimit:
    def __init__(self, app: ASGIApp, *, max_bytes: int, paths: Mapping[str, int]) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.paths = dict(paths)  # path → its own cap

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        cap = self.paths.get(scope["path"], self.max_bytes)
        if _declared_length(scope) > cap:
            await too_large(BodyTooLarge(cap))(scope, receive, send)
            return
        received = 0

        async def capped() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > cap:
                    raise BodyTooLarge(cap)
            return message

        await self.app(scope, capped, send)


def install_body_limits(app: FastAPI, *, max_bytes: int, paths: Mapping[str, int]) -> None:
    """Cap every request body at `max_bytes`, and those of `paths` (path → bytes) at theirs."""
    app.add_middleware(BodySizeLimit, max_bytes=max_bytes, paths=paths)

    @app.exception_handler(BodyTooLarge)
    async def _too_large(_request: Request, exc: BodyTooLarge) -> JSONResponse:
        return too_large(exc)


def too_large(exc: BodyTooLarge) -> JSONResponse:
    answer = problem(
        413, "payload_too_large", "Payload too large", str(exc.detail), max_bytes=exc.max_bytes
    )
    answer.headers["Connection"] = "close"  # the rest of the body is not read
    return answer


def _declared_length(scope: Scope) -> int:
    value = Headers(scope=scope).get("content-length", "")
    return int(value) if value.isdigit() else 0
