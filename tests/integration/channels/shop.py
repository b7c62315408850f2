"""A Shopify shop for the channel adapter tests: a stocked channel with a Shopify adapter,
deliveries signed as Shopify signs them, and the worker to process them."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from openoms.adapters.channels import SandboxChannelConnector
from openoms.adapters.db import models as m
from openoms.adapters.db.session import Database
from tests.integration.conftest import Api
from tests.integration.worker import drain_db
from tests.network import stock_network

DATA = Path(__file__).parents[2] / "data" / "shopify"
CHANNEL = "shopify-us"
DOMAIN = "openoms-test.myshopify.com"
SECRET = "shpss_test_secret_0123456789"
PATH = f"/api/v1/channels/{CHANNEL}/adapters/shopify/webhooks"
STOCK = {
    ("WH-LDN", "IPOD2008PINK"): 10,
    ("WH-LDN", "IPOD2008RED"): 10,
    ("WH-LDN", "IPOD2008GREEN"): 10,
    ("WH-LDN", "IPOD2008BLACK"): 10,
}


def notification(year: int = 2019, financial_status: str = "pending") -> dict[str, Any]:
    """Shopify's orders/create test notification as sent in 2019 or documented for 2022
    (tests/data/shopify/README.md), with `financial_status` set: Shopify's own says
    `voided`, which openoms refuses (`raw_notification` keeps it)."""
    payload = raw_notification(year)
    payload["financial_status"] = financial_status
    return payload


def raw_notification(year: int = 2019) -> dict[str, Any]:
    text = (DATA / f"test_notification_{year}.json").read_text()
    payload: dict[str, Any] = json.loads(text)
    return payload


def python_api_order() -> dict[str, Any]:
    payload: dict[str, Any] = json.loads((DATA / "shopify_python_api_order.json").read_text())
    return dict(payload["order"])


def sign(body: bytes, secret: str = SECRET) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


@dataclass
class Shop:
    api: Api

    @property
    def db(self) -> Database:
        return self.api.db

    def configure(self, **adapter: Any) -> Any:
        body = {
            "type": "shopify",
            "shop_domain": DOMAIN,
            "webhook_secret": SECRET,
            **adapter,
        }
        answer = self.api.client.put(
            f"/api/v1/channels/{CHANNEL}",
            json={"location_group": "online", "adapter": body},
            headers=self.api.headers("admin"),
        )
        assert answer.status_code in (200, 201), answer.text
        return answer.json()

    def deliver(
        self,
        topic: str,
        payload: dict[str, Any] | bytes,
        *,
        webhook_id: str | None = None,
        secret: str = SECRET,
        domain: str = DOMAIN,
        signature: str | None = None,
        path: str = PATH,
    ) -> Any:
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        headers = {
            "Content-Type": "application/json",
            "X-Shopify-Topic": topic,
            "X-Shopify-Hmac-Sha256": signature if signature is not None else sign(body, secret),
            "X-Shopify-Shop-Domain": domain,
            "X-Shopify-Webhook-Id": webhook_id or str(uuid.uuid4()),
            "X-Shopify-API-Version": "2024-10",
        }
        return self.api.keyless.post(path, content=body, headers=headers)

    def drain(self) -> None:
        drain_db(self.db)

    def summaries(self) -> list[m.OrderSummary]:
        with self.db.reading() as session:
            return list(
                session.scalars(select(m.OrderSummary).where(m.OrderSummary.channel == CHANNEL))
            )

    def view(self, summary_id: str) -> dict[str, Any]:
        answer = self.api.client.get(
            f"/api/v1/order-summaries/{summary_id}", headers=self.api.headers("agent")
        )
        assert answer.status_code == 200, answer.text
        body: dict[str, Any] = answer.json()
        return body

    def inbox(self) -> list[m.ChannelInboxDelivery]:
        with self.db.reading() as session:
            return list(
                session.scalars(select(m.ChannelInboxDelivery).order_by(m.ChannelInboxDelivery.id))
            )

    def count(self, model: type[m.Base]) -> int:
        with self.db.reading() as session:
            return session.scalar(select(func.count()).select_from(model)) or 0

    def exceptions(self) -> list[m.ProcessException]:
        with self.db.reading() as session:
            return list(
                session.scalars(
                    select(m.ProcessException).where(m.ProcessException.category == "channel")
                )
            )

    def told(self) -> list[dict[str, Any]]:
        """What the sandbox connector was asked to tell the shop."""
        return SandboxChannelConnector(self.db).calls(CHANNEL)


def open_shop(api: Api) -> Shop:
    stock_network(api.db, stock=STOCK, channel=CHANNEL)
    shop = Shop(api)
    shop.configure()
    return shop
