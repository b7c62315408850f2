"""A channel's adapter settings: which platform its orders come from (`shopify`), the shop,
the webhook secret that signs its deliveries, and the connector that takes shipments and
cancellations back. Secrets are write-only: stored so they can be used, never shown."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy.orm import Session

from openoms.adapters.db import models as m
from openoms.adapters.db.repositories import channels as repo
from openoms.domain.errors import ValidationFailed

ADAPTER_TYPES = ("shopify",)
CONNECTORS = ("sandbox", "shopify_rest")
WEBHOOK_PATH = "/api/v1/channels/{ref}/adapters/shopify/webhooks"


class AdapterInvalid(ValidationFailed):
    code = "channel_adapter_invalid"
    title = "Channel adapter settings are not valid"


@dataclass(frozen=True, slots=True)
class AdapterSettings:
    """What a channel PUT's `adapter` sets. A secret left out (None) keeps the stored one."""

    type: str
    shop_domain: str
    webhook_secret: str | None = None
    connector: str = "sandbox"
    connector_base_url: str | None = None
    connector_token: str | None = None


def set_adapter(session: Session, channel: str, settings: AdapterSettings | None) -> None:
    """Set (or with None remove) the adapter of the stored channel `channel`. Refusals
    (AdapterInvalid, 400, naming the field) change nothing."""
    current = repo.adapter(session, channel, lock=True)
    if settings is None:
        if current is not None:
            session.delete(current)
            session.flush()
        return
    secret = settings.webhook_secret or (current.webhook_secret if current else None)
    token = settings.connector_token or (current.connector_token if current else None)
    _check(settings, secret, token)
    values: dict[str, Any] = {
        "type": settings.type,
        "shop_domain": settings.shop_domain.strip().lower(),
        "webhook_secret": secret,
        "connector": settings.connector,
        "connector_base_url": settings.connector_base_url,
        "connector_token": token if settings.connector == "shopify_rest" else None,
    }
    if current is None:
        session.add(m.ChannelAdapter(channel=channel, **values))
    else:
        for key, value in values.items():
            setattr(current, key, value)
    session.flush()


def adapter_view(session: Session, channel: str) -> dict[str, Any] | None:
    """The public face of a channel's adapter (never a secret), or None."""
    found = repo.adapter(session, channel)
    if found is None:
        return None
    return {
        "type": found.type,
        "shop_domain": found.shop_domain,
        "webhook_secret_set": bool(found.webhook_secret),
        "webhook_path": WEBHOOK_PATH.format(ref=channel),
        "connector": {
            "type": found.connector,
            "base_url": found.connector_base_url,
            "access_token_set": bool(found.connector_token),
        },
    }


def _check(settings: AdapterSettings, secret: str | None, token: str | None) -> None:
    if settings.type not in ADAPTER_TYPES:
        raise AdapterInvalid(
            f"adapter type {settings.type!r} is not known (known: {', '.join(ADAPTER_TYPES)})",
            field="adapter.type",
        )
    domain = settings.shop_domain.strip()
    if not domain or "/" in domain or " " in domain:
        raise AdapterInvalid(
            "shop_domain must be the shop's host name, e.g. 'example.myshopify.com'",
            field="adapter.shop_domain",
        )
    if not secret:
        raise AdapterInvalid(
            "webhook_secret is required when the channel has none stored (it signs every "
            "delivery; it is never shown again)",
            field="adapter.webhook_secret",
        )
    if settings.connector not in CONNECTORS:
        raise AdapterInvalid(
            f"connector {settings.connector!r} is not known (known: {', '.join(CONNECTORS)})",
            field="adapter.connector.type",
        )
    if settings.connector == "shopify_rest":
        url = urlsplit(settings.connector_base_url or "")
        if url.scheme not in ("http", "https") or not url.netloc:
            raise AdapterInvalid(
                "the shopify_rest connector needs base_url, e.g. 'https://example.myshopify.com'",
                field="adapter.connector.base_url",
            )
        if not token:
            raise AdapterInvalid(
                "the shopify_rest connector needs an access_token (never shown again)",
                field="adapter.connector.access_token",
            )
