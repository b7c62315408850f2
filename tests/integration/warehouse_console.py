"""What the warehouse queue's console tests share: staff signed in (at some locations), a
fulfillment order at a location, and the API's view of one."""

from __future__ import annotations

from typing import Any

from tests.integration.conftest import Api
from tests.integration.console_actions import Browsers
from tests.integration.console_client import Browser, add_user
from tests.integration.service_shop import Shop


def staff(api: Api, console: Browsers, role: str = "warehouse", *locations: str) -> Browser:
    email = f"{role}-{'-'.join(locations) or 'all'}@example.com".lower()
    add_user(api.db, email, role, locations=locations)
    browser = console()
    assert browser.sign_in(email).status_code == 303
    return browser


def fo_at(shop: Shop, location: str) -> dict[str, Any]:
    (fo,) = [f for f in shop.view()["fulfillment_orders"] if f["location"] == location]
    return dict(fo)


def api_fo(shop: Shop, fo_id: str) -> dict[str, Any]:
    answer = shop.api.client.get(
        f"/api/v1/fulfillment-orders/{fo_id}", headers=shop.api.headers("warehouse")
    )
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body
