"""Operating it: liveness, readiness, /metrics and request ids."""

from __future__ import annotations

import json
import logging
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from openoms.adapters.db.models import utcnow
from openoms.adapters.db.session import Database
from openoms.adapters.jobs import enqueue
from openoms.adapters.metrics import Metrics
from openoms.adapters.outbox import Outbox
from openoms.adapters.payments import default_gateways
from openoms.api.app import create_app
from openoms.api.logs import log_handler
from openoms.worker.consumers import default_jobs, default_registry
from tests.integration.conftest import Api
from tests.integration.worker import ONE_DRAIN, WorkerClock, drain, make_worker
from tests.payloads import order_payload

PROBLEM_JSON = "application/problem+json"


def figures(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a scrape by (name, sorted labels)."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def scrape(
    api: Api, scope: str = "metrics"
) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = api.client.get("/metrics", headers=api.headers(scope))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return figures(response.text)


def test_live_answers_without_a_key(api: Api) -> None:
    response = api.keyless.get("/health/live")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


def test_ready_answers_when_migrated(api: Api, db: Database) -> None:
    response = api.keyless.get("/health/ready")
    assert response.status_code == 200
    assert response.json()["checks"] == {"database": "ok", "migrations": "ok"}
    assert response.json()["database"] == db.dialect


def test_ready_is_503_on_an_unmigrated_database(tmp_path: Path) -> None:
    fresh = Database(f"sqlite:///{tmp_path / 'fresh.db'}")
    try:
        with TestClient(create_app(fresh, Outbox(default_registry()))) as client:
            response = client.get("/health/ready")
    finally:
        fresh.dispose()
    assert response.status_code == 503
    assert response.headers["content-type"] == PROBLEM_JSON
    assert response.json()["code"] == "not_ready"
    assert response.json()["checks"] == {"database": "ok", "migrations": "not at head"}


def test_ready_is_503_on_an_unreachable_database() -> None:
    # Nothing listens on port 1: the connection is refused at once.
    gone = Database("postgresql://postgres@127.0.0.1:1/gone?connect_timeout=2")
    try:
        with TestClient(create_app(gone, Outbox(default_registry()))) as client:
            response = client.get("/health/ready")
            live = client.get("/health/live")
    finally:
        gone.dispose()
    assert response.status_code == 503
    assert response.json()["code"] == "not_ready"
    assert response.json()["checks"] == {
        "database": "unreachable (OperationalError)",
        "migrations": "unknown",
    }
    assert live.status_code == 200


def test_metrics_need_the_metrics_scope(api: Api) -> None:
    assert api.keyless.get("/metrics").status_code == 401
    forbidden = api.keyless.get("/metrics", headers=api.headers("storefront"))
    assert forbidden.status_code == 403
    assert forbidden.json()["code"] == "forbidden"
    assert forbidden.json()["required_scopes"] == ["metrics"]
    assert api.keyless.get("/metrics", headers=api.headers("metrics")).status_code == 200
    assert api.keyless.get("/metrics", headers=api.headers("admin")).status_code == 200
    assert "/metrics" not in api.client.app.openapi()["paths"]  # type: ignore[attr-defined]


def test_metrics_move_with_a_capture_and_its_routing(stocked: Database, api: Api) -> None:
    metrics: Metrics = api.client.app.state.metrics  # type: ignore[attr-defined]
    gateways = default_gateways(stocked)
    gateways.instrument(metrics.gateway)
    jobs = default_jobs(stocked, None, gateways)
    jobs.observer = metrics.job_ran
    worker = make_worker(stocked, jobs=jobs, clock=WorkerClock(ahead=ONE_DRAIN))
    drain(worker)  # what stocking the network queued
    captured = ("openoms_captures_total", (("channel", "web-uk"), ("outcome", "created")))
    before = scrape(api)
    assert before.get(captured, 0.0) == 0.0
    assert before[("openoms_outbox_pending_deliveries", ())] == 0.0
    assert before[("openoms_routing_round_duration_seconds_count", ())] == 0.0

    created = api.client.post("/api/v1/orders", json=order_payload(), headers=api.headers())
    assert created.status_code == 201, created.text
    again = api.client.post("/api/v1/orders", json=order_payload(), headers=api.headers())
    assert again.status_code == 200
    refused = api.client.post(
        "/api/v1/orders", json=order_payload(channel="nowhere"), headers=api.headers()
    )
    assert refused.status_code == 400

    after = scrape(api)
    assert after[captured] == 1.0
    duplicate = ("openoms_captures_total", (("channel", "web-uk"), ("outcome", "duplicate")))
    assert after[duplicate] == 1.0
    refusal = ("openoms_captures_total", (("channel", "unknown"), ("outcome", "refused")))
    assert after[refusal] == 1.0
    # order_summary.created for routing and payments (with no flow and no webhook endpoint,
    # their consumers of every event get none); the routing job queued by capture.
    assert after[("openoms_outbox_pending_deliveries", ())] == 2.0
    depths = {key: value for key, value in after.items() if key[0] == "openoms_job_queue_depth"}
    assert depths == {("openoms_job_queue_depth", (("kind", "route_order"),)): 1.0}
    assert after[("openoms_outbox_lag_seconds", ())] >= 0.0

    drain(worker)

    routed = scrape(api)
    # One routing job for both delivery groups of the §12 order, then one authorization.
    assert routed[("openoms_routing_round_duration_seconds_count", ())] == 1.0
    route_runs = (
        "openoms_job_duration_seconds_count",
        (("kind", "route_order"), ("outcome", "done")),
    )
    assert routed[route_runs] == 1.0
    authorize = (("gateway", "sandbox"), ("operation", "authorize"))
    assert routed[("openoms_gateway_call_duration_seconds_count", authorize)] == 1.0
    assert not [key for key in routed if key[0] == "openoms_gateway_call_errors_total"]
    assert not [key for key in routed if key[0] == "openoms_job_queue_depth"]
    assert routed[("openoms_outbox_pending_deliveries", ())] == 0.0
    assert routed[("openoms_outbox_lag_seconds", ())] == 0.0


def test_job_queue_figures_are_read_from_the_database(api: Api, db: Database) -> None:
    now = utcnow()
    with db.transaction() as session:
        enqueue(session, "route_group", "ops-test-due", {}, available_at=now - timedelta(hours=1))
        enqueue(session, "route_group", "ops-test-later", {}, available_at=now + timedelta(hours=1))
        enqueue(
            session, "create_label", "ops-test-label", {}, available_at=now + timedelta(hours=1)
        )
    found = scrape(api, "admin")
    assert found[("openoms_job_queue_depth", (("kind", "route_group"),))] == 2.0
    assert found[("openoms_job_queue_depth", (("kind", "create_label"),))] == 1.0
    assert 3600.0 <= found[("openoms_job_oldest_due_age_seconds", ())] < 3700.0


def test_request_id_round_trips(api: Api) -> None:
    given = api.keyless.get("/health/live", headers={"X-Request-ID": "abc-123"})
    assert given.headers["X-Request-ID"] == "abc-123"
    fresh = api.keyless.get("/health/live")
    assert len(fresh.headers["X-Request-ID"]) == 32
    insane = api.keyless.get("/health/live", headers={"X-Request-ID": "x" * 200})
    assert insane.headers["X-Request-ID"] != "x" * 200
    assert len(insane.headers["X-Request-ID"]) == 32
    refused = api.keyless.get("/metrics", headers={"X-Request-ID": "r-401"})
    assert refused.status_code == 401
    assert refused.headers["X-Request-ID"] == "r-401"


def test_json_log_lines_carry_the_request_id(api: Api, capsys: pytest.CaptureFixture[str]) -> None:
    handler = log_handler("json")
    logger = logging.getLogger("openoms")
    logger.addHandler(handler)
    level = logger.level
    logger.setLevel(logging.INFO)
    try:
        response = api.client.post(
            "/api/v1/api-keys",
            json={"name": "scraper", "scopes": ["metrics"]},
            headers=api.headers("admin", **{"X-Request-ID": "req-json-1"}),
        )
        logging.getLogger("openoms.test").info("outside any request")
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    assert response.status_code == 201, response.text
    assert response.headers["X-Request-ID"] == "req-json-1"
    err = capsys.readouterr().err
    lines = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    created = [line for line in lines if line["logger"] == "openoms.api.keys.router"]
    assert created == [
        {
            "time": created[0]["time"],
            "level": "INFO",
            "logger": "openoms.api.keys.router",
            "message": f"created API key {response.json()['id']}",
            "request_id": "req-json-1",
        }
    ]
    assert response.json()["secret"] not in err  # the new key's secret is never logged
    assert lines[-1]["message"] == "outside any request"
    assert set(lines[-1]) == {"time", "level", "logger", "message"}
