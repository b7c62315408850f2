"""The API for API keys (admin only): create (the secret shown once, never stored or
replayed), list, read, revoke (the key stops on the very next request in this process)."""

from __future__ import annotations

import logging
import re
import uuid
from typing import Any

import pytest
from sqlalchemy import select

from openoms.adapters.db import models as m
from openoms.adapters.outbox import Outbox
from openoms.services.orders import ChannelData, upsert_channel
from openoms.worker.consumers import default_registry
from tests.integration.conftest import Api
from tests.integration.helpers import assert_problem, count

KEYS = "/api/v1/api-keys"
ISO = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z")


@pytest.fixture
def channels(api: Api) -> Api:
    with api.db.transaction() as session:
        for ref in ("web-uk", "web-us"):
            upsert_channel(session, Outbox(default_registry()), ref, ChannelData())
    return api


def post(
    api: Api, path: str, body: Any = None, *, who: str = "admin", key: str | None = None
) -> Any:
    headers = api.headers(who, **{"Idempotency-Key": key or str(uuid.uuid4())})
    return api.client.post(path, json=body, headers=headers)


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def test_create_shows_the_secret_once_and_it_works_at_once(
    channels: Api, caplog: pytest.LogCaptureFixture
) -> None:
    api = channels
    caplog.set_level(logging.DEBUG)
    idempotency_key = str(uuid.uuid4())
    body = {"name": "UK shop", "scopes": ["storefront"], "channels": ["web-uk"]}
    created = post(api, KEYS, body, key=idempotency_key)
    assert created.status_code == 201, created.text
    key = created.json()
    secret = key.pop("secret")
    assert re.fullmatch(r"oms_[a-z0-9]{8}_[A-Za-z0-9_-]{43}", secret)
    assert ISO.fullmatch(key.pop("created_at"))
    assert key == {
        "id": key["id"],
        "name": "UK shop",
        "prefix": secret[:12],
        "scopes": ["storefront"],
        "channels": ["web-uk"],
        "revoked_at": None,
    }
    # Works on the very next request, bound to web-uk.
    listed = api.client.get("/api/v1/order-summaries", headers=bearer(secret))
    assert listed.status_code == 200, listed.text
    refused = api.client.post("/api/v1/orders", json={"channel": "web-us"}, headers=bearer(secret))
    assert refused.status_code in (403, 422)
    # A retry with the same Idempotency-Key replays the answer without the secret, and makes
    # no second key.
    again = post(api, KEYS, body, key=idempotency_key)
    assert (again.status_code, again.headers.get("idempotent-replayed")) == (201, "true")
    assert again.json() == {**key, "created_at": again.json()["created_at"], "secret": None}
    assert count(api.db, m.ApiKey) == 6  # the five test keys and this one
    # The secret is stored nowhere, and logged nowhere.
    with api.db.reading() as session:
        stored = session.scalars(select(m.IdempotencyRecord.response_body)).all()
    assert secret not in str(stored)
    assert secret not in caplog.text
    assert secret[13:] not in caplog.text


def test_list_and_read_never_show_secrets(channels: Api) -> None:
    api = channels
    created = post(api, KEYS, {"name": "agents", "scopes": ["agent", "warehouse"]}).json()
    listed = api.client.get(KEYS, headers=api.headers("admin"))
    assert listed.status_code == 200, listed.text
    items = listed.json()["items"]
    assert [k["name"] for k in items] == [
        "test storefront",
        "test warehouse",
        "test agent",
        "test metrics",
        "test admin",
        "agents",
    ]
    assert all("secret" not in k for k in items)
    assert items[-1] == {k: v for k, v in created.items() if k != "secret"}
    assert items[-1]["scopes"] == ["agent", "warehouse"]
    assert items[-1]["channels"] is None
    one = api.client.get(f"{KEYS}/{created['id']}", headers=api.headers("admin"))
    assert one.json() == items[-1]
    missing = api.client.get(f"{KEYS}/key_nope", headers=api.headers("admin"))
    assert assert_problem(missing, 404, "api_key_not_found")["detail"] == "No API key 'key_nope'."


@pytest.mark.parametrize("who", ["storefront", "warehouse", "agent"])
def test_only_the_admin_manages_keys(channels: Api, who: str) -> None:
    api = channels
    key_id = api.client.get(KEYS, headers=api.headers("admin")).json()["items"][0]["id"]
    for answer in (
        post(api, KEYS, {"name": "x", "scopes": ["admin"]}, who=who),
        api.client.get(KEYS, headers=api.headers(who)),
        api.client.get(f"{KEYS}/{key_id}", headers=api.headers(who)),
        post(api, f"{KEYS}/{key_id}/actions/revoke", who=who),
    ):
        assert_problem(answer, 403, "forbidden")
    assert count(api.db, m.ApiKey) == 5
    assert count(api.db, m.ApiKey, m.ApiKey.revoked_at.is_not(None)) == 0


@pytest.mark.parametrize(
    ("body", "status", "code", "detail"),
    [
        (
            {"name": "x", "scopes": ["storefront"], "channels": ["web-fr"]},
            400,
            "channel_unknown",
            "channel 'web-fr' is not configured; configured channels: web-uk, web-us",
        ),
        (
            {"name": "x", "scopes": ["admin"], "channels": ["web-uk"]},
            400,
            "api_key_invalid",
            "An admin key sees every channel; it cannot be bound to channels.",
        ),
        (
            {"name": " ", "scopes": ["agent"]},
            400,
            "api_key_invalid",
            "An API key needs a name of 1 to 200 characters.",
        ),
        (
            {"name": "x", "scopes": []},
            400,
            "api_key_invalid",
            "An API key needs at least one scope.",
        ),
    ],
)
def test_bad_keys_are_refused_and_nothing_is_stored(
    channels: Api, body: dict[str, Any], status: int, code: str, detail: str
) -> None:
    api = channels
    assert assert_problem(post(api, KEYS, body), status, code)["detail"] == detail
    assert count(api.db, m.ApiKey) == 5


def test_revoking_stops_the_key_on_the_very_next_request(channels: Api) -> None:
    api = channels
    created = post(api, KEYS, {"name": "shop", "scopes": ["storefront"]}).json()
    secret = created["secret"]
    # Used once, so this process holds its principal in the cache.
    assert api.client.get("/api/v1/order-summaries", headers=bearer(secret)).status_code == 200
    revoked = post(api, f"{KEYS}/{created['id']}/actions/revoke")
    assert revoked.status_code == 200, revoked.text
    assert ISO.fullmatch(revoked.json()["revoked_at"])
    after = api.client.get("/api/v1/order-summaries", headers=bearer(secret))
    assert_problem(after, 401, "unauthenticated")
    # Revoking again keeps the first time.
    again = post(api, f"{KEYS}/{created['id']}/actions/revoke")
    assert again.json() == revoked.json()
    assert_problem(post(api, f"{KEYS}/key_nope/actions/revoke"), 404, "api_key_not_found")
