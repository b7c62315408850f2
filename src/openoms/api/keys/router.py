"""The key API (admin only): create, list, read and revoke API keys.

A created key works at once; its secret is in the 201 answer and nowhere else (not stored,
not logged, not replayed: an Idempotency-Key retry answers the same key with `secret`
null). Revoking stops the key on the very next request to this process; other API processes
stop honouring it within their principal cache TTL (a few seconds, see api/auth.py).
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from sqlalchemy.orm import Session

from openoms.adapters.db.models import ApiKey
from openoms.adapters.db.session import Database
from openoms.api.auth import key_created, key_revoked, require_scope
from openoms.api.deps import get_db
from openoms.api.errors import PROBLEM_JSON
from openoms.api.idempotency import IdempotencyKey, respond, run_idempotent
from openoms.schemas.keys import ApiKeyCreate, ApiKeyCreated, ApiKeyList, ApiKeyOut
from openoms.services import access as keys
from openoms.services.access import Principal, Scope

router = APIRouter(prefix="/api/v1", tags=["api-keys"])
log = logging.getLogger(__name__)

PROBLEMS: dict[int | str, dict[str, Any]] = {
    status: {"description": text, "content": {PROBLEM_JSON: {}}}
    for status, text in {
        400: "A bad name or scopes, or a binding to an unconfigured channel "
        "(`channel_unknown`) or of an admin key (`api_key_invalid`).",
        401: "No valid API key.",
        403: "The API key lacks the admin scope.",
        404: "Unknown API key (`api_key_not_found`).",
        422: "The payload does not match the schema.",
    }.items()
}

Admin = Annotated[Principal, Depends(require_scope(Scope.ADMIN))]
Db = Annotated[Database, Depends(get_db)]


def key_view(api_key: ApiKey) -> dict[str, Any]:
    """The public body of a key: never its secret or hash."""
    return {
        "id": api_key.id,
        "name": api_key.name,
        "prefix": api_key.prefix,
        "scopes": api_key.scopes.split(),
        "channels": api_key.channels,
        "created_at": _iso(api_key.created_at),
        "revoked_at": _iso(api_key.revoked_at) if api_key.revoked_at else None,
    }


@router.post("/api-keys", status_code=201, response_model=ApiKeyCreated, responses=PROBLEMS)
def create_api_key(
    payload: ApiKeyCreate,
    request: Request,
    response: Response,
    principal: Admin,
    db: Db,
    idempotency_key: IdempotencyKey = None,
) -> dict[str, Any]:
    """Create an API key with `scopes`, bound to `channels` when given. The answer holds
    its `secret`, shown this once; the key works on the very next request."""
    secrets: list[str] = []

    def operation(session: Session) -> tuple[int, dict[str, Any]]:
        api_key, secret = keys.create_api_key(
            session, name=payload.name, scopes=payload.scopes, channels=payload.channels
        )
        secrets.append(secret)  # the last one is the committed one, should a retry run
        return 201, {**key_view(api_key), "secret": None}

    body = payload.model_dump(mode="json")
    result = run_idempotent(db, principal, idempotency_key, request, body, operation)
    answer = respond(response, result)
    if result.replayed:
        return answer
    key_created(request.app)
    log.info("created API key %s", answer["id"])
    return {**answer, "secret": secrets[-1]}


@router.get("/api-keys", response_model=ApiKeyList, responses=PROBLEMS)
def list_api_keys(_: Admin, db: Db) -> dict[str, Any]:
    """Every API key, oldest first, revoked ones included; never their secrets."""
    with db.reading() as session:
        return {"items": [key_view(k) for k in keys.list_api_keys(session)]}


@router.get("/api-keys/{api_key_id}", response_model=ApiKeyOut, responses=PROBLEMS)
def get_api_key(api_key_id: str, _: Admin, db: Db) -> dict[str, Any]:
    """One API key; never its secret."""
    with db.reading() as session:
        return key_view(keys.get_api_key(session, api_key_id))


@router.post("/api-keys/{api_key_id}/actions/revoke", response_model=ApiKeyOut, responses=PROBLEMS)
def revoke_api_key(api_key_id: str, request: Request, _: Admin, db: Db) -> dict[str, Any]:
    """Revoke the key: refused from the very next request to this API process (others stop
    within a few seconds). Idempotent by nature: revoking again keeps the first time."""
    with db.transaction() as session:
        api_key = keys.revoke_api_key(session, api_key_id)
        answer, key_hash = key_view(api_key), api_key.key_hash
    key_revoked(request.app, key_hash)
    return answer


def _iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")
