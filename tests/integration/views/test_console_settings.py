"""Settings pages on SQLite and PostgreSQL, for admins only: channels' policies saved through
the service the API's PUT runs (money thresholds kept), locations created and edited
(shipping costs kept), API keys created (secret shown once, working at once) and revoked
(refused at once), webhook endpoints created (secret shown once), disabled, enabled and
deleted, flows disabled and enabled as new versions and read with their runs. A refused
change shows the API's sentence and changes nothing; a POST without its CSRF token or by
another role changes nothing either."""

from __future__ import annotations

import re
from collections.abc import Callable
from html import unescape
from typing import Any

import pytest

from tests.integration.conftest import Api
from tests.integration.console_client import Browser, add_user
from tests.network import stock_network

Browsers = Callable[[], Browser]
SECRET = re.compile(r'id="secret" class="secret" readonly value="([^"]+)"')


def signed_in(api: Api, console: Browsers, role: str = "admin") -> Browser:
    add_user(api.db, f"{role}@example.com", role)
    browser = console()
    assert browser.sign_in(f"{role}@example.com").status_code == 303
    return browser


def get(api: Api, path: str) -> Any:
    answer = api.client.get(f"/api/v1{path}", headers=api.headers("admin"))
    assert answer.status_code == 200, answer.text
    return answer.json()


def post(browser: Browser, path: str, **data: Any) -> Any:
    return browser.client.post(path, data={"csrf_token": browser.csrf(), **data})


def test_a_channel_policy_is_saved_and_its_thresholds_kept(api: Api, console: Browsers) -> None:
    stock_network(api.db)
    answer = api.client.put(
        "/api/v1/channels/web-uk",
        json={
            "location_group": "online",
            "returnless_threshold": {"GBP": "5.00"},
            "return_fee": {"GBP": "2.95"},
        },
        headers=api.headers("admin"),
    )
    assert answer.status_code == 200, answer.text
    browser = signed_in(api, console)
    page = browser.client.get("/console/settings/channels")
    assert "5.00 GBP" in page.text
    assert "2.95 GBP" in page.text
    saved = post(
        browser,
        "/console/settings/channels/web-uk",
        location_group="stores",
        shortage_policy="backorder",
        routing_strategy="rank_by_distance",
        max_splits="3",
        capture_policy="on_order",
        refund_eligible_status="IN_TRANSIT",
    )
    assert saved.status_code == 303
    assert get(api, "/channels/web-uk") | {"updated_at": None} == get(api, "/channels/web-uk") | {
        "location_group": "stores",
        "shortage_policy": "backorder",
        "routing_strategy": "rank_by_distance",
        "max_splits": 3,
        "capture_policy": "on_order",
        "refund_eligible_status": "IN_TRANSIT",
        "verify_authorizations": False,
        "returnless_threshold": {"GBP": "5.00"},
        "return_fee": {"GBP": "2.95"},
        "updated_at": None,
    }
    assert (
        "The channel&#39;s policy is saved." in browser.client.get(saved.headers["location"]).text
    )


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("location_group", "nowhere", "nowhere"),
        ("max_splits", "101", "max_splits must be a whole number from 0 to 100"),
        ("shortage_policy", "maybe", "shortage_policy must be one of reject, backorder"),
    ],
)
def test_a_refused_channel_change_says_why_and_changes_nothing(
    api: Api, console: Browsers, field: str, value: str, message: str
) -> None:
    stock_network(api.db)
    before = get(api, "/channels/web-uk")
    browser = signed_in(api, console)
    form = {
        "location_group": "online",
        "shortage_policy": "reject",
        "routing_strategy": "fewest_splits",
        "max_splits": "2",
        "capture_policy": "on_shipment",
        "refund_eligible_status": "RECEIVED",
        field: value,
    }
    answer = post(browser, "/console/settings/channels/web-uk", **form)
    assert answer.status_code == 400
    assert message in unescape(answer.text)
    assert get(api, "/channels/web-uk") == before


def location_form(**overrides: str) -> dict[str, str]:
    return {
        "ref": "WH-BRS",
        "name": "Bristol warehouse",
        "type": "warehouse",
        "line1": "3 Dock Rd",
        "city": "Bristol",
        "country": "gb",
        "lat": "51.45",
        "lon": "-2.58",
        "can_ship": "on",
        "active": "on",
        "daily_capacity": "500",
        "groups": "online, south",
        **overrides,
    }


def test_a_location_is_created_then_edited_keeping_its_costs(api: Api, console: Browsers) -> None:
    stock_network(api.db)
    browser = signed_in(api, console)
    created = post(browser, "/console/settings/locations", **location_form())
    assert created.status_code == 303
    body = get(api, "/locations/WH-BRS")
    assert (body["name"], body["type"], body["address"]["country"], body["groups"]) == (
        "Bristol warehouse",
        "warehouse",
        "GB",
        ["online", "south"],
    )
    assert (body["can_ship"], body["can_pickup"], body["daily_capacity"]) == (True, False, 500)
    costs = [{"country": "*", "currency": "GBP", "per_shipment": "3.50", "per_unit": "0.20"}]
    answer = api.client.put(
        "/api/v1/locations/WH-BRS",
        json={
            **{k: body[k] for k in ("name", "type", "address", "can_ship", "can_pickup")},
            "groups": body["groups"],
            "shipping_costs": costs,
        },
        headers=api.headers("admin"),
    )
    assert answer.status_code == 200, answer.text
    form = browser.client.get("/console/settings/locations/WH-BRS")
    assert 'value="Bristol warehouse"' in form.text
    assert "3.50 GBP a shipment" in form.text
    edited = post(
        browser,
        "/console/settings/locations",
        **location_form(name="Bristol DC", can_ship="", can_pickup="on", groups=""),
    )
    assert edited.status_code == 303
    body = get(api, "/locations/WH-BRS")
    assert (body["name"], body["can_ship"], body["can_pickup"], body["groups"]) == (
        "Bristol DC",
        False,
        True,
        [],
    )
    assert body["shipping_costs"] == costs
    listed = browser.client.get("/console/settings/locations")
    assert 'href="/console/settings/locations/WH-BRS"' in listed.text


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"country": "GBR"}, "country"),
        ({"country": "1X"}, "country must be a two-letter ISO code such as GB"),
        ({"lat": "91"}, "lat must be a number from -90 to 90"),
        ({"lon": "east"}, "lon must be a number from -180 to 180"),
        ({"daily_capacity": "99999999999"}, "daily_capacity must be a whole number"),
        ({"ref": "bad ref!"}, "is not a valid reference"),
        ({"type": "castle"}, "type must be one of warehouse, store, 3pl, dropship"),
        ({"city": "  "}, "city is required"),
    ],
)
def test_a_refused_location_says_why_and_changes_nothing(
    api: Api, console: Browsers, overrides: dict[str, str], message: str
) -> None:
    stock_network(api.db)
    before = get(api, "/locations")
    answer = post(
        signed_in(api, console), "/console/settings/locations", **location_form(**overrides)
    )
    assert answer.status_code == 400
    assert message in unescape(answer.text)
    assert get(api, "/locations") == before


def test_an_unknown_location_is_a_404(api: Api, console: Browsers) -> None:
    answer = signed_in(api, console).client.get("/console/settings/locations/NOPE")
    assert answer.status_code == 404
    assert "no location &#39;NOPE&#39;" in answer.text


def test_an_api_key_is_shown_once_works_and_is_revoked(api: Api, console: Browsers) -> None:
    stock_network(api.db)
    browser = signed_in(api, console)
    answer = browser.client.post(
        "/console/settings/api-keys",
        data={
            "csrf_token": browser.csrf(),
            "name": "ERP",
            "scopes": ["agent", "warehouse"],
            "channels": "web-uk",
        },
    )
    assert answer.status_code == 201
    found = SECRET.search(answer.text)
    assert found is not None
    secret = found.group(1)
    works = api.keyless.get(
        "/api/v1/order-summaries", headers={"Authorization": f"Bearer {secret}"}
    )
    assert works.status_code == 200
    listed = browser.client.get("/console/settings/api-keys")
    assert secret not in listed.text
    key = next(k for k in get(api, "/api-keys")["items"] if k["name"] == "ERP")
    assert (key["scopes"], key["channels"]) == (["agent", "warehouse"], ["web-uk"])
    assert f'data-key="{key["id"]}"' in listed.text
    revoked = post(browser, f"/console/settings/api-keys/{key['id']}/revoke")
    assert revoked.status_code == 303
    refused = api.keyless.get(
        "/api/v1/order-summaries", headers={"Authorization": f"Bearer {secret}"}
    )
    assert refused.status_code == 401
    assert "The API key is revoked." in browser.client.get(revoked.headers["location"]).text


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"name": "x", "channels": ""}, "Choose at least one scope."),
        ({"name": "", "scopes": ["agent"]}, "An API key needs a name of 1 to 200 characters."),
        ({"name": "x", "scopes": ["root"]}, "root"),
        ({"name": "x", "scopes": ["agent"], "channels": "web-nope"}, "web-nope"),
    ],
)
def test_a_refused_key_says_why_and_makes_none(
    api: Api, console: Browsers, data: dict[str, Any], message: str
) -> None:
    stock_network(api.db)
    before = get(api, "/api-keys")
    browser = signed_in(api, console)
    answer = browser.client.post(
        "/console/settings/api-keys", data={"csrf_token": browser.csrf(), **data}
    )
    assert answer.status_code == 400
    assert message in unescape(answer.text)
    assert SECRET.search(answer.text) is None
    assert get(api, "/api-keys") == before


def test_revoking_an_unknown_key_says_so(api: Api, console: Browsers) -> None:
    answer = post(signed_in(api, console), "/console/settings/api-keys/key_NOPE/revoke")
    assert answer.status_code == 404


def test_a_webhook_endpoint_is_created_toggled_and_deleted(api: Api, console: Browsers) -> None:
    browser = signed_in(api, console)
    made = post(
        browser, "/console/settings/webhooks", url="https://93.184.216.34/hooks", description="ERP"
    )
    assert made.status_code == 201
    found = SECRET.search(made.text)
    assert found is not None
    assert found.group(1).startswith("whsec_")
    (endpoint,) = get(api, "/webhook-endpoints")["items"]
    assert (endpoint["url"], endpoint["enabled"], endpoint["event_types"]) == (
        "https://93.184.216.34/hooks",
        True,
        None,
    )
    listed = browser.client.get("/console/settings/webhooks")
    assert found.group(1) not in listed.text
    path = f"/console/settings/webhooks/{endpoint['id']}"
    assert post(browser, f"{path}/disable").status_code == 303
    assert get(api, f"/webhook-endpoints/{endpoint['id']}")["enabled"] is False
    assert post(browser, f"{path}/enable").status_code == 303
    assert get(api, f"/webhook-endpoints/{endpoint['id']}")["enabled"] is True
    detail = browser.client.get(path)
    assert detail.status_code == 200
    assert "No delivery." in detail.text
    assert browser.client.get(f"{path}?status=lost").status_code == 400
    assert post(browser, f"{path}/delete").status_code == 303
    assert get(api, "/webhook-endpoints")["items"] == []
    assert post(browser, f"{path}/enable").status_code == 404
    assert browser.client.get(path).status_code == 404
    assert post(browser, f"{path}/explode").status_code == 404


@pytest.mark.parametrize(
    ("url", "message"),
    [("ftp://example.com/x", "only http and https URLs"), ("http://127.0.0.1/x", "127.0.0.1")],
)
def test_a_refused_endpoint_says_why(api: Api, console: Browsers, url: str, message: str) -> None:
    answer = post(signed_in(api, console), "/console/settings/webhooks", url=url)
    assert answer.status_code == 400
    assert message in unescape(answer.text)
    assert get(api, "/webhook-endpoints")["items"] == []


FLOW = {
    "trigger": "order_summary.created",
    "when": {"all": [{"field": "data.totals.grand_total", "op": "gt", "value": "1000.00"}]},
    "actions": [{"type": "hold", "reason": "manual review over 1000"}],
    "enabled": True,
    "description": "hold big orders",
}


def test_a_flow_is_disabled_and_enabled_as_new_versions(api: Api, console: Browsers) -> None:
    answer = api.client.put("/api/v1/flows/high-value", json=FLOW, headers=api.headers("admin"))
    assert answer.status_code == 201, answer.text
    browser = signed_in(api, console)
    assert post(browser, "/console/settings/flows/high-value/disable").status_code == 303
    flow = get(api, "/flows/high-value")
    assert (flow["version"], flow["enabled"], flow["actions"], flow["when"]) == (
        2,
        False,
        answer.json()["actions"],
        FLOW["when"],
    )
    assert post(browser, "/console/settings/flows/high-value/enable").status_code == 303
    assert (get(api, "/flows/high-value")["version"], get(api, "/flows/high-value")["enabled"]) == (
        3,
        True,
    )
    page = browser.client.get("/console/settings/flows/high-value")
    assert page.status_code == 200
    assert "manual review over 1000" in unescape(page.text)
    assert "version 3, enabled" in page.text
    assert post(browser, "/console/settings/flows/nope/enable").status_code == 404
    assert browser.client.get("/console/settings/flows/nope").status_code == 404
    assert browser.client.get("/console/settings/flows/high-value?cursor=%21").status_code == 400


@pytest.mark.parametrize("role", ["agent", "finance", "warehouse"])
def test_settings_are_for_admins_only(api: Api, console: Browsers, role: str) -> None:
    stock_network(api.db)
    before = get(api, "/channels/web-uk")
    browser = signed_in(api, console, role)
    for path in (
        "/console/settings",
        "/console/settings/channels",
        "/console/settings/api-keys",
        "/console/settings/webhooks",
        "/console/settings/flows",
    ):
        assert browser.client.get(path).status_code == 403
    answer = post(browser, "/console/settings/channels/web-uk", shortage_policy="backorder")
    assert answer.status_code == 403
    assert post(browser, "/console/settings/api-keys", name="x", scopes="admin").status_code == 403
    assert get(api, "/channels/web-uk") == before


def test_a_settings_post_without_its_token_changes_nothing(api: Api, console: Browsers) -> None:
    stock_network(api.db)
    before = get(api, "/api-keys")
    browser = signed_in(api, console)
    answer = browser.client.post(
        "/console/settings/api-keys", data={"name": "x", "scopes": "admin"}
    )
    assert answer.status_code == 403
    assert get(api, "/api-keys") == before
