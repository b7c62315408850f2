"""Bearer authentication, scopes and Idempotency-Key replay, over a tiny app built here."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import pytest
from fastapi import Depends, FastAPI, Request, Response
from fastapi.testclient import TestClient
from pydantic import BaseModel
from sqlalchemy import Column, MetaData, String, Table, func, insert, select, update
from sqlalchemy.orm import Session

from openoms.adapters.db.ids import new_id
from openoms.adapters.db.models import IdempotencyRecord
from openoms.adapters.db.repositories.idempotency import purge_idempotency_records
from openoms.adapters.db.session import Database
from openoms.api.auth import PrincipalCache, install_auth, require_scope
from openoms.api.deps import get_db
from openoms.api.errors import install_error_handlers
from openoms.api.idempotency import (
    REPLAYED_HEADER,
    IdempotencyKey,
    respond,
    run_idempotent,
)
from openoms.domain.errors import Conflict
from openoms.services.access import Principal, Scope, revoke_api_key
from tests.integration.helpers import assert_problem, create_keys

widgets = Table(
    "test_widgets",
    MetaData(),
    Column("id", String(40), primary_key=True),
    Column("name", String(100), nullable=False),
    Column("api_key_id", String(40), nullable=False),
)


class WidgetCreate(BaseModel):
    name: str
    colour: str = "red"


@dataclass
class Harness:
    client: TestClient
    app: FastAPI
    db: Database
    keys: dict[str, str]
    key_ids: dict[str, str]
    executions: list[str] = field(default_factory=list)
    delay: float = 0.0

    def headers(self, who: str = "shop", idempotency_key: str | None = None) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {self.keys[who]}"}
        if idempotency_key is not None:
            headers["Idempotency-Key"] = idempotency_key
        return headers

    def post(self, json: dict[str, Any], who: str = "shop", key: str | None = None) -> Any:
        return self.client.post("/widgets", json=json, headers=self.headers(who, key))

    def widget_rows(self) -> list[tuple[str, str]]:
        with self.db.reading() as session:
            rows = session.execute(select(widgets.c.name, widgets.c.api_key_id)).all()
        return sorted((name, api_key_id) for name, api_key_id in rows)

    def record_count(self) -> int:
        with self.db.reading() as session:
            return session.scalar(select(func.count()).select_from(IdempotencyRecord)) or 0


def build_app(harness_ref: list[Harness]) -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)
    install_auth(app)

    @app.post("/widgets", status_code=201)
    def create_widget(
        payload: WidgetCreate,
        request: Request,
        response: Response,
        principal: Annotated[Principal, Depends(require_scope(Scope.STOREFRONT))],
        db: Annotated[Database, Depends(get_db)],
        idempotency_key: IdempotencyKey = None,
    ) -> dict[str, Any]:
        harness = harness_ref[0]

        def operation(session: Session) -> tuple[int, dict[str, Any]]:
            harness.executions.append(payload.name)
            widget_id = new_id("wgt")
            session.execute(
                insert(widgets).values(
                    id=widget_id, name=payload.name, api_key_id=principal.api_key_id
                )
            )
            if payload.name == "boom":
                raise Conflict("widget exploded")
            time.sleep(harness.delay)  # holds the claim so concurrent duplicates overlap
            return 201, {"id": widget_id, "name": payload.name, "colour": payload.colour}

        body = payload.model_dump(mode="json")
        result = run_idempotent(db, principal, idempotency_key, request, body, operation)
        return respond(response, result)

    return app


@pytest.fixture
def harness(db: Database) -> Iterator[Harness]:
    widgets.drop(db.engine, checkfirst=True)  # left over from an interrupted run
    widgets.create(db.engine)
    keys, key_ids = create_keys(
        db,
        {
            "shop": ["storefront"],
            "other_shop": ["storefront"],
            "warehouse": ["warehouse"],
            "admin": ["admin"],
        },
    )
    ref: list[Harness] = []
    app = build_app(ref)
    app.state.db = db
    with TestClient(app) as client:
        ref.append(Harness(client=client, app=app, db=db, keys=keys, key_ids=key_ids))
        yield ref[0]
    widgets.drop(db.engine)


# --- authentication ---------------------------------------------------------------------


def test_missing_key_is_401(harness: Harness) -> None:
    response = harness.client.post("/widgets", json={"name": "a"})
    body = assert_problem(response, 401, "unauthenticated")
    assert body["detail"] == "Send an API key as 'Authorization: Bearer <key>'."
    assert response.headers["www-authenticate"] == "Bearer"
    assert (harness.widget_rows(), harness.executions) == ([], [])


@pytest.mark.parametrize(
    "authorization",
    [
        "Bearer wrong-key",
        "Bearer ",
        "Basic dXNlcjpwYXNz",
        "Bearer oms_x\x7f",
        "Bearer " + "k" * 600,
    ],
)
def test_wrong_or_malformed_key_is_401(harness: Harness, authorization: str) -> None:
    response = harness.client.post(
        "/widgets", json={"name": "a"}, headers={"Authorization": authorization}
    )
    assert_problem(response, 401, "unauthenticated")
    assert response.headers["www-authenticate"] == "Bearer"
    assert (harness.widget_rows(), harness.executions) == ([], [])


def test_revoked_key_is_401(harness: Harness) -> None:
    with harness.db.transaction() as session:
        revoke_api_key(session, harness.key_ids["shop"])
    body = assert_problem(harness.post({"name": "a"}), 401, "unauthenticated")
    assert body["detail"] == "The API key is malformed, unknown or revoked."
    assert harness.widget_rows() == []


def test_wrong_scope_is_403_naming_the_scope(harness: Harness) -> None:
    body = assert_problem(harness.post({"name": "a"}, who="warehouse"), 403, "forbidden")
    assert body["detail"] == "This action needs an API key with the 'storefront' scope."
    assert body["required_scopes"] == ["storefront"]
    assert (harness.widget_rows(), harness.executions) == ([], [])


def test_admin_key_has_every_scope(harness: Harness) -> None:
    response = harness.post({"name": "a"}, who="admin")
    assert response.status_code == 201
    assert harness.widget_rows() == [("a", harness.key_ids["admin"])]


def test_principals_are_cached_for_the_ttl(harness: Harness) -> None:
    now = [1000.0]
    cache = PrincipalCache(ttl=5.0, max_size=10, clock=lambda: now[0])
    harness.app.state.principal_cache = cache
    assert harness.post({"name": "a"}).status_code == 201
    with harness.db.transaction() as session:
        revoke_api_key(session, harness.key_ids["shop"])
    now[0] += 4.9  # still cached: a revocation takes up to the TTL to bite
    assert harness.post({"name": "b"}).status_code == 201
    now[0] += 0.1
    assert_problem(harness.post({"name": "c"}), 401, "unauthenticated")
    assert [name for name, _ in harness.widget_rows()] == ["a", "b"]


def test_principal_cache_is_bounded() -> None:
    cache = PrincipalCache(ttl=60.0, max_size=2, clock=lambda: 0.0)
    principals = [Principal(f"key_{i}", f"k{i}", frozenset({Scope.AGENT})) for i in range(3)]
    for i, principal in enumerate(principals):
        cache.put(f"hash{i}", principal)
    assert len(cache) == 2
    assert [cache.get(f"hash{i}") for i in range(3)] == [None, principals[1], principals[2]]


def test_install_auth_puts_the_cache_on_the_app(harness: Harness) -> None:
    assert len(harness.app.state.principal_cache) == 0
    harness.post({"name": "a"})
    assert len(harness.app.state.principal_cache) == 1


# --- idempotency ------------------------------------------------------------------------


def test_replay_returns_the_same_answer_and_changes_nothing(harness: Harness) -> None:
    first = harness.post({"name": "a"}, key="req-1")
    assert first.status_code == 201
    assert REPLAYED_HEADER.lower() not in first.headers
    # The same JSON with other key order and spacing is the same request.
    again = harness.client.post(
        "/widgets",
        content=b'{ "colour": "red",  "name": "a" }',
        headers={**harness.headers(idempotency_key="req-1"), "Content-Type": "application/json"},
    )
    assert again.status_code == 201
    assert again.json() == first.json()
    assert again.headers[REPLAYED_HEADER] == "true"
    assert harness.executions == ["a"]
    assert harness.widget_rows() == [("a", harness.key_ids["shop"])]
    assert harness.record_count() == 1


def test_same_key_different_request_is_409_and_changes_nothing(harness: Harness) -> None:
    assert harness.post({"name": "a"}, key="req-1").status_code == 201
    body = assert_problem(harness.post({"name": "b"}, key="req-1"), 409, "idempotency_key_reused")
    assert body["detail"] == (
        "Idempotency-Key 'req-1' was already used for a different request (POST /widgets)."
    )
    other_query = harness.client.post(
        "/widgets?dry_run=1", json={"name": "a"}, headers=harness.headers(idempotency_key="req-1")
    )
    assert_problem(other_query, 409, "idempotency_key_reused")
    assert harness.executions == ["a"]
    assert harness.widget_rows() == [("a", harness.key_ids["shop"])]
    assert harness.record_count() == 1


def test_keys_are_per_api_key(harness: Harness) -> None:
    mine = harness.post({"name": "a"}, key="req-1")
    theirs = harness.post({"name": "a"}, who="other_shop", key="req-1")
    assert (mine.status_code, theirs.status_code) == (201, 201)
    assert REPLAYED_HEADER.lower() not in theirs.headers
    assert mine.json()["id"] != theirs.json()["id"]
    assert harness.widget_rows() == sorted(
        [("a", harness.key_ids["shop"]), ("a", harness.key_ids["other_shop"])]
    )
    assert harness.record_count() == 2


def test_without_a_key_every_request_runs(harness: Harness) -> None:
    assert [harness.post({"name": "a"}).status_code for _ in range(2)] == [201, 201]
    assert harness.executions == ["a", "a"]
    assert harness.record_count() == 0


@pytest.mark.parametrize(
    ("key", "detail"),
    [
        ("", "The Idempotency-Key header is empty."),
        ("k" * 256, "The Idempotency-Key header is 256 characters long; the limit is 255."),
        ("k\x7f1", "The Idempotency-Key header holds a control character (U+007F)."),
        ("k\t1", "The Idempotency-Key header holds a control character (U+0009)."),
    ],
)
def test_invalid_idempotency_key_is_400(harness: Harness, key: str, detail: str) -> None:
    body = assert_problem(harness.post({"name": "a"}, key=key), 400, "idempotency_key_invalid")
    assert body["detail"] == detail
    assert (harness.widget_rows(), harness.record_count()) == ([], 0)


def test_longest_idempotency_key_is_accepted(harness: Harness) -> None:
    key = "k" * 255
    assert harness.post({"name": "a"}, key=key).status_code == 201
    assert harness.post({"name": "a"}, key=key).headers[REPLAYED_HEADER] == "true"
    assert harness.executions == ["a"]


def test_failed_operation_stores_nothing_and_can_be_retried(harness: Harness) -> None:
    assert_problem(harness.post({"name": "boom"}, key="req-1"), 409, "conflict")
    assert_problem(harness.post({"name": "boom"}, key="req-1"), 409, "conflict")
    assert harness.executions == ["boom", "boom"]
    assert (harness.widget_rows(), harness.record_count()) == ([], 0)


def test_concurrent_duplicates_execute_once(harness: Harness) -> None:
    harness.delay = 0.3
    barrier = threading.Barrier(8)
    responses: list[Any] = []
    lock = threading.Lock()

    def send() -> None:
        barrier.wait()
        response = harness.post({"name": "a"}, key="race-1")
        with lock:
            responses.append(response)

    threads = [threading.Thread(target=send) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert [r.status_code for r in responses] == [201] * 8
    assert len({r.json()["id"] for r in responses}) == 1
    assert sorted(r.headers.get(REPLAYED_HEADER, "no") for r in responses) == ["no"] + ["true"] * 7
    assert harness.executions == ["a"]
    assert harness.widget_rows() == [("a", harness.key_ids["shop"])]
    assert harness.record_count() == 1


def test_purge_removes_only_old_records(harness: Harness) -> None:
    for key in ("old-1", "old-2", "new-1"):
        assert harness.post({"name": key}, key=key).status_code == 201
    now = datetime.now(UTC)
    with harness.db.transaction() as session:
        session.execute(
            update(IdempotencyRecord)
            .where(IdempotencyRecord.key.in_(["old-1", "old-2"]))
            .values(created_at=now - timedelta(hours=25))
        )
    with harness.db.transaction() as session:
        assert purge_idempotency_records(session, now - timedelta(hours=24)) == 2
    with harness.db.reading() as session:
        assert list(session.scalars(select(IdempotencyRecord.key))) == ["new-1"]
    # A purged key runs again; a kept one still replays.
    assert REPLAYED_HEADER.lower() not in harness.post({"name": "old-1"}, key="old-1").headers
    assert harness.post({"name": "new-1"}, key="new-1").headers[REPLAYED_HEADER] == "true"
    assert harness.executions == ["old-1", "old-2", "new-1", "old-1"]
