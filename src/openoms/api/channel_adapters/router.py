"""Channel adapters' receivers: where a platform delivers its webhooks (docs/channels.md).

`POST /api/v1/channels/{ref}/adapters/shopify/webhooks` takes Shopify's deliveries as
Shopify sends them. It is authenticated by the delivery's HMAC with the channel's webhook
secret (and its shop domain), not by an API key: a bad or missing one is 401 and stores
nothing. It stores the delivery and answers at once; the worker processes it.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Request, Response

from openoms.adapters.db.session import Database
from openoms.api.deps import app_db
from openoms.api.errors import PROBLEM_JSON
from openoms.schemas.channel_adapters import WebhookReceived
from openoms.services import channels as service

router = APIRouter(prefix="/api/v1", tags=["channel adapters"])

PROBLEMS: dict[int | str, dict[str, Any]] = {
    status: {"description": text, "content": {PROBLEM_JSON: {}}}
    for status, text in {
        400: "No `X-Shopify-Webhook-Id` or `X-Shopify-Topic`, or a body that is not UTF-8 "
        "(`channel_webhook_invalid`); nothing stored.",
        401: "A missing or wrong `X-Shopify-Hmac-Sha256`, another shop's "
        "`X-Shopify-Shop-Domain`, or a channel without a Shopify adapter "
        "(`channel_webhook_unauthenticated`); nothing stored.",
    }.items()
}


async def raw_body(request: Request) -> bytes:
    """The body exactly as sent: the HMAC is over these bytes."""
    return await request.body()


@router.post(
    "/channels/{ref}/adapters/shopify/webhooks",
    response_model=WebhookReceived,
    responses=PROBLEMS,
    openapi_extra={
        "requestBody": {"content": {"application/json": {"schema": {"type": "object"}}}}
    },
)
def receive_shopify_webhook(
    ref: str,
    body: Annotated[bytes, Depends(raw_body)],
    response: Response,
    db: Annotated[Database, Depends(app_db)],
    x_shopify_topic: Annotated[str | None, Header()] = None,
    x_shopify_hmac_sha256: Annotated[str | None, Header()] = None,
    x_shopify_shop_domain: Annotated[str | None, Header()] = None,
    x_shopify_webhook_id: Annotated[str | None, Header()] = None,
) -> WebhookReceived:
    """Store one Shopify delivery for channel `ref` (topics `orders/create`,
    `orders/cancelled`, `refunds/create`; others are stored and ignored) and queue its
    processing. A replay of a stored `X-Shopify-Webhook-Id` answers 200 and stores
    nothing new."""
    delivery = service.ShopifyDelivery(
        topic=x_shopify_topic,
        hmac=x_shopify_hmac_sha256,
        shop_domain=x_shopify_shop_domain,
        webhook_id=x_shopify_webhook_id,
        body=body,
    )
    with db.transaction() as session:
        received = service.receive_shopify(session, ref, delivery)
    response.status_code = 200
    return WebhookReceived(duplicate=not received.stored)
