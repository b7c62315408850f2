"""What every operation may answer besides its own outcomes, stated once in the OpenAPI
document: 413 where a request body is taken (api/limits.py caps every body) and 401, 403 and
429 where an API key is needed (api/auth.py checks the key and its scope, and limits each
non-admin key's rate). Routers document only what is their own."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from openoms.api.errors import PROBLEM_JSON

_WITH_BODY = {"413": "The request body is over its cap (`payload_too_large`, with `max_bytes`)."}
_WITH_KEY = {
    "401": "No valid API key (`unauthenticated`).",
    "403": "The API key lacks the scope (`forbidden`) or the channel (`channel_forbidden`).",
    "429": "This API key sent too many requests (`rate_limited`; wait `Retry-After` seconds).",
}


def install_openapi(app: FastAPI) -> None:
    """Generate the app's OpenAPI document with the answers above on every operation they
    apply to (each operation's own description of one of them is kept)."""
    generate = app.openapi

    def document() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = generate()
            for operations in schema.get("paths", {}).values():
                for operation in operations.values():
                    _add_common_answers(operation)
        return app.openapi_schema or {}

    app.openapi = document  # type: ignore[method-assign]


def _add_common_answers(operation: dict[str, Any]) -> None:
    answers = operation.setdefault("responses", {})
    common = {
        **(_WITH_BODY if "requestBody" in operation else {}),
        **(_WITH_KEY if operation.get("security") else {}),
    }
    for status, description in common.items():
        answers.setdefault(status, {"description": description, "content": {PROBLEM_JSON: {}}})
