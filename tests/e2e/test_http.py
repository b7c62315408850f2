"""The real server (`openoms serve`) as a subprocess, exercised over HTTP with httpx."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from openoms import __version__
from openoms.adapters.db import models as m
from openoms.adapters.db.session import Database
from tests.conftest import BACKENDS
from tests.e2e.common import OPENOMS, cli_env, fresh_database, run
from tests.e2e.servers import (
    ADMIN_KEY,
    Server,
    assert_problem,
    reference,
    running_server,
    stock_over_http,
)
from tests.payloads import order_payload

pytestmark = pytest.mark.e2e

GENERATED_KEY = re.compile(r"oms_[a-z0-9]{8}_[A-Za-z0-9_-]{43}")


# --- running the server -------------------------------------------------------------------


def create_key_with_cli(server: Server, scope: str, workdir: Path) -> str:
    result = run(
        [str(OPENOMS), "keys", "create", "--scope", scope, "--name", f"e2e {scope}"],
        env=cli_env(server.database_url, PYTHONUNBUFFERED="1"),
        cwd=workdir,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()[-1]


@pytest.fixture(scope="module", params=BACKENDS)
def live(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    """One server per backend for the module, OPENOMS_ADMIN_KEY installed and a storefront
    key made with `openoms keys create`. No worker: these tests read an order as capture
    left it, and a worker would route it between two of their requests."""
    workdir = tmp_path_factory.mktemp(f"serve-{request.param}")
    with (
        fresh_database(request.param, workdir, request) as url,
        running_server(url, workdir, admin_key=ADMIN_KEY, worker=False) as server,
    ):
        server.keys["admin"] = ADMIN_KEY
        server.keys["storefront"] = create_key_with_cli(server, "storefront", workdir)
        with server.client(ADMIN_KEY) as admin:
            stock_over_http(admin)
        yield server


def all_summary_ids(client: httpx.Client) -> list[str]:
    response = client.get("/api/v1/order-summaries", params={"limit": 200})
    assert response.status_code == 200, response.text
    page = response.json()
    assert page["next_cursor"] is None
    return [item["id"] for item in page["items"]]


# --- the module's server ------------------------------------------------------------------


def test_health_needs_no_key(live: Server) -> None:
    response = httpx.get(f"{live.base_url}/health", timeout=10)

    assert response.status_code == 200
    dialect = make_url(live.database_url).get_backend_name()
    assert response.json() == {"status": "ok", "version": __version__, "database": dialect}


def test_every_api_endpoint_answers_401_problem_json_without_a_valid_key(live: Server) -> None:
    with live.client() as anonymous:
        paths = anonymous.get("/openapi.json").json()["paths"]
        operations = [
            (method.upper(), path)
            for path, item in paths.items()
            if path.startswith("/api/v1/")
            for method in item
            if method in {"get", "post", "put", "patch", "delete"}
        ]
        assert {
            ("POST", "/api/v1/orders"),
            ("GET", "/api/v1/order-summaries"),
            ("GET", "/api/v1/order-summaries/{summary_id}"),
        } <= set(operations)
        for method, path in operations:
            url = re.sub(r"\{[^}]+\}", "x_unknown", path)
            for headers in ({}, {"Authorization": "Bearer not-a-real-key"}):
                response = anonymous.request(method, url, json={}, headers=headers)
                if path.endswith("/adapters/shopify/webhooks"):
                    # A platform's receiver checks the delivery's HMAC, never a key.
                    assert_problem(response, 401, "channel_webhook_unauthenticated")
                    continue
                body = assert_problem(response, 401, "unauthenticated")
                assert response.headers["www-authenticate"] == "Bearer", (method, path)
                assert body["detail"] == (
                    "Send an API key as 'Authorization: Bearer <key>'."
                    if not headers
                    else "The API key is malformed, unknown or revoked."
                )


def test_capture_over_http_with_a_cli_made_storefront_key(live: Server) -> None:
    payload = order_payload(external_reference=reference())
    with live.client(live.keys["storefront"]) as client:
        created = client.post("/api/v1/orders", json=payload, headers={"Idempotency-Key": "k1"})
        replayed = client.post("/api/v1/orders", json=payload, headers={"Idempotency-Key": "k1"})
        again = client.post("/api/v1/orders", json=payload, headers={"Idempotency-Key": "k2"})
        body = created.json()
        fetched = client.get(f"/api/v1/order-summaries/{body['id']}")
        listed = client.get(
            "/api/v1/order-summaries", params={"external_reference": payload["external_reference"]}
        )

    assert created.status_code == 201, created.text
    assert created.headers["content-type"] == "application/json"
    assert re.fullmatch(r"os_[0-9A-Z]{26}", body["id"])
    assert body["status"] == "CREATED"
    assert (body["channel"], body["external_reference"], body["currency"]) == (
        "web-uk",
        payload["external_reference"],
        "GBP",
    )
    assert body["lifecycle"] == "MANAGED"
    assert body["totals"] == {
        "product": "68.00",
        "delivery": "4.99",
        "adjustments": "-11.00",
        "tax": "14.60",
        "grand_total": "76.59",
    }
    assert [(i["type"], i["sku"], i["quantity_ordered"], i["status"]) for i in body["items"]] == [
        ("product", "TEE-M", 3, "ORDERED"),
        ("product", "MUG", 1, "ORDERED"),
        ("delivery_charge", "DELIVERY", 1, "ORDERED"),
    ]
    assert [e["name"] for e in body["events"]] == [
        "reservation.created",
        "reservation.created",
        "order_summary.created",
    ]
    assert replayed.status_code == 201
    assert replayed.headers["idempotent-replayed"] == "true"
    assert replayed.json() == body
    assert again.status_code == 200, again.text
    assert "idempotent-replayed" not in again.headers
    assert again.json() == body
    assert fetched.status_code == 200
    assert fetched.json() == body
    assert listed.status_code == 200
    assert [item["id"] for item in listed.json()["items"]] == [body["id"]]


def test_bulk_capture_over_http(live: Server) -> None:
    good = [order_payload(external_reference=reference()) for _ in range(2)]
    bad = order_payload(external_reference=reference())
    bad["items"][0]["quantity"] = -1
    body = {"orders": [good[0], bad, good[1], good[0]], "error_policy": "reject_failed_rows"}
    with live.client(live.keys["storefront"]) as client:
        before = set(all_summary_ids(client))
        answer = client.post("/api/v1/orders/bulk", json=body, headers={"Idempotency-Key": "b1"})
        added = set(all_summary_ids(client)) - before

    assert answer.status_code == 200, answer.text
    results = answer.json()["results"]
    assert [r["status"] for r in results] == ["created", "failed", "created", "existing"]
    assert results[3]["order_summary_id"] == results[0]["order_summary_id"]
    assert results[1]["errors"] == [
        {
            "path": "orders[1].items[0].quantity",
            "code": "quantity_invalid",
            "message": "items[0].quantity must be a positive whole number, got -1",
        }
    ]
    assert added == {results[0]["order_summary_id"], results[2]["order_summary_id"]}


def test_openapi_and_docs_are_served(live: Server) -> None:
    with live.client() as anonymous:
        openapi = anonymous.get("/openapi.json")
        docs = anonymous.get("/docs")

    assert openapi.status_code == 200
    paths = openapi.json()["paths"]
    assert set(paths["/api/v1/orders"]) == {"post"}
    assert set(paths["/api/v1/orders/bulk"]) == {"post"}
    assert set(paths["/api/v1/order-summaries"]) == {"get"}
    assert set(paths["/api/v1/order-summaries/{summary_id}"]) == {"get"}
    assert docs.status_code == 200
    assert docs.headers["content-type"].startswith("text/html")
    assert "swagger-ui" in docs.text
    assert "/openapi.json" in docs.text


def test_bad_payloads_answer_problem_json_and_store_nothing(live: Server) -> None:
    missing_currency = order_payload(external_reference=reference())
    del missing_currency["currency"]
    negative = order_payload(external_reference=reference())
    negative["items"][0]["quantity"] = -1
    wrong_total = order_payload(
        external_reference=reference(),
        payments=[{"gateway": "sandbox", "token": "tok_visa", "amount": "1.00"}],
    )
    with live.client(live.keys["storefront"]) as client:
        before = all_summary_ids(client)

        schema = client.post("/api/v1/orders", json=missing_currency)
        rule = client.post("/api/v1/orders", json=negative, headers={"Idempotency-Key": "neg"})
        money = client.post("/api/v1/orders", json=wrong_total)
        not_json = client.post(
            "/api/v1/orders", content=b"{not json", headers={"Content-Type": "application/json"}
        )
        missing = client.get("/api/v1/order-summaries/os_00000000000000000000000000")

        after = all_summary_ids(client)
        # A failed request records nothing under its Idempotency-Key: the fixed retry runs.
        negative["items"][0]["quantity"] = 3
        retried = client.post("/api/v1/orders", json=negative, headers={"Idempotency-Key": "neg"})

    schema_body = assert_problem(schema, 422, "payload_invalid")
    assert {"field": "currency", "message": "Field required"} in schema_body["errors"]
    rule_body = assert_problem(rule, 400, "quantity_invalid")
    assert rule_body["field"] == "items[0].quantity"
    assert rule_body["detail"] == "items[0].quantity must be a positive whole number, got -1"
    assert_problem(money, 400, "payments_insufficient")
    assert_problem(not_json, 422, "payload_invalid")
    assert_problem(missing, 404, "order_summary_not_found")
    assert after == before
    assert retried.status_code == 201, retried.text
    assert retried.json()["external_reference"] == negative["external_reference"]


# --- first start ---------------------------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
def test_first_start_prints_a_generated_admin_key_once(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    with fresh_database(backend, tmp_path, request) as url:
        with running_server(url, tmp_path, admin_key=None) as first:
            printed = GENERATED_KEY.findall(first.stdout())
            assert len(printed) == 1, first.stdout()
            admin_key = printed[0]
            with first.client(admin_key) as admin, first.client("oms_wrong") as wrong:
                empty = admin.get("/api/v1/order-summaries")
                stock_over_http(admin)
                created = admin.post("/api/v1/orders", json=order_payload())
                refused = wrong.get("/api/v1/order-summaries")
            assert first.stop()

        with running_server(url, tmp_path, admin_key=None) as second:
            with second.client(admin_key) as admin:
                listed = admin.get("/api/v1/order-summaries")
            assert second.stop()
            second_stdout = second.stdout()

        db = Database(url)
        try:
            with db.reading() as session:
                keys = session.scalar(select(func.count()).select_from(m.ApiKey))
        finally:
            db.dispose()

    assert "initial admin key" in first.stdout()
    assert empty.status_code == 200
    assert empty.json() == {"items": [], "next_cursor": None}  # nothing seeded
    assert created.status_code == 201, created.text
    assert_problem(refused, 401, "unauthenticated")
    assert GENERATED_KEY.findall(second_stdout) == []
    assert "initial admin key" not in second_stdout
    assert listed.status_code == 200
    assert [item["id"] for item in listed.json()["items"]] == [created.json()["id"]]
    assert keys == 1


def test_serve_limits_each_key_as_the_environment_says(tmp_path: Path) -> None:
    # Backend-independent (process memory), so SQLite only.
    url = f"sqlite:///{tmp_path / 'openoms.db'}"
    limits = {"OPENOMS_RATE_LIMIT_PER_MINUTE": "1", "OPENOMS_RATE_LIMIT_BURST": "2"}
    with running_server(url, tmp_path, admin_key=ADMIN_KEY, **limits) as server:
        key = create_key_with_cli(server, "storefront", tmp_path)
        with server.client(key) as shop, server.client(ADMIN_KEY) as admin:
            answers = [shop.get("/api/v1/order-summaries") for _ in range(3)]
            admin_codes = {admin.get("/api/v1/order-summaries").status_code for _ in range(5)}
    assert [a.status_code for a in answers] == [200, 200, 429]
    body = assert_problem(answers[2], 429, "rate_limited")
    # One request a minute: the next is allowed within the minute, in whole seconds.
    assert 1 <= int(answers[2].headers["retry-after"]) <= 60
    assert body["retry_after"] == int(answers[2].headers["retry-after"])
    assert admin_codes == {200}
