"""Authentication under pressure (issue 11, item 3): unknown and revoked keys are remembered
briefly so guesses do not each reach the database; revoking through the key API stops a key
at once in that process; each non-admin key is rate limited (429 with Retry-After). The
clock is injected, so expiry and refill are stepped, never slept."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event

from openoms.adapters.db import models as m
from openoms.adapters.db.session import Database
from openoms.adapters.outbox import Outbox
from openoms.api.app import create_app
from openoms.api.auth import CACHE_TTL_SECONDS, MISS_TTL_SECONDS
from openoms.api.ratelimit import RateLimit
from openoms.services.access import revoke_api_key
from openoms.worker.consumers import default_registry
from tests.integration.helpers import assert_problem, count, create_keys
from tests.payloads import order_payload

GUESS = "oms_guessing_" + "x" * 43
SUMMARIES = "/api/v1/order-summaries"


@dataclass
class Clock:
    now: float = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class App:
    client: TestClient
    db: Database
    clock: Clock
    keys: dict[str, str]
    key_ids: dict[str, str]
    key_lookups: list[str] = field(default_factory=list)  # SQL that read api_keys

    def get(self, secret: str, path: str = SUMMARIES) -> Any:
        return self.client.get(path, headers={"Authorization": f"Bearer {secret}"})

    def post(self, who: str, path: str, body: Any = None) -> Any:
        headers = {
            "Authorization": f"Bearer {self.keys[who]}",
            "Idempotency-Key": str(uuid.uuid4()),
        }
        return self.client.post(path, json=body, headers=headers)


def make_app(db: Database, rate_limit: RateLimit | None = None) -> Iterator[App]:
    keys, key_ids = create_keys(
        db,
        {
            "shop": ["storefront"],
            "other_shop": ["storefront"],
            "agent": ["agent"],
            "admin": ["admin"],
        },
    )
    clock = Clock()
    app = create_app(db, Outbox(default_registry()), rate_limit=rate_limit, clock=clock)
    harness = App(TestClient(app), db, clock, keys, key_ids)

    # Counted at the engine, as the database sees them: every statement that reads api_keys.
    def seen(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if "api_keys" in statement:
            harness.key_lookups.append(statement)

    event.listen(db.engine, "before_cursor_execute", seen)
    try:
        with harness.client:
            yield harness
    finally:
        event.remove(db.engine, "before_cursor_execute", seen)


@pytest.fixture
def app(db: Database) -> Iterator[App]:
    yield from make_app(db)


@pytest.fixture
def limited(db: Database) -> Iterator[App]:
    yield from make_app(db, RateLimit(per_minute=60, burst=2))


# --- unknown keys -------------------------------------------------------------------------


def test_a_guessed_key_reaches_the_database_once_within_the_ttl(app: App) -> None:
    answers = [app.get(GUESS) for _ in range(5)]
    bodies = [assert_problem(a, 401, "unauthenticated") for a in answers]
    assert bodies == [bodies[0]] * 5
    assert bodies[0]["detail"] == "The API key is malformed, unknown or revoked."
    assert len(app.key_lookups) == 1
    app.clock.now += MISS_TTL_SECONDS - 0.01
    assert_problem(app.get(GUESS), 401, "unauthenticated")
    assert len(app.key_lookups) == 1
    app.clock.now += 0.01  # remembered no longer: asked again
    assert_problem(app.get(GUESS), 401, "unauthenticated")
    assert len(app.key_lookups) == 2


def test_many_guesses_are_remembered_in_bounded_memory(app: App) -> None:
    misses = app.client.app.state.key_misses  # type: ignore[attr-defined]
    misses.max_size = 3
    for n in range(5):
        assert_problem(app.get(f"{GUESS}{n}"), 401, "unauthenticated")
    assert len(misses) == 3
    assert len(app.key_lookups) == 5
    assert_problem(app.get(f"{GUESS}4"), 401, "unauthenticated")  # still remembered
    assert_problem(app.get(f"{GUESS}0"), 401, "unauthenticated")  # forgotten first: asked again
    assert len(app.key_lookups) == 6


def test_a_key_created_through_the_api_works_at_once_and_forgets_the_misses(app: App) -> None:
    assert_problem(app.get(GUESS), 401, "unauthenticated")
    created = app.post("admin", "/api/v1/api-keys", {"name": "new", "scopes": ["storefront"]})
    assert created.status_code == 201, created.text
    assert app.get(created.json()["secret"]).status_code == 200
    lookups = len(app.key_lookups)
    assert_problem(app.get(GUESS), 401, "unauthenticated")  # the miss was forgotten: asked again
    assert len(app.key_lookups) == lookups + 1


# --- revocation ---------------------------------------------------------------------------


def test_revoking_through_the_api_stops_the_key_on_the_next_request(app: App) -> None:
    assert app.get(app.keys["shop"]).status_code == 200  # its principal is cached now
    revoked = app.post("admin", f"/api/v1/api-keys/{app.key_ids['shop']}/actions/revoke")
    assert revoked.status_code == 200, revoked.text
    assert_problem(app.get(app.keys["shop"]), 401, "unauthenticated")  # no time has passed
    assert app.get(app.keys["other_shop"]).status_code == 200


def test_a_key_revoked_by_another_process_stops_within_the_cache_ttl(app: App) -> None:
    assert app.get(app.keys["shop"]).status_code == 200
    with app.db.transaction() as session:  # as `openoms keys revoke` does, elsewhere
        revoke_api_key(session, app.key_ids["shop"])
    app.clock.now += CACHE_TTL_SECONDS - 0.01
    assert app.get(app.keys["shop"]).status_code == 200
    app.clock.now += 0.01
    assert_problem(app.get(app.keys["shop"]), 401, "unauthenticated")


# --- rate limiting ------------------------------------------------------------------------


def test_over_the_limit_is_429_with_retry_after_and_changes_nothing(limited: App) -> None:
    assert [limited.get(limited.keys["shop"]).status_code for _ in range(2)] == [200, 200]
    before = count(limited.db, m.OrderSummary), count(limited.db, m.IdempotencyRecord)
    refused = limited.post("shop", "/api/v1/orders", order_payload())
    assert refused.headers["retry-after"] == "1"
    assert assert_problem(refused, 429, "rate_limited") == {
        "type": "https://openoms.dev/problems/rate-limited",
        "title": "Too many requests",
        "status": 429,
        "detail": "This API key sent more than 60 requests a minute (bursts of 2); retry in 1 s.",
        "code": "rate_limited",
        "retry_after": 1,
    }
    assert (count(limited.db, m.OrderSummary), count(limited.db, m.IdempotencyRecord)) == before
    # Another key has its own bucket; the admin is never limited.
    assert limited.get(limited.keys["other_shop"]).status_code == 200
    assert {limited.get(limited.keys["admin"]).status_code for _ in range(20)} == {200}
    # One token a second comes back.
    limited.clock.now += 0.5
    assert_problem(limited.get(limited.keys["shop"]), 429, "rate_limited")
    limited.clock.now += 0.5
    assert limited.get(limited.keys["shop"]).status_code == 200
    assert_problem(limited.get(limited.keys["shop"]), 429, "rate_limited")
    # A full minute refills only up to the burst.
    limited.clock.now += 60
    assert [limited.get(limited.keys["shop"]).status_code for _ in range(3)] == [200, 200, 429]


def test_retry_after_is_whole_seconds_rounded_up(db: Database) -> None:
    for harness in make_app(db, RateLimit(per_minute=25, burst=1)):
        assert harness.get(harness.keys["agent"]).status_code == 200
        refused = harness.get(harness.keys["agent"])
        assert (refused.status_code, refused.headers["retry-after"]) == (429, "3")  # 2.4 s
        harness.clock.now += 2.0
        assert harness.get(harness.keys["agent"]).headers["retry-after"] == "1"  # 0.4 s


def test_without_a_rate_limit_nothing_is_refused(app: App) -> None:
    for _ in range(200):
        assert app.get(app.keys["shop"]).status_code == 200
