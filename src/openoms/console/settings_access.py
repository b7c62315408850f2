"""Settings, for admins: API keys and webhook endpoints (settings.py: channels and
locations; settings_flows.py: flows). Every change runs the service the API's endpoint
runs, in one transaction; a refused one shows the page again with the API's sentence and
changes nothing.

Secrets: a new API key and a new webhook endpoint's signing secret are shown once, in the
answer to the POST that made them (never in a URL, never again: the pages list prefixes and
ids only), and the console never logs them. A revoked key stops on this process's very next
API request (its caches are told, as the API's revoke tells them); other processes stop
within their cache's few seconds, as after the API's revoke.
"""

from __future__ import annotations

import logging
from typing import Annotated, Any

from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from openoms.adapters.db.session import Database
from openoms.adapters.outbox import Outbox
from openoms.console.auth import (
    PageNotFound,
    Visitor,
)
from openoms.console.paging import PAGE_SIZE, SearchInvalid, decode_cursor, encode_cursor
from openoms.console.params import Admin, AdminAction, Db, Done, Text
from openoms.console.render import page
from openoms.domain.errors import DomainError, NotFound, ValidationFailed
from openoms.services.access import Scope, create_api_key, list_api_keys, revoke_api_key
from openoms.services.webhooks import (
    EndpointChanges,
    WebhookSettings,
    create_endpoint,
    delete_endpoint,
    endpoint_view,
    get_endpoint,
    list_deliveries,
    list_endpoints,
    update_endpoint,
)

router = APIRouter(prefix="/console")
log = logging.getLogger(__name__)
Id = Annotated[str, Path(max_length=60)]
DONE = {
    "revoked": "The API key is revoked.",
    "enabled": "The endpoint is enabled.",
    "disabled": "The endpoint is disabled: nothing more is sent to it until it is enabled.",
    "deleted": "The endpoint is deleted with its delivery log.",
}


# --- API keys ---------------------------------------------------------------------------


@router.get("/settings/api-keys", response_class=HTMLResponse, include_in_schema=False)
def api_keys(request: Request, visitor: Admin, db: Db, done: Done = "") -> HTMLResponse:
    return keys_page(request, visitor, db, notice=DONE.get(done, ""))


def keys_page(
    request: Request,
    visitor: Visitor,
    db: Database,
    *,
    status_code: int = 200,
    error: str = "",
    notice: str = "",
    created: dict[str, str] | None = None,
    form: dict[str, Any] | None = None,
) -> HTMLResponse:
    with db.reading() as session:
        rows = [
            {
                "id": k.id,
                "name": k.name,
                "prefix": k.prefix,
                "scopes": k.scopes.split(),
                "channels": k.channels,
                "created_at": k.created_at,
                "revoked_at": k.revoked_at,
            }
            for k in list_api_keys(session)
        ]
    return page(
        request,
        "settings_keys.html",
        visitor,
        status_code=status_code,
        title="API keys",
        rows=rows,
        scopes=[s.value for s in Scope],
        error=error,
        notice=notice,
        created=created,
        form=form or {"name": "", "scopes": [], "channels": ""},
    )


@router.post("/settings/api-keys", response_class=HTMLResponse, include_in_schema=False)
async def create_key(request: Request, visitor: AdminAction, db: Db) -> HTMLResponse:
    """Create a key (the API's POST /api-keys): the page shows its secret this once."""
    form = await request.form()
    name = str(form.get("name", ""))[:300]
    scopes = [str(s) for s in form.getlist("scopes")][:10]
    channels_text = str(form.get("channels", ""))[:2000]
    channels = [c.strip() for c in channels_text.split(",") if c.strip()] or None
    typed = {"name": name, "scopes": scopes, "channels": channels_text}
    try:
        if not scopes:
            raise ValidationFailed("Choose at least one scope.", field="scopes")
        with db.transaction() as session:
            api_key, secret = create_api_key(session, name=name, scopes=scopes, channels=channels)
            created = {"id": api_key.id, "name": api_key.name, "secret": secret}
    except DomainError as exc:
        return keys_page(request, visitor, db, status_code=exc.status, error=exc.detail, form=typed)
    _forget_misses(request)
    log.info("created API key %s from the console", created["id"])
    return keys_page(request, visitor, db, status_code=201, created=created)


@router.post("/settings/api-keys/{key_id}/revoke", include_in_schema=False)
def revoke_key(request: Request, key_id: Id, visitor: AdminAction, db: Db) -> Response:
    """Revoke the key (the API's actions/revoke)."""
    try:
        with db.transaction() as session:
            key_hash = revoke_api_key(session, key_id).key_hash
    except DomainError as exc:
        return keys_page(request, visitor, db, status_code=exc.status, error=exc.detail)
    _forget_key(request, key_hash)
    return RedirectResponse("/console/settings/api-keys?done=revoked", 303)


def _forget_misses(request: Request) -> None:
    """A key was made: the API's cache of unknown keys in this process forgets them all."""
    misses = getattr(request.app.state, "key_misses", None)
    if misses is not None:
        misses.clear()


def _forget_key(request: Request, key_hash: str) -> None:
    """A key was revoked: the API in this process refuses it from its next request."""
    principals = getattr(request.app.state, "principal_cache", None)
    if principals is not None:
        principals.pop(key_hash)
    misses = getattr(request.app.state, "key_misses", None)
    if misses is not None:
        misses.put(key_hash, True)


# --- webhook endpoints ------------------------------------------------------------------


@router.get("/settings/webhooks", response_class=HTMLResponse, include_in_schema=False)
def webhooks(request: Request, visitor: Admin, db: Db, done: Done = "") -> HTMLResponse:
    return webhooks_page(request, visitor, db, notice=DONE.get(done, ""))


def webhooks_page(
    request: Request,
    visitor: Visitor,
    db: Database,
    *,
    status_code: int = 200,
    errors: dict[str, str] | None = None,
    notice: str = "",
    created: dict[str, str] | None = None,
    form: dict[str, str] | None = None,
) -> HTMLResponse:
    with db.reading() as session:
        rows = [endpoint_view(e) for e in list_endpoints(session)]
    return page(
        request,
        "settings_webhooks.html",
        visitor,
        status_code=status_code,
        title="Webhook endpoints",
        rows=rows,
        errors=errors or {},
        notice=notice,
        created=created,
        form=form or {"url": "", "description": ""},
    )


@router.post("/settings/webhooks", response_class=HTMLResponse, include_in_schema=False)
def create_webhook(
    request: Request,
    visitor: AdminAction,
    db: Db,
    url: Annotated[str, Form(max_length=2000)] = "",
    description: Annotated[str, Form(max_length=500)] = "",
) -> HTMLResponse:
    """Register an endpoint for every event of every channel (the API's POST
    /webhook-endpoints): the page shows its signing secret this once."""
    typed = {"url": url, "description": description}
    try:
        with db.transaction() as session:
            endpoint = create_endpoint(
                session,
                url=url.strip(),
                event_types=None,
                channels=None,
                description=description,
                allow_private=_allow_private(),
            )
            created = {"id": endpoint.id, "url": endpoint.url, "secret": endpoint.secret}
    except DomainError as exc:
        return webhooks_page(
            request, visitor, db, status_code=exc.status, errors={"new": exc.detail}, form=typed
        )
    log.info("created webhook endpoint %s from the console", created["id"])
    return webhooks_page(request, visitor, db, status_code=201, created=created)


@router.post("/settings/webhooks/{endpoint_id}/{move}", include_in_schema=False)
def change_webhook(
    request: Request,
    endpoint_id: Id,
    move: Annotated[str, Path(max_length=10)],
    visitor: AdminAction,
    db: Db,
) -> Response:
    """Enable, disable (the API's PATCH `enabled`) or delete (DELETE) an endpoint."""
    if move not in ("enable", "disable", "delete"):
        raise PageNotFound(f"There is no action {move!r} on an endpoint.")
    try:
        with db.transaction() as session:
            if move == "delete":
                delete_endpoint(session, endpoint_id)
            else:
                update_endpoint(
                    session,
                    outbox_of(request),
                    endpoint_id,
                    EndpointChanges(enabled=move == "enable"),
                    allow_private=_allow_private(),
                )
    except DomainError as exc:
        return webhooks_page(
            request, visitor, db, status_code=exc.status, errors={endpoint_id: exc.detail}
        )
    return RedirectResponse(f"/console/settings/webhooks?done={move}d", 303)


@router.get(
    "/settings/webhooks/{endpoint_id}", response_class=HTMLResponse, include_in_schema=False
)
def webhook(
    request: Request,
    endpoint_id: Id,
    visitor: Admin,
    db: Db,
    cursor: Text = "",
    status: Annotated[str, Query(max_length=20)] = "",
) -> HTMLResponse:
    """One endpoint and its deliveries newest first, a page at a time, by status."""
    error = ""
    rows: list[dict[str, Any]] = []
    more = None
    with db.reading() as session:
        try:
            endpoint = endpoint_view(get_endpoint(session, endpoint_id))
        except NotFound as exc:
            raise PageNotFound(exc.detail) from None
        try:
            if status and status not in ("pending", "succeeded", "failed"):
                raise SearchInvalid(f"Status {status!r} is not a delivery status.")
            after = number_cursor(cursor, "wd_")
            found = list_deliveries(
                session, endpoint_id, status=status or None, after_id=after, limit=PAGE_SIZE + 1
            )
        except SearchInvalid as exc:
            error = str(exc)
        else:
            rows = found[:PAGE_SIZE]
            more = encode_cursor(f"wd_{rows[-1]['id']}") if len(found) > PAGE_SIZE else None
    return page(
        request,
        "settings_webhook.html",
        visitor,
        status_code=400 if error else 200,
        title=f"Webhook endpoint {endpoint_id}",
        e=endpoint,
        rows=rows,
        next_cursor=more,
        first_page=not cursor,
        status=status,
        error=error,
    )


def _allow_private() -> bool:
    # Read per request, as the API does: the environment is where it lives.
    return WebhookSettings.from_env().allow_private


def number_cursor(cursor: str, prefix: str) -> int | None:
    value = decode_cursor(cursor, prefix=prefix)
    if value is None:
        return None
    digits = value.removeprefix(prefix)
    if not digits.isdigit() or len(digits) > 18:
        raise SearchInvalid("The page link is broken; start again from the first page.")
    return int(digits)


def outbox_of(request: Request) -> Outbox:
    outbox: Outbox = request.app.state.outbox
    return outbox
