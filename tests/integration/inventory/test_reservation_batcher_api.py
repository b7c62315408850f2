"""`POST /api/v1/reservations` at one location goes through the app's batcher: the same
answers, idempotency and problems as before, with the stored answer committed with the
reservation."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from sqlalchemy import event, func, select

from openoms.adapters.db import models as m
from openoms.adapters.db.session import Database
from openoms.services.inventory import AnswerTaken
from tests.integration.conftest import Api

LOC, REF, SKU = "loc_batch_api", "BATCH-API", "HOT"


@pytest.fixture
def hot(db: Database) -> Database:
    with db.transaction() as session:
        session.add(m.Location(id=LOC, ref=REF, name="Batch", type="warehouse"))
        session.flush()
        session.add(m.InventoryRecord(location_id=LOC, sku=SKU, on_hand=12, safety_stock=2))
    return db


def body(units: int, **extra: Any) -> dict[str, Any]:
    return {"location": REF, "items": [{"sku": SKU, "quantity": units}], **extra}


def reserved(db: Database) -> int:
    with db.reading() as session:
        return int(
            session.scalar(
                select(m.InventoryRecord.reserved).where(m.InventoryRecord.location_id == LOC)
            )
            or 0
        )


def count(db: Database, model: Any) -> int:
    with db.reading() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_a_reservation_at_a_location_answers_and_replays(hot: Database, api: Api) -> None:
    headers = api.headers(**{"Idempotency-Key": "r-1"})
    first = api.client.post("/api/v1/reservations", json=body(3), headers=headers)
    assert first.status_code == 201, first.text
    answer = first.json()
    assert answer["location"] == REF
    assert answer["status"] == "ACTIVE"
    assert answer["items"] == [
        {"sku": SKU, "location": REF, "quantity": 3, "fulfilled": 0, "released": 0}
    ]
    again = api.client.post("/api/v1/reservations", json=body(3), headers=headers)
    assert again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == answer
    other = api.client.post("/api/v1/reservations", json=body(4), headers=headers)
    assert other.status_code == 409
    assert other.json()["code"] == "idempotency_key_reused"
    shown = api.client.get(f"/api/v1/reservations/{answer['id']}", headers=api.headers())
    assert shown.json()["items"] == answer["items"]
    assert reserved(hot) == 3
    assert count(hot, m.Reservation) == 1


def test_a_refusal_stores_nothing(hot: Database, api: Api) -> None:
    headers = api.headers(**{"Idempotency-Key": "r-short"})
    short = api.client.post("/api/v1/reservations", json=body(11), headers=headers)
    assert short.status_code == 409
    assert short.json()["code"] == "insufficient_stock"
    assert short.json()["shortfall"] == [{"sku": SKU, "requested": 11, "available": 10}]
    retried = api.client.post("/api/v1/reservations", json=body(11), headers=headers)
    assert retried.status_code == 409
    assert "Idempotent-Replayed" not in retried.headers
    unknown = api.client.post(
        "/api/v1/reservations", json={**body(1), "location": "NOWHERE"}, headers=api.headers()
    )
    assert unknown.status_code == 404
    assert (reserved(hot), count(hot, m.Reservation), count(hot, m.IdempotencyRecord)) == (0, 0, 0)


def test_concurrent_requests_never_oversell(hot: Database, api: Api) -> None:
    statuses: list[int] = []
    lock = threading.Lock()

    def client(n: int) -> None:
        headers = api.headers(**{"Idempotency-Key": f"c-{n}"})
        answer = api.client.post("/api/v1/reservations", json=body(1), headers=headers)
        with lock:
            statuses.append(answer.status_code)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(14)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [201] * 10 + [409] * 4  # on_hand 12 − safety 2
    assert reserved(hot) == 10
    assert count(hot, m.IdempotencyRecord) == 10
    with hot.reading() as session:
        events = session.scalar(select(func.count()).where(m.Event.name == "reservation.created"))
    assert events == 10


class _Taken:
    """A batcher that always finds the key taken (a race with a concurrent request)."""

    def submit(self, request: Any) -> Any:
        raise AnswerTaken("taken")


def test_a_key_taken_meanwhile_falls_back_to_the_ordinary_path(
    hot: Database, api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    app: Any = api.client.app
    monkeypatch.setattr(app.state, "reservation_batcher", _Taken())
    headers = api.headers(**{"Idempotency-Key": "raced"})
    answer = api.client.post("/api/v1/reservations", json=body(2), headers=headers)
    assert answer.status_code == 201, answer.text
    again = api.client.post("/api/v1/reservations", json=body(2), headers=headers)
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == answer.json()
    assert reserved(hot) == 2


def test_a_batch_that_cannot_commit_answers_503_and_stores_nothing(hot: Database, api: Api) -> None:
    def refuse_commit(_connection: Any) -> None:
        raise RuntimeError("the disk is gone")

    headers = api.headers(**{"Idempotency-Key": "r-down"})
    event.listen(hot.engine, "commit", refuse_commit)
    try:
        down = api.client.post("/api/v1/reservations", json=body(3), headers=headers)
    finally:
        event.remove(hot.engine, "commit", refuse_commit)
    assert down.status_code == 503
    assert down.headers["content-type"] == "application/problem+json"
    assert down.json()["code"] == "temporarily_unavailable"
    assert "disk" not in down.text  # the cause is logged, never answered
    assert reserved(hot) == 0
    assert count(hot, m.Reservation) == 0
    again = api.client.post("/api/v1/reservations", json=body(3), headers=headers)
    assert again.status_code == 201, again.text
    assert reserved(hot) == 3
