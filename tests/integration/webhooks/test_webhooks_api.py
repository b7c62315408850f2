"""The webhook API on SQLite and PostgreSQL: endpoints registered, read (never a secret),
changed, rotated and deleted by an admin only; bad URLs, private targets and unknown
event types refused with nothing stored; an order captured through the API reaches the
endpoints that want its channel; the delivery log, retry, replay and send-test."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from openoms.adapters.db import models as m
from openoms.adapters.db.session import Database
from openoms.api.cursors import encode_cursor
from tests.integration.conftest import Api
from tests.integration.helpers import assert_problem, count
from tests.integration.webhooks.receiver import URL, Receiver, webhook_worker
from tests.integration.worker import drain
from tests.payloads import order_payload

BASE = "/api/v1/webhook-endpoints"


def create(api: Api, **fields: Any) -> dict[str, Any]:
    response = api.client.post(BASE, json={"url": URL, **fields}, headers=api.headers("admin"))
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def test_an_admin_registers_reads_changes_rotates_and_deletes_an_endpoint(api: Api) -> None:
    admin = api.headers("admin")
    created = create(api, event_types=["order_summary.created"], description="ERP")
    endpoint_id = created["id"]
    assert endpoint_id.startswith("whe_")
    assert created["secret"].startswith("whsec_")
    assert (created["url"], created["enabled"], created["event_types"], created["channels"]) == (
        URL,
        True,
        ["order_summary.created"],
        None,
    )

    one = api.client.get(f"{BASE}/{endpoint_id}", headers=admin).json()
    listed = api.client.get(BASE, headers=admin).json()["items"]
    assert "secret" not in one
    assert listed == [one]
    assert one == {k: v for k, v in created.items() if k != "secret"}

    patched = api.client.patch(
        f"{BASE}/{endpoint_id}",
        json={"event_types": None, "channels": ["web-uk"], "enabled": False},
        headers=admin,
    )
    assert patched.status_code == 200, patched.text
    body = patched.json()
    assert (body["event_types"], body["channels"], body["enabled"]) == (None, ["web-uk"], False)
    assert body["disabled_reason"] == "disabled by an admin"
    assert body["description"] == "ERP"

    rotated = api.client.post(f"{BASE}/{endpoint_id}/actions/rotate-secret", headers=admin)
    assert rotated.status_code == 200, rotated.text
    assert rotated.json()["secret"].startswith("whsec_")
    assert rotated.json()["secret"] != created["secret"]
    assert rotated.json()["previous_secret_until"] is not None

    deleted = api.client.delete(f"{BASE}/{endpoint_id}", headers=admin)
    assert deleted.status_code == 204
    assert_problem(
        api.client.get(f"{BASE}/{endpoint_id}", headers=admin), 404, "webhook_endpoint_not_found"
    )
    assert count(api.db, m.WebhookEndpoint) == 0


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"url": "ftp://hooks.example.com/x"}, "webhook_url_invalid"),
        ({"url": "https://"}, "webhook_url_invalid"),
        ({"url": "https://user:pw@hooks.example.com/"}, "webhook_url_invalid"),
        ({"url": "http://127.0.0.1:8080/hook"}, "webhook_url_forbidden"),
        ({"url": "http://[::1]/hook"}, "webhook_url_forbidden"),
        ({"url": "http://169.254.169.254/latest/meta-data"}, "webhook_url_forbidden"),
        ({"url": "http://10.1.2.3/hook"}, "webhook_url_forbidden"),
        ({"url": "http://localhost:9000/hook"}, "webhook_url_forbidden"),
        ({"url": URL, "event_types": ["order.teleported"]}, "webhook_event_type_unknown"),
    ],
)
def test_bad_or_private_targets_and_unknown_types_are_refused(
    api: Api, body: dict[str, Any], code: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPENOMS_WEBHOOK_ALLOW_PRIVATE", raising=False)
    response = api.client.post(BASE, json=body, headers=api.headers("admin"))
    assert_problem(response, 400, code)
    assert count(api.db, m.WebhookEndpoint) == 0


def test_the_private_switch_allows_loopback_and_a_patch_is_checked_too(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENOMS_WEBHOOK_ALLOW_PRIVATE", "true")
    created = create(api, url="http://127.0.0.1:9/hook")
    assert created["url"] == "http://127.0.0.1:9/hook"
    monkeypatch.setenv("OPENOMS_WEBHOOK_ALLOW_PRIVATE", "false")
    response = api.client.patch(
        f"{BASE}/{created['id']}", json={"url": "http://192.168.1.1/"}, headers=api.headers("admin")
    )
    assert_problem(response, 400, "webhook_url_forbidden")
    one = api.client.get(f"{BASE}/{created['id']}", headers=api.headers("admin")).json()
    assert one["url"] == "http://127.0.0.1:9/hook"


@pytest.mark.parametrize("scope", ["storefront", "warehouse", "agent", "metrics"])
def test_only_admin_keys_may_use_the_webhook_api(api: Api, scope: str) -> None:
    created = create(api)
    headers = api.headers(scope)
    assert_problem(api.client.get(BASE, headers=headers), 403, "forbidden")
    assert_problem(api.client.post(BASE, json={"url": URL}, headers=headers), 403, "forbidden")
    path = f"{BASE}/{created['id']}/actions/send-test"
    assert_problem(api.client.post(path, headers=headers), 403, "forbidden")
    assert count(api.db, m.WebhookEndpoint) == 1
    assert count(api.db, m.WebhookDelivery) == 0


def test_a_captured_order_reaches_the_endpoints_of_its_channel_with_a_delivery_log(
    api: Api, stocked: Database
) -> None:
    admin = api.headers("admin")
    uk = create(api, channels=["web-uk"], event_types=["order_summary.created"])
    de = create(api, channels=["web-de"])
    captured = api.client.post(
        "/api/v1/orders", json=order_payload(), headers=api.headers("storefront")
    )
    assert captured.status_code == 201, captured.text
    receiver = Receiver(secrets=[uk["secret"], de["secret"]])
    drain(webhook_worker(api.db, receiver))

    assert receiver.types() == ["order_summary.created"]
    assert receiver.verified == [[uk["secret"]]]
    assert receiver.ok()[0].body["data"]["order_summary_id"] == captured.json()["id"]
    log = api.client.get(f"{BASE}/{uk['id']}/deliveries", headers=admin).json()
    (delivery,) = log["items"]
    assert log["next_cursor"] is None
    assert (delivery["status"], delivery["event_type"], delivery["attempt_count"]) == (
        "succeeded",
        "order_summary.created",
        1,
    )
    assert delivery["webhook_id"] == receiver.ok()[0].webhook_id
    assert [a["status_code"] for a in delivery["attempts"]] == [204]
    none = api.client.get(f"{BASE}/{de['id']}/deliveries", headers=admin).json()
    assert none == {"items": [], "next_cursor": None}


def test_send_test_retry_replay_and_a_filtered_paged_log(api: Api) -> None:
    admin = api.headers("admin")
    created = create(api)
    endpoint_id = created["id"]
    sent = [api.client.post(f"{BASE}/{endpoint_id}/actions/send-test", headers=admin) for _ in "ab"]
    assert [s.status_code for s in sent] == [202, 202]
    assert sent[0].json()["status"] == "pending"
    assert sent[0].json()["event_type"] == "webhook.test"
    receiver = Receiver(secrets=[created["secret"]], default=lambda: httpx.Response(500))
    drain(webhook_worker(api.db, receiver, schedule=(0.0,)))

    failed = api.client.get(f"{BASE}/{endpoint_id}/deliveries?status=failed", headers=admin)
    assert [d["id"] for d in failed.json()["items"]] == [sent[1].json()["id"], sent[0].json()["id"]]
    page = api.client.get(f"{BASE}/{endpoint_id}/deliveries?limit=1", headers=admin).json()
    assert [d["id"] for d in page["items"]] == [sent[1].json()["id"]]
    rest = api.client.get(
        f"{BASE}/{endpoint_id}/deliveries?limit=1&cursor={page['next_cursor']}", headers=admin
    ).json()
    assert [d["id"] for d in rest["items"]] == [sent[0].json()["id"]]
    assert rest["next_cursor"] is None

    retried = api.client.post(
        f"/api/v1/webhook-deliveries/{sent[0].json()['id']}/actions/retry", headers=admin
    )
    assert retried.status_code == 200, retried.text
    assert retried.json()["status"] == "pending"
    replayed = api.client.post(
        f"{BASE}/{endpoint_id}/actions/replay",
        json={"since": "2000-01-01T00:00:00Z"},
        headers=admin,
    )
    assert replayed.json() == {"replayed": 1, "delivery_ids": [sent[1].json()["id"]]}
    receiver.default = lambda: httpx.Response(200, text="thanks")
    drain(webhook_worker(api.db, receiver, schedule=(0.0,)))
    done = api.client.get(f"{BASE}/{endpoint_id}/deliveries?status=succeeded", headers=admin)
    assert [
        (d["attempt_count"], d["attempts"][-1]["response_body"]) for d in done.json()["items"]
    ] == [
        (2, "thanks"),
        (2, "thanks"),
    ]


def test_unknown_ids_and_disabled_endpoints_answer_problems(api: Api) -> None:
    admin = api.headers("admin")
    created = create(api)
    for response in [
        api.client.get(f"{BASE}/whe_nope", headers=admin),
        api.client.patch(f"{BASE}/whe_nope", json={"enabled": True}, headers=admin),
        api.client.delete(f"{BASE}/whe_nope", headers=admin),
        api.client.post(f"{BASE}/whe_nope/actions/send-test", headers=admin),
        api.client.get(f"{BASE}/whe_nope/deliveries", headers=admin),
    ]:
        assert_problem(response, 404, "webhook_endpoint_not_found")
    assert_problem(
        api.client.post("/api/v1/webhook-deliveries/999/actions/retry", headers=admin),
        404,
        "webhook_delivery_not_found",
    )
    too_big = f"/api/v1/webhook-deliveries/{2**63}/actions/retry"
    assert_problem(api.client.post(too_big, headers=admin), 422, "payload_invalid")
    bad_cursor = encode_cursor(f"whd_{2**70}")
    assert_problem(
        api.client.get(f"{BASE}/{created['id']}/deliveries?cursor={bad_cursor}", headers=admin),
        400,
        "validation_failed",
    )
    assert_problem(
        api.client.patch(f"{BASE}/{created['id']}", json={"url": None}, headers=admin),
        400,
        "validation_failed",
    )
    api.client.patch(f"{BASE}/{created['id']}", json={"enabled": False}, headers=admin)
    assert_problem(
        api.client.post(f"{BASE}/{created['id']}/actions/send-test", headers=admin),
        409,
        "webhook_endpoint_disabled",
    )
    assert_problem(
        api.client.post(
            f"{BASE}/{created['id']}/actions/replay",
            json={"since": "2000-01-01T00:00:00Z"},
            headers=admin,
        ),
        409,
        "webhook_endpoint_disabled",
    )
    assert count(api.db, m.WebhookDelivery) == 0


def test_a_replayed_create_answers_the_same_endpoint_without_its_secret(api: Api) -> None:
    headers = api.headers("admin", **{"Idempotency-Key": "create-erp-hook"})
    first = api.client.post(BASE, json={"url": URL}, headers=headers)
    again = api.client.post(BASE, json={"url": URL}, headers=headers)

    assert (first.status_code, again.status_code) == (201, 201)
    assert first.json()["secret"].startswith("whsec_")
    assert again.json() == {**first.json(), "secret": None}
    assert again.headers["Idempotent-Replayed"] == "true"
    assert count(api.db, m.WebhookEndpoint) == 1
