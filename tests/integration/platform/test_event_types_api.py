"""GET /api/v1/event-types: the catalog, for any valid key, sorted by name."""

from __future__ import annotations

from openoms.schemas.events import EVENT_TYPES, OrderSummaryCreated
from tests.integration.conftest import Api


def test_any_key_reads_the_catalog_sorted_by_name(api: Api) -> None:
    for scope in ("storefront", "warehouse", "agent", "admin"):
        response = api.client.get("/api/v1/event-types", headers=api.headers(scope))
        assert response.status_code == 200
        items = response.json()["items"]
        assert [i["name"] for i in items] == sorted(t.name for t in EVENT_TYPES)
    created = next(i for i in items if i["name"] == "order_summary.created")
    assert created == {
        "name": "order_summary.created",
        "version": 1,
        "aggregate_type": "order_summary",
        "description": "An order was captured from a channel.",
        "payload_schema": OrderSummaryCreated.model_json_schema(),
    }
    assert created["payload_schema"]["additionalProperties"] is False


def test_no_key_is_refused(api: Api) -> None:
    response = api.keyless.get("/api/v1/event-types")
    assert response.status_code == 401
    assert response.json()["code"] == "unauthenticated"
