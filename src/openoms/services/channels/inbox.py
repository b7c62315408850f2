"""Receiving a platform's webhook deliveries: verify, store raw, queue, answer.

The platform retries for hours and gives up on slow answers, so receiving does the least:
it checks the HMAC and the shop, stores the delivery as it came (once per webhook id) and
queues its processing job in the same transaction. A replay of a stored webhook id stores
nothing and queues nothing. Everything else happens in the job (processing.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from openoms.adapters.db.models import utcnow
from openoms.adapters.db.repositories import channels as repo
from openoms.adapters.jobs import enqueue
from openoms.domain.errors import DomainError, ValidationFailed
from openoms.domain.shopify import verify_hmac

INBOX_JOB = "process_channel_delivery"


class WebhookUnauthenticated(DomainError):
    code = "channel_webhook_unauthenticated"
    status = 401
    title = "Webhook delivery is not authenticated"


class WebhookDeliveryInvalid(ValidationFailed):
    code = "channel_webhook_invalid"
    title = "Webhook delivery is not valid"


@dataclass(frozen=True, slots=True)
class ShopifyDelivery:
    """A delivery as Shopify sends it: its headers and the raw body."""

    topic: str | None
    hmac: str | None
    shop_domain: str | None
    webhook_id: str | None
    body: bytes


@dataclass(frozen=True, slots=True)
class Received:
    delivery_id: int | None  # None: a replay of a stored webhook id, nothing stored
    stored: bool


def inbox_job_key(delivery_id: int) -> str:
    return f"channel_inbox:{delivery_id}"


def receive_shopify(session: Session, channel: str, delivery: ShopifyDelivery) -> Received:
    """Store a Shopify delivery for `channel` and queue its processing. A missing or wrong
    HMAC, a channel without a Shopify adapter or another shop's domain is 401
    `channel_webhook_unauthenticated` (one answer for all, so nothing is learned from it) and
    stores nothing."""
    adapter = repo.adapter(session, channel)
    if (
        adapter is None
        or adapter.type != "shopify"
        or not verify_hmac(delivery.body, adapter.webhook_secret, delivery.hmac)
        or (delivery.shop_domain or "").strip().lower() != adapter.shop_domain
    ):
        raise WebhookUnauthenticated(
            "the delivery's X-Shopify-Hmac-Sha256 or X-Shopify-Shop-Domain does not match "
            "this channel's Shopify adapter"
        )
    webhook_id = (delivery.webhook_id or "").strip()
    topic = (delivery.topic or "").strip()
    if not webhook_id or len(webhook_id) > 200:
        raise WebhookDeliveryInvalid(
            "X-Shopify-Webhook-Id is required (at most 200 characters)",
            field="X-Shopify-Webhook-Id",
        )
    if not topic or len(topic) > 100:
        raise WebhookDeliveryInvalid("X-Shopify-Topic is required", field="X-Shopify-Topic")
    try:
        body = delivery.body.decode("utf-8")
    except UnicodeDecodeError:
        raise WebhookDeliveryInvalid("the body is not UTF-8 JSON", field="body") from None
    delivery_id = repo.insert_delivery(
        session,
        {
            "channel": channel,
            "webhook_id": webhook_id,
            "topic": topic,
            "shop_domain": adapter.shop_domain,
            "body": body,
            "status": "received",
            "received_at": utcnow(),
        },
    )
    if delivery_id is None:
        return Received(None, stored=False)
    enqueue(session, INBOX_JOB, inbox_job_key(delivery_id), {"delivery_id": delivery_id})
    return Received(delivery_id, stored=True)
