"""Webhook endpoints and their delivery log (admin only; docs/webhooks.md).

Register a receiver (`POST /webhook-endpoints`: the 201 answer holds its `secret`, shown
there and in rotate-secret's answer only), change, disable or delete it, send it a test
event, read each delivery with its attempts, retry one delivery, replay what failed since
a time. Every POST honours `Idempotency-Key`.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from sqlalchemy.orm import Session

from openoms.adapters.db.session import Database
from openoms.adapters.outbox import Outbox
from openoms.api.auth import require_scope
from openoms.api.cursors import decode_cursor, encode_cursor
from openoms.api.deps import get_db
from openoms.api.errors import PROBLEM_JSON
from openoms.api.idempotency import IdempotencyKey, answer_idempotent, respond, run_idempotent
from openoms.api.params import WHOLE_NUMBER
from openoms.domain.errors import ValidationFailed
from openoms.domain.webhooks import WebhookEventTypeUnknown
from openoms.schemas.events import BY_NAME
from openoms.schemas.webhooks import (
    WebhookDeliveryOut,
    WebhookDeliveryPage,
    WebhookEndpointCreate,
    WebhookEndpointList,
    WebhookEndpointOut,
    WebhookEndpointUpdate,
    WebhookEndpointWithSecret,
    WebhookReplay,
    WebhookReplayed,
)
from openoms.services import webhooks as service
from openoms.services.access import Principal, Scope

router = APIRouter(prefix="/api/v1", tags=["webhooks"])
log = logging.getLogger(__name__)

PROBLEMS: dict[int | str, dict[str, Any]] = {
    status: {"description": text, "content": {PROBLEM_JSON: {}}}
    for status, text in {
        400: "A URL that is not http(s) (`webhook_url_invalid`) or names a non-public address "
        "(`webhook_url_forbidden`), an unknown event type (`webhook_event_type_unknown`), a "
        "bad cursor or idempotency key.",
        401: "No valid API key.",
        403: "The API key lacks the admin scope.",
        404: "Unknown endpoint (`webhook_endpoint_not_found`) or delivery "
        "(`webhook_delivery_not_found`).",
        409: "The endpoint is disabled (`webhook_endpoint_disabled`): enable it first.",
        422: "The payload does not match the schema.",
    }.items()
}

Admin = Annotated[Principal, Depends(require_scope(Scope.ADMIN))]
Db = Annotated[Database, Depends(get_db)]
CURSOR_PREFIX = "whd_"
MAX_ID = 2**63 - 1  # the largest delivery id the database holds
DeliveryId = Annotated[int, Path(ge=1, le=MAX_ID)]


def _outbox(request: Request) -> Outbox:
    outbox: Outbox = request.app.state.outbox
    return outbox


def _settings() -> service.WebhookSettings:
    # Read per request: the environment is the only place it lives (tests change it).
    return service.WebhookSettings.from_env()


def _known_types(types: list[str] | None) -> list[str] | None:
    if types is None:
        return None
    unknown = sorted({t for t in types if t not in BY_NAME})
    if unknown:
        raise WebhookEventTypeUnknown(
            f"unknown event types {unknown}: see GET /api/v1/event-types", field="event_types"
        )
    return types


@router.post(
    "/webhook-endpoints",
    status_code=201,
    response_model=WebhookEndpointWithSecret,
    responses=PROBLEMS,
)
def create_webhook_endpoint(
    payload: WebhookEndpointCreate,
    request: Request,
    response: Response,
    principal: Admin,
    db: Db,
    idempotency_key: IdempotencyKey = None,
) -> dict[str, Any]:
    """Register an endpoint, enabled. The answer holds its signing `secret` (`whsec_…`),
    shown this once. Every event the worker hands out from now on goes to it (events the
    worker already handed out before do not)."""
    types = _known_types(payload.event_types)
    allow_private = _settings().allow_private
    secrets: list[str] = []

    def operation(session: Session) -> tuple[int, dict[str, Any]]:
        endpoint = service.create_endpoint(
            session,
            url=payload.url,
            event_types=types,
            channels=payload.channels,
            description=payload.description,
            allow_private=allow_private,
        )
        secrets.append(endpoint.secret)
        return 201, {**service.endpoint_view(endpoint), "secret": None}

    body = payload.model_dump(mode="json")
    result = run_idempotent(db, principal, idempotency_key, request, body, operation)
    answer = respond(response, result)
    if result.replayed:
        return answer
    log.info("created webhook endpoint %s", answer["id"])
    return {**answer, "secret": secrets[-1]}


@router.get("/webhook-endpoints", response_model=WebhookEndpointList, responses=PROBLEMS)
def list_webhook_endpoints(_: Admin, db: Db) -> dict[str, Any]:
    """Every endpoint, oldest first; never their secrets."""
    with db.reading() as session:
        return {"items": [service.endpoint_view(e) for e in service.list_endpoints(session)]}


@router.get(
    "/webhook-endpoints/{endpoint_id}", response_model=WebhookEndpointOut, responses=PROBLEMS
)
def get_webhook_endpoint(endpoint_id: str, _: Admin, db: Db) -> dict[str, Any]:
    """One endpoint; never its secret."""
    with db.reading() as session:
        return service.endpoint_view(service.get_endpoint(session, endpoint_id))


@router.patch(
    "/webhook-endpoints/{endpoint_id}", response_model=WebhookEndpointOut, responses=PROBLEMS
)
def update_webhook_endpoint(
    endpoint_id: str, payload: WebhookEndpointUpdate, request: Request, _: Admin, db: Db
) -> dict[str, Any]:
    """Change the URL, event types, channels, description or `enabled`. `event_types` or
    `channels` null means every one. Enabling a disabled endpoint resolves the process
    exception its disabling raised."""
    given = payload.model_fields_set
    for name in ("url", "description", "enabled"):
        if name in given and getattr(payload, name) is None:
            raise ValidationFailed(f"{name} cannot be null", field=name)
    changes = service.EndpointChanges(
        **{name: getattr(payload, name) for name in given},
    )
    if "event_types" in given:
        _known_types(payload.event_types)
    allow_private = _settings().allow_private
    outbox = _outbox(request)
    with db.transaction() as session:
        endpoint = service.update_endpoint(
            session, outbox, endpoint_id, changes, allow_private=allow_private
        )
        return service.endpoint_view(endpoint)


@router.delete("/webhook-endpoints/{endpoint_id}", status_code=204, responses=PROBLEMS)
def delete_webhook_endpoint(endpoint_id: str, _: Admin, db: Db) -> Response:
    """Delete the endpoint with its delivery log; nothing more is sent to it."""
    with db.transaction() as session:
        service.delete_endpoint(session, endpoint_id)
    return Response(status_code=204)


@router.post(
    "/webhook-endpoints/{endpoint_id}/actions/rotate-secret",
    response_model=WebhookEndpointWithSecret,
    responses=PROBLEMS,
)
def rotate_webhook_secret(
    endpoint_id: str,
    request: Request,
    response: Response,
    principal: Admin,
    db: Db,
    idempotency_key: IdempotencyKey = None,
) -> dict[str, Any]:
    """A new signing secret, in this answer only. For 24 h the previous secret signs too
    (two signatures in `webhook-signature`), so the receiver can switch without a gap."""
    secrets: list[str] = []

    def operation(session: Session) -> tuple[int, dict[str, Any]]:
        endpoint = service.rotate_secret(session, endpoint_id)
        secrets.append(endpoint.secret)
        return 200, {**service.endpoint_view(endpoint), "secret": None}

    result = run_idempotent(db, principal, idempotency_key, request, {}, operation)
    answer = respond(response, result)
    if result.replayed:
        return answer
    log.info("rotated the secret of webhook endpoint %s", endpoint_id)
    return {**answer, "secret": secrets[-1]}


@router.post(
    "/webhook-endpoints/{endpoint_id}/actions/send-test",
    status_code=202,
    response_model=WebhookDeliveryOut,
    responses=PROBLEMS,
)
def send_test_event(
    endpoint_id: str,
    request: Request,
    response: Response,
    principal: Admin,
    idempotency_key: IdempotencyKey = None,
) -> dict[str, Any]:
    """Send a `webhook.test` event to this endpoint only; the answer is its delivery (read
    the log to see how it went)."""
    outbox = _outbox(request)

    def operation(session: Session) -> tuple[int, dict[str, Any]]:
        delivery_id = service.send_test(session, outbox, endpoint_id)
        (view,) = service.delivery_views(session, [service.get_delivery(session, delivery_id)])
        return 202, view

    return answer_idempotent(request, response, principal, idempotency_key, {}, operation)


@router.get(
    "/webhook-endpoints/{endpoint_id}/deliveries",
    response_model=WebhookDeliveryPage,
    responses=PROBLEMS,
)
def list_webhook_deliveries(
    endpoint_id: str,
    _: Admin,
    db: Db,
    status: Literal["pending", "succeeded", "failed"] | None = None,
    limit: Annotated[int, Query(ge=1, le=200), WHOLE_NUMBER] = 50,
    cursor: Annotated[str | None, Query(description="next_cursor of the previous page.")] = None,
) -> dict[str, Any]:
    """The endpoint's deliveries newest first, each with its attempts (time, status code,
    latency, the first 1 kB of the answer, the error), filtered by `status`."""
    after = decode_cursor(cursor, prefix=CURSOR_PREFIX)
    after_id = _cursor_id(after)
    with db.reading() as session:
        rows = service.list_deliveries(
            session, endpoint_id, status=status, after_id=after_id, limit=limit + 1
        )
    page = rows[:limit]
    more = len(rows) > limit and page
    return {
        "items": page,
        "next_cursor": encode_cursor(f"{CURSOR_PREFIX}{page[-1]['id']}") if more else None,
    }


def _cursor_id(value: str | None) -> int | None:
    if value is None:
        return None
    digits = value.removeprefix(CURSOR_PREFIX)
    if not digits.isdigit() or not 0 < int(digits) <= MAX_ID:
        raise ValidationFailed("cursor is not one this API issued", field="cursor")
    return int(digits)


@router.post(
    "/webhook-deliveries/{delivery_id}/actions/retry",
    response_model=WebhookDeliveryOut,
    responses=PROBLEMS,
)
def retry_webhook_delivery(
    delivery_id: DeliveryId,
    request: Request,
    response: Response,
    principal: Admin,
    idempotency_key: IdempotencyKey = None,
) -> dict[str, Any]:
    """Send the delivery again now, with the same `webhook-id` (a failed one, or a
    succeeded one the receiver lost); a pending one is brought forward."""

    def operation(session: Session) -> tuple[int, dict[str, Any]]:
        delivery = service.retry_delivery(session, delivery_id)
        (view,) = service.delivery_views(session, [delivery])
        return 200, view

    return answer_idempotent(request, response, principal, idempotency_key, {}, operation)


@router.post(
    "/webhook-endpoints/{endpoint_id}/actions/replay",
    response_model=WebhookReplayed,
    responses=PROBLEMS,
)
def replay_webhook_deliveries(
    endpoint_id: str,
    payload: WebhookReplay,
    request: Request,
    response: Response,
    principal: Admin,
    idempotency_key: IdempotencyKey = None,
) -> dict[str, Any]:
    """Send again every failed delivery of the endpoint created at or after `since`, in the
    order their events happened."""
    since: datetime = payload.since

    def operation(session: Session) -> tuple[int, dict[str, Any]]:
        replayed = service.replay_failed(session, endpoint_id, since=since)
        return 200, {"replayed": len(replayed), "delivery_ids": [d.id for d in replayed]}

    body = payload.model_dump(mode="json")
    return answer_idempotent(request, response, principal, idempotency_key, body, operation)
