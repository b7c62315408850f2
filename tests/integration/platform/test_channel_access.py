"""Channel-bound API keys (issue 11, item 1): a key bound to web-uk cannot learn, by any
endpoint, that an order on another channel exists. Reading or acting on an order of web-us,
or on anything that hangs off it, answers exactly what an id that does not exist answers;
lists, searches and pages leave its rows out; capture refuses the other channel. Unbound
keys and the admin see both. On SQLite and PostgreSQL; the stage is in channel_world.py."""

from __future__ import annotations

import json
import re
from dataclasses import asdict
from typing import Any

import pytest

from openoms.adapters.db import models as m
from tests.integration.channel_world import UK, US, Ids, World, build_world
from tests.integration.conftest import Api
from tests.integration.helpers import count, stock
from tests.payloads import order_payload

ITEMS = {"items": [{"order_item_summary_id": "{tee}", "quantity": 1}]}
RETURN_ITEMS = {"items": [{"order_item_summary_id": "{tee}", "quantity": 1}], "location": "WH-LDN"}
S = "/api/v1/order-summaries/{summary}"

# Every route that names an order summary or something hanging off one, with a body that
# passes validation, so the answer comes from looking the object up.
BY_ID: list[tuple[str, str, dict[str, Any] | None]] = [
    ("GET", S, None),
    ("POST", f"{S}/actions/preview-cancel", ITEMS),
    ("POST", f"{S}/actions/submit-cancel", ITEMS),
    (
        "POST",
        f"{S}/actions/adjust-item-preview",
        {"items": [{"order_item_summary_id": "{tee}", "type": "percentage", "amount": "10"}]},
    ),
    (
        "POST",
        f"{S}/actions/adjust-item-submit",
        {"items": [{"order_item_summary_id": "{tee}", "type": "percentage", "amount": "10"}]},
    ),
    ("POST", f"{S}/actions/preview-return", RETURN_ITEMS),
    ("POST", f"{S}/actions/submit-return", RETURN_ITEMS),
    ("POST", f"{S}/actions/preview-reship", {**ITEMS, "reason": "damaged"}),
    ("POST", f"{S}/actions/submit-reship", {**ITEMS, "reason": "damaged"}),
    (
        "POST",
        f"{S}/actions/preview-exchange",
        {
            "return_items": ITEMS["items"],
            "new_items": [{"sku": "TEE-M", "quantity": 1, "unit_price": "20.00"}],
        },
    ),
    (
        "POST",
        f"{S}/actions/submit-exchange",
        {
            "return_items": ITEMS["items"],
            "new_items": [{"sku": "TEE-M", "quantity": 1, "unit_price": "20.00"}],
        },
    ),
    ("POST", f"{S}/actions/hold", {"reason": "review"}),
    ("POST", f"{S}/actions/release-hold", None),
    ("POST", f"{S}/actions/ensure-funds", None),
    ("POST", f"{S}/actions/ensure-refunds", None),
    ("POST", f"{S}/payment-summaries/{{ps}}/actions/capture", {"amount": "1.00"}),
    ("POST", f"{S}/payment-summaries/{{ps}}/actions/refund", {"amount": "1.00"}),
    ("GET", "/api/v1/fulfillment-orders/{fo}", None),
    ("POST", "/api/v1/fulfillment-orders/{fo}/actions/assign", None),
    ("POST", "/api/v1/fulfillment-orders/{fo}/actions/pick-complete", None),
    ("POST", "/api/v1/fulfillment-orders/{fo}/actions/pack-complete", None),
    (
        "POST",
        "/api/v1/fulfillment-orders/{fo}/actions/cancel-lines",
        {"items": [{"sku": "MUG", "quantity": 1}]},
    ),
    ("POST", "/api/v1/fulfillment-orders/{fo}/actions/reject", {"reason": "no stock"}),
    ("POST", "/api/v1/fulfillment-orders/{fo}/actions/ship", None),
    ("GET", "/api/v1/shipments/{shipment}", None),
    ("POST", "/api/v1/shipments/{shipment}/actions/update-tracking", {"status": "IN_TRANSIT"}),
    (
        "POST",
        "/api/v1/return-orders",
        {"order_summary_id": "{summary}", "items": ITEMS["items"]},
    ),
    ("GET", "/api/v1/return-orders/{return_order}", None),
    (
        "POST",
        "/api/v1/return-orders/{return_order}/actions/receive",
        {"items": [{"return_order_line_item_id": "{return_line}", "quantity": 1}]},
    ),
    ("POST", "/api/v1/return-orders/{return_order}/actions/cancel", None),
    ("POST", "/api/v1/return-orders/{return_order}/actions/submit", None),
    ("POST", "/api/v1/return-orders/{return_order}/actions/approve", None),
    ("POST", "/api/v1/return-orders/{return_order}/actions/mark-in-transit", None),
    ("POST", "/api/v1/return-orders/{return_order}/actions/close", None),
    ("GET", "/api/v1/process-exceptions/{exception}", None),
    ("POST", "/api/v1/process-exceptions/{exception}/actions/retry", None),
    *[
        ("POST", f"/api/v1/process-exceptions/{{exception}}/actions/{move}", None)
        for move in ("triage", "pause", "resolve", "ignore", "void")
    ],
    ("GET", "/api/v1/reservations/{reservation}", None),
    ("POST", "/api/v1/reservations/{reservation}/actions/transfer", {"to_location": "WH-MAN"}),
    ("POST", "/api/v1/reservations/{reservation}/actions/fulfill", None),
    ("POST", "/api/v1/reservations/{reservation}/actions/release", None),
]

# Routes that list or search order data: checked one by one below.
LISTS = {
    ("GET", "/api/v1/order-summaries"),
    ("GET", "/api/v1/fulfillment-orders"),
    ("GET", "/api/v1/return-orders"),
    ("GET", "/api/v1/process-exceptions"),
    ("GET", "/api/v1/finance/reconciliation"),
}
# Capture: a bound key captures only into its channels (test below; bulk capture:
# tests/integration/orders/test_bulk_capture.py).
CAPTURE = {("POST", "/api/v1/orders"), ("POST", "/api/v1/orders/bulk")}
# Routes that hold no order data: the network, stock, stateless routing, stock holds that
# are no order's (a reservation made for an order is covered above), the event catalog,
# and health (GET /metrics is not in the OpenAPI document; its figures are counts by
# channel, kind and category, never an order's data: test_ops.py).
NO_ORDER_DATA = {
    ("GET", "/health"),
    ("GET", "/health/live"),
    ("GET", "/health/ready"),
    ("PUT", "/api/v1/locations/{ref}"),
    ("GET", "/api/v1/locations/{ref}"),
    ("GET", "/api/v1/locations"),
    ("PUT", "/api/v1/location-groups/{ref}"),
    ("GET", "/api/v1/location-groups/{ref}"),
    ("GET", "/api/v1/location-groups"),
    ("PUT", "/api/v1/channels/{ref}"),
    ("GET", "/api/v1/channels/{ref}"),
    ("GET", "/api/v1/channels"),
    ("POST", "/api/v1/inventory/import"),
    ("POST", "/api/v1/inventory/actions/get-availability"),
    ("GET", "/api/v1/inventory"),
    ("POST", "/api/v1/reservations"),
    ("POST", "/api/v1/routing/actions/find-routes-with-fewest-splits"),
    ("POST", "/api/v1/routing/actions/rank-by-average-distance"),
    ("POST", "/api/v1/routing/actions/find-optimal-routes"),
    ("GET", "/api/v1/event-types"),
}

# The key API: admin only, and an admin key cannot be bound (test_keys_api.py).
KEY_API = {
    ("POST", "/api/v1/api-keys"),
    ("GET", "/api/v1/api-keys"),
    ("GET", "/api/v1/api-keys/{api_key_id}"),
    ("POST", "/api/v1/api-keys/{api_key_id}/actions/revoke"),
}

# The flows API: admin only (tests/integration/flows/test_flows_api.py), so never bound.
FLOW_API = {
    ("PUT", "/api/v1/flows/{ref}"),
    ("GET", "/api/v1/flows"),
    ("GET", "/api/v1/flows/{ref}"),
    ("GET", "/api/v1/flows/{ref}/runs"),
    ("POST", "/api/v1/flows/{ref}/actions/test"),
}
# The webhook API: admin only too (docs/webhooks.md).
WEBHOOK_API = {
    ("POST", "/api/v1/webhook-endpoints"),
    ("GET", "/api/v1/webhook-endpoints"),
    ("GET", "/api/v1/webhook-endpoints/{endpoint_id}"),
    ("PATCH", "/api/v1/webhook-endpoints/{endpoint_id}"),
    ("DELETE", "/api/v1/webhook-endpoints/{endpoint_id}"),
    ("POST", "/api/v1/webhook-endpoints/{endpoint_id}/actions/rotate-secret"),
    ("POST", "/api/v1/webhook-endpoints/{endpoint_id}/actions/send-test"),
    ("GET", "/api/v1/webhook-endpoints/{endpoint_id}/deliveries"),
    ("POST", "/api/v1/webhook-endpoints/{endpoint_id}/actions/replay"),
    ("POST", "/api/v1/webhook-deliveries/{delivery_id}/actions/retry"),
}
# A platform's webhook receiver: authenticated by the delivery's HMAC with the channel's
# secret, not by a key, and it answers no order data (tests/integration/channels).
CHANNEL_ADAPTER_API = {("POST", "/api/v1/channels/{ref}/adapters/shopify/webhooks")}
# Routing runs belong to one channel: a bound key starts runs of its channels only (403),
# and lists and reads only theirs (an empty list, 404):
# tests/integration/routing/test_routing_runs.py.
ROUTING_RUN_API = {
    ("POST", "/api/v1/routing/runs"),
    ("GET", "/api/v1/routing/runs"),
    ("GET", "/api/v1/routing/runs/{run_id}"),
}

ROUTE_PARAMS = {
    "summary_id": "summary",
    "ps_id": "ps",
    "fo_id": "fo",
    "shipment_id": "shipment",
    "return_order_id": "return_order",
    "exception_id": "exception",
    "reservation_id": "reservation",
}


@pytest.fixture
def world(api: Api, stocked: object) -> World:
    return build_world(api)


def masked(text: str) -> str:
    """`text` with every generated id and every time masked."""
    text = re.sub(r"\b[a-z]+_[0-9A-HJKMNP-TV-Z]{26}\b", "<id>", text)
    return re.sub(r"\d{4}-\d\d-\d\dT[0-9:.]+Z", "<time>", text)


def fill(template: Any, ids: Ids) -> Any:
    """`template` (a path or a body) with {field} placeholders set from `ids`."""
    if isinstance(template, str):
        return template.format(**asdict(ids))
    if isinstance(template, dict):
        return {k: fill(v, ids) for k, v in template.items()}
    if isinstance(template, list):
        return [fill(v, ids) for v in template]
    return template


def app_routes(api: Api) -> set[tuple[str, str]]:
    """(method, path) of every operation the app documents, path params named as in BY_ID
    and the {action} / {move} of a route spelled out."""
    spelled = {
        "{action}": ("submit", "approve", "mark-in-transit", "close"),
        "{move}": ("triage", "pause", "resolve", "ignore", "void"),
    }
    found = set()
    for path, operations in api.client.app.openapi()["paths"].items():  # type: ignore[attr-defined]
        for name, field in ROUTE_PARAMS.items():
            path = path.replace(f"{{{name}}}", f"{{{field}}}")
        for method in operations:
            variants = [path]
            for param, values in spelled.items():
                if param in path:
                    variants = [path.replace(param, value) for value in values]
            found |= {(method.upper(), variant) for variant in variants}
    return found


def test_every_route_is_classified(api: Api) -> None:
    """A new route must be added to one of the lists here, and so be checked below."""
    by_id = {(method, path) for method, path, _ in BY_ID}
    assert len(by_id) == len(BY_ID)
    assert app_routes(api) == (
        by_id
        | LISTS
        | CAPTURE
        | NO_ORDER_DATA
        | KEY_API
        | FLOW_API
        | WEBHOOK_API
        | CHANNEL_ADAPTER_API
        | ROUTING_RUN_API
    )


@pytest.mark.parametrize("who", ["uk_staff", "uk_shop"])
def test_another_channels_order_answers_as_if_it_did_not_exist(world: World, who: str) -> None:
    before = world.snapshot()
    missing = world.us.missing()
    differences = []
    for method, path, body in BY_ID:
        foreign = world.call(who, method, fill(path, world.us), fill(body, world.us))
        absent = world.call(who, method, fill(path, missing), fill(body, missing))
        seen = (foreign.status_code, world.us.normalise(foreign.text))
        expected = (absent.status_code, missing.normalise(absent.text))
        if seen != expected:
            differences.append((method, path, seen, expected))
        expected_status = 404 if who == "uk_staff" else absent.status_code
        assert absent.status_code == expected_status, (method, path, absent.text)
    assert differences == []
    assert world.snapshot() == before


# Routes on a web-uk object whose body or path also names an object of web-us.
MIXED: list[tuple[str, str, dict[str, Any] | None]] = [
    (method, path, body)
    for method, path, body in BY_ID
    if method == "POST"
    and path.startswith(S)
    and ("{tee}" in str(body) or "{ps}" in path)
    and "submit" not in path
] + [
    ("POST", "/api/v1/return-orders", {"order_summary_id": "<uk>", "items": ITEMS["items"]}),
    (
        "POST",
        "/api/v1/return-orders/<uk_return>/actions/receive",
        {"items": [{"return_order_line_item_id": "{return_line}", "quantity": 1}]},
    ),
]


def test_another_channels_ids_inside_a_visible_order_answer_as_missing_ones(
    world: World,
) -> None:
    """Naming web-us items, payment summaries or return lines on a web-uk order answers what
    ids that do not exist answer."""
    for step in ("submit", "approve"):  # so receiving looks at the lines
        moved = world.call(
            "agent", "POST", f"/api/v1/return-orders/{world.uk.return_order}/actions/{step}"
        )
        assert moved.status_code == 200, moved.text
    before = world.snapshot()
    missing = world.us.missing()
    assert len(MIXED) == 9
    for method, template, body_template in MIXED:
        path = template.replace("{summary}", world.uk.summary).replace(
            "<uk_return>", world.uk.return_order
        )
        body = fill(body_template, world.us)
        if body and body.get("order_summary_id") == "<uk>":
            body["order_summary_id"] = world.uk.summary
        foreign = world.call("uk_staff", method, fill(path, world.us), body)
        absent = world.call(
            "uk_staff", method, fill(path, missing), json_replace(body, world.us, missing)
        )
        assert foreign.status_code == absent.status_code, (template, foreign.text, absent.text)
        assert world.us.normalise(foreign.text) == missing.normalise(absent.text), template
        assert foreign.status_code in (400, 404), (template, foreign.text)
    assert world.snapshot() == before


def json_replace(body: Any, old: Ids, new: Ids) -> Any:
    """`body` with each id of `old` replaced by the same field of `new`."""
    text = json.dumps(body)
    for field, value in asdict(old).items():
        text = text.replace(value, asdict(new)[field])
    return json.loads(text)


def test_the_bound_key_still_reaches_its_own_channel(world: World) -> None:
    own = world.get("uk_staff", f"/api/v1/order-summaries/{world.uk.summary}")
    assert (own["channel"], own["external_reference"]) == (UK, "WEB-UK-1")
    for path in (
        f"/api/v1/fulfillment-orders/{world.uk.fo}",
        f"/api/v1/shipments/{world.uk.shipment}",
        f"/api/v1/return-orders/{world.uk.return_order}",
        f"/api/v1/process-exceptions/{world.uk.exception}",
        f"/api/v1/reservations/{world.uk.reservation}",
    ):
        assert world.get("uk_staff", path)["id"] in asdict(world.uk).values()
    moved = world.call(
        "uk_staff", "POST", f"/api/v1/process-exceptions/{world.uk.exception}/actions/triage"
    )
    assert (moved.status_code, moved.json()["status"]) == (200, "TRIAGED")


def test_on_its_own_channel_a_bound_key_gets_what_an_unbound_key_gets(world: World) -> None:
    """Every read and preview of the web-uk order answers the bound key what it answers the
    admin, and submits work under the filter on both backends."""
    for method, path, body in BY_ID:
        if method == "GET" or "preview" in path:
            bound = world.call("uk_staff", method, fill(path, world.uk), fill(body, world.uk))
            admin = world.call("admin", method, fill(path, world.uk), fill(body, world.uk))
            # A preview's rolled-back rows get fresh ids and times on every run.
            seen, expected = masked(bound.text), masked(admin.text)
            assert (bound.status_code, seen) == (admin.status_code, expected), path
    summary = f"/api/v1/order-summaries/{world.uk.summary}"
    ro = f"/api/v1/return-orders/{world.uk.return_order}/actions"
    tee = [{"order_item_summary_id": world.uk.tee, "quantity": 1}]
    for path, body in (
        (f"{ro}/submit", None),
        (f"{ro}/approve", None),
        (
            f"{ro}/receive",
            {
                "items": [
                    {
                        "return_order_line_item_id": world.uk.return_line,
                        "quantity": 1,
                        "location": "WH-LDN",
                    }
                ]
            },
        ),
        (f"{summary}/actions/submit-reship", {"items": tee, "reason": "damaged"}),
        (
            f"{summary}/actions/adjust-item-submit",
            {
                "items": [
                    {"order_item_summary_id": world.uk.tee, "type": "percentage", "amount": "10"}
                ]
            },
        ),
        (f"{summary}/actions/ensure-funds", None),
        (f"{summary}/actions/ensure-refunds", None),
        (f"{summary}/payment-summaries/{world.uk.ps}/actions/refund", {"amount": "1.00"}),
        (f"/api/v1/fulfillment-orders/{world.uk.fo}/actions/ship", None),
        (f"/api/v1/process-exceptions/{world.uk.exception}/actions/void", None),
    ):
        answer = world.call("uk_staff", "POST", path, body)
        assert answer.status_code in (200, 201), (path, answer.text)
    world.shop.drain()
    after = world.get("uk_staff", summary)
    assert after == world.get("admin", summary)
    assert [i["quantity_reshipped"] for i in after["items"] if i["id"] == world.uk.tee] == [1]
    assert after["active_process_exception_count"] == 0


@pytest.mark.parametrize("who", ["agent", "admin"])
def test_unbound_keys_see_both_channels(world: World, who: str) -> None:
    for ids, channel in ((world.uk, UK), (world.us, US)):
        assert world.get(who, f"/api/v1/order-summaries/{ids.summary}")["channel"] == channel
        assert world.get(who, f"/api/v1/return-orders/{ids.return_order}")["id"] == ids.return_order
    listed = world.get(who, "/api/v1/order-summaries")["items"]
    assert [s["id"] for s in listed] == [world.us.summary, world.uk.summary]


def summary_ids(world: World, who: str, **params: Any) -> list[str]:
    return [s["id"] for s in world.get(who, "/api/v1/order-summaries", **params)["items"]]


def test_searches_leave_the_other_channel_out(world: World) -> None:
    nothing = {"items": [], "next_cursor": None}
    for params in (
        {"customer_email": "grace@example.com"},
        {"customer_email": "GRACE@example.com"},
        {"external_reference": "WEB-US-1"},
        {"channel": US},
    ):
        assert world.get("uk_shop", "/api/v1/order-summaries", **params) == nothing
        assert world.get("uk_shop", "/api/v1/order-summaries", **params) == world.get(
            "uk_shop", "/api/v1/order-summaries", **{k: "no-such-value" for k in params}
        )
        assert summary_ids(world, "agent", **params) == [world.us.summary]
    assert summary_ids(world, "uk_shop") == [world.uk.summary]
    assert summary_ids(world, "uk_shop", customer_email="ada@example.com") == [world.uk.summary]
    assert summary_ids(world, "uk_shop", external_reference="WEB-UK-1") == [world.uk.summary]
    status = world.get("agent", f"/api/v1/order-summaries/{world.us.summary}")["status"]
    assert summary_ids(world, "uk_shop", status=status) == [world.uk.summary]


def test_pages_and_cursors_leave_the_other_channel_out(world: World) -> None:
    # Newest first: the web-us order is the newer one, so a filter applied after the page
    # was cut would answer an empty first page with a cursor.
    first = world.get("uk_shop", "/api/v1/order-summaries", limit=1)
    assert first == {"items": [first["items"][0]], "next_cursor": None}
    assert first["items"][0]["id"] == world.uk.summary
    unbound = world.get("agent", "/api/v1/order-summaries", limit=1)
    assert unbound["items"][0]["id"] == world.us.summary
    assert unbound["next_cursor"] is not None


def test_work_queues_and_reports_leave_the_other_channel_out(world: World) -> None:
    def ids(who: str, path: str, **params: Any) -> set[str]:
        body = world.get(who, path, **params)
        return {row["id"] for row in body["items"]} | ({None} if body["next_cursor"] else set())

    uk_fos = {
        fo["id"]
        for fo in world.get("agent", f"/api/v1/order-summaries/{world.uk.summary}")[
            "fulfillment_orders"
        ]
    }
    us_fos = {
        fo["id"]
        for fo in world.get("agent", f"/api/v1/order-summaries/{world.us.summary}")[
            "fulfillment_orders"
        ]
    }
    assert ids("uk_staff", "/api/v1/fulfillment-orders") == uk_fos
    assert ids("agent", "/api/v1/fulfillment-orders") == uk_fos | us_fos
    assert ids("uk_staff", "/api/v1/fulfillment-orders", location="WH-LDN", limit=1) == {
        world.get("agent", f"/api/v1/shipments/{world.uk.shipment}")["fulfillment_order_id"]
    }
    for path, uk_id in (
        ("/api/v1/return-orders", world.uk.return_order),
        ("/api/v1/process-exceptions", world.uk.exception),
    ):
        assert ids("uk_staff", path) == {uk_id}
        assert ids("uk_staff", path, limit=1) == {uk_id}
        assert len(ids("agent", path)) == 2
    for path in (
        "/api/v1/fulfillment-orders",
        "/api/v1/return-orders",
        "/api/v1/process-exceptions",
    ):
        foreign = world.get("uk_staff", path, order_summary_id=world.us.summary)
        absent = world.get("uk_staff", path, order_summary_id=world.us.missing().summary)
        assert foreign == absent == {"items": [], "next_cursor": None}
    report = world.get("uk_staff", "/api/v1/finance/reconciliation")
    assert [row["order_summary_id"] for row in report["orders"]] == [world.uk.summary]
    everyone = world.get("agent", "/api/v1/finance/reconciliation")
    assert [row["order_summary_id"] for row in everyone["orders"]] == [
        world.uk.summary,
        world.us.summary,
    ]
    assert report["totals"] == [
        {**everyone["orders"][0], "order_summary_id": None, "mismatches": []}
    ]


@pytest.mark.parametrize("channel", [US, "web-fr"])
def test_a_bound_key_captures_only_into_its_channels(world: World, channel: str) -> None:
    before = (count(world.api.db, m.OrderSummary), stock(world.api.db))
    refused = world.call(
        "uk_shop",
        "POST",
        "/api/v1/orders",
        order_payload(external_reference="X-1", channel=channel),
    )
    assert refused.status_code == 403
    assert refused.json() == {
        "type": "https://openoms.dev/problems/channel-forbidden",
        "title": "API key is not bound to this channel",
        "status": 403,
        "detail": f"This API key is bound to web-uk; it cannot act on channel {channel!r}.",
        "code": "channel_forbidden",
        "field": "channel",
        "channels": [UK],
    }
    assert (count(world.api.db, m.OrderSummary), stock(world.api.db)) == before
    # Even the reference of an order that exists over there answers the same.
    again = world.call(
        "uk_shop",
        "POST",
        "/api/v1/orders",
        order_payload(external_reference="WEB-US-1", channel=channel),
    )
    assert (again.status_code, again.json()["detail"]) == (403, refused.json()["detail"])
    own = world.call(
        "uk_shop", "POST", "/api/v1/orders", order_payload(external_reference="X-1", channel=UK)
    )
    assert (own.status_code, own.json()["channel"]) == (201, UK)
