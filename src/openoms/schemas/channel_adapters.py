"""A channel's adapter in the channel PUT (`adapter`) and in its answer (secrets never
shown)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from openoms.schemas.common import Payload
from openoms.services.channels import AdapterSettings


class ConnectorIn(Payload):
    """Where shipments and cancellations of the channel's orders are told."""

    type: Literal["sandbox", "shopify_rest"] = Field(
        default="sandbox",
        description="sandbox: recorded, nothing sent (tests, trials); shopify_rest: Shopify's "
        "Admin REST API at base_url with access_token.",
    )
    base_url: str | None = Field(
        default=None, max_length=500, description="https://{shop}.myshopify.com (shopify_rest)."
    )
    access_token: str | None = Field(
        default=None,
        max_length=500,
        description="Admin API access token (shopify_rest). Write-only: never shown again; "
        "left out, the stored one is kept.",
    )


class ChannelAdapterIn(Payload):
    """The platform the channel's orders come from."""

    type: Literal["shopify"] = Field(description="The platform: shopify.")
    shop_domain: str = Field(
        min_length=1, max_length=255, description="The shop's myshopify.com host name."
    )
    webhook_secret: str | None = Field(
        default=None,
        min_length=1,
        max_length=500,
        description="The secret Shopify signs deliveries with (the app's client secret, or the "
        "one shown under Settings > Notifications > Webhooks). Write-only: never shown again; "
        "left out, the stored one is kept.",
    )
    connector: ConnectorIn = Field(default_factory=ConnectorIn)

    def to_settings(self) -> AdapterSettings:
        return AdapterSettings(
            type=self.type,
            shop_domain=self.shop_domain,
            webhook_secret=self.webhook_secret,
            connector=self.connector.type,
            connector_base_url=self.connector.base_url,
            connector_token=self.connector.access_token,
        )


class ConnectorView(BaseModel):
    type: str
    base_url: str | None
    access_token_set: bool


class ChannelAdapterView(BaseModel):
    """A channel's adapter as shown: its secrets only as `…_set` flags."""

    type: str
    shop_domain: str
    webhook_secret_set: bool
    webhook_path: str = Field(description="Where the platform delivers its webhooks.")
    connector: ConnectorView


class WebhookReceived(BaseModel):
    """The answer to a delivery: stored now (processed by the worker), or a replay."""

    received: bool = True
    duplicate: bool = Field(description="True: this webhook id was stored before; nothing new.")
