"""Group commit of reservations (services/inventory/batching.py), on both backends.

Many threads submitting through one batcher reserve exactly the stock; a refused request
in a batch changes nothing and fails no other; repeats of an idempotency key replay,
inside one batch and across batches; a failing commit acknowledges nobody; one
`reservation.created` per reservation. The oversell check used here fails when the
batcher's guard is loosened, so it can catch an oversell.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import event, func, select

from openoms.adapters.db import models as m
from openoms.adapters.db.session import Database
from openoms.adapters.outbox import ConsumerRegistry, Outbox
from openoms.domain.errors import IdempotencyKeyReused, QuantityInvalid
from openoms.domain.inventory import InsufficientStock
from openoms.services import inventory as svc
from openoms.services.inventory import (
    AnswerTaken,
    BatcherClosed,
    ReservationBatcher,
    ReservationBatchFailed,
    ReserveRequest,
    StoredAnswer,
)
from openoms.services.inventory.batch_reserve import Resubmit
from openoms.services.inventory.location_data import LocationNotFound

LOC, SKU, OTHER = "loc_batch", "HOT", "COLD"


@pytest.fixture
def hot(db: Database) -> Database:
    """A location with the hot SKU (on_hand 100, safety 10) and another SKU."""
    with db.transaction() as session:
        session.add(m.Location(id=LOC, ref="BATCH-WH", name="Batch", type="warehouse"))
        session.add(m.Location(id="loc_off", ref="OFF", name="Off", type="store", active=False))
        session.flush()
        session.add(m.InventoryRecord(location_id=LOC, sku=SKU, on_hand=100, safety_stock=10))
        session.add(m.InventoryRecord(location_id=LOC, sku=OTHER, on_hand=5, safety_stock=0))
        session.add(m.InventoryRecord(location_id="loc_off", sku=SKU, on_hand=9, safety_stock=0))
    return db


@pytest.fixture
def batcher(hot: Database) -> Iterator[ReservationBatcher]:
    b = ReservationBatcher(hot, Outbox(ConsumerRegistry()))
    yield b
    b.close()


def ask(key: str, units: int = 1, *, sku: str = SKU, location: str = LOC, **kw: Any) -> Any:
    return ReserveRequest(
        owner="t",
        idempotency_key=key,
        request_hash=kw.pop("request_hash", f"h-{units}-{sku}"),
        items=kw.pop("items", {sku: units}),
        location_id=location,
        **kw,
    )


def oversold(db: Database, sku: str = SKU) -> int:
    """The no-oversell check: raises when the record and the lines disagree; returns by how
    many units `reserved` exceeds on_hand − safety_stock (0: none oversold)."""
    with db.reading() as session:
        record = _record(session, sku)
        lines = session.scalar(
            select(func.coalesce(func.sum(m.ReservationLine.quantity), 0)).where(
                m.ReservationLine.location_id == LOC, m.ReservationLine.sku == sku
            )
        )
    assert lines == record.reserved
    return max(record.reserved - (record.on_hand - record.safety_stock), 0)


def reserved(db: Database, sku: str = SKU) -> int:
    with db.reading() as session:
        return _record(session, sku).reserved


def _record(session: Any, sku: str) -> m.InventoryRecord:
    return session.scalars(
        select(m.InventoryRecord).where(
            m.InventoryRecord.location_id == LOC, m.InventoryRecord.sku == sku
        )
    ).one()


def created_events(db: Database) -> list[str]:
    with db.reading() as session:
        return list(
            session.scalars(
                select(m.Event.aggregate_id).where(m.Event.name == "reservation.created")
            )
        )


def test_threads_through_the_batcher_reserve_exactly_the_stock(
    hot: Database, batcher: ReservationBatcher
) -> None:
    ids: list[str] = []
    refused: list[int] = []
    lock = threading.Lock()
    start = threading.Barrier(24)

    def client(t: int) -> None:
        start.wait()
        n = 0
        while True:
            n += 1
            try:
                result = batcher.submit(ask(f"c{t}-{n}"))
            except InsufficientStock:
                with lock:
                    refused.append(t)
                return
            with lock:
                ids.append(result.reservation.id)

    threads = [threading.Thread(target=client, args=(t,)) for t in range(24)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(ids) == len(set(ids)) == 90  # on_hand 100 − safety 10, one unit each
    assert len(refused) == 24
    assert reserved(hot) == 90
    assert oversold(hot) == 0
    assert sorted(created_events(hot)) == sorted(ids)  # one event per reservation


def test_a_refused_request_changes_nothing_and_fails_no_other(
    hot: Database, batcher: ReservationBatcher
) -> None:
    outcomes = batcher.process(
        [
            ask("good-1", 2),
            ask("too-many", 89),
            ask("nowhere", location="loc_missing"),
            ask("inactive", location="loc_off"),
            ask("zero", 0),
            ask("two-skus", items={SKU: 1, OTHER: 6}),
            ask("good-2", 3, sku=OTHER),
        ]
    )
    first, too_many, nowhere, inactive, zero, two_skus, second = outcomes
    assert isinstance(first, svc.ReserveResult)
    assert not first.replayed
    assert [line.quantity for line in first.reservation.lines] == [2]
    assert isinstance(too_many, InsufficientStock)
    assert too_many.extra["shortfall"] == [{"sku": SKU, "requested": 89, "available": 88}]
    assert isinstance(nowhere, LocationNotFound)
    assert isinstance(inactive, InsufficientStock)
    assert isinstance(zero, QuantityInvalid)
    assert isinstance(two_skus, InsufficientStock)
    assert two_skus.extra["shortfall"] == [{"sku": OTHER, "requested": 6, "available": 5}]
    assert isinstance(second, svc.ReserveResult)
    assert (reserved(hot), reserved(hot, OTHER)) == (2, 3)
    with hot.reading() as session:
        keys = set(session.scalars(select(m.Reservation.idempotency_key)))
    assert keys == {"good-1", "good-2"}
    assert len(created_events(hot)) == 2


def test_repeats_replay_inside_a_batch_and_across_batches(
    hot: Database, batcher: ReservationBatcher
) -> None:
    first, again, other = batcher.process(
        [ask("k", 4), ask("k", 4), ask("k", 5, request_hash="different")]
    )
    assert isinstance(first, svc.ReserveResult)
    assert not first.replayed
    assert isinstance(again, svc.ReserveResult)
    assert again.replayed
    assert again.reservation.id == first.reservation.id
    assert isinstance(other, IdempotencyKeyReused)
    later = batcher.submit(ask("k", 4))
    assert later.replayed
    assert later.reservation.id == first.reservation.id
    assert [line.quantity for line in later.reservation.lines] == [4]
    assert reserved(hot) == 4
    assert created_events(hot) == [first.reservation.id]


def test_a_refused_first_request_leaves_its_key_to_the_next(hot: Database) -> None:
    """Two requests with one key in one batch: the first is refused, so the second runs
    as if alone (the batcher submits it again)."""
    batcher = ReservationBatcher(hot, Outbox(ConsumerRegistry()), threads=1)
    gate, calls = threading.Event(), []

    def hold_first_batch(_connection: Any) -> None:
        calls.append(1)
        if len(calls) == 1:
            gate.wait(30)

    event.listen(hot.engine, "begin", hold_first_batch)
    results: dict[str, Any] = {}

    def submit(name: str, request: ReserveRequest) -> None:
        try:
            results[name] = batcher.submit(request)
        except Exception as exc:
            results[name] = exc

    try:
        threads = [
            threading.Thread(target=submit, args=("warm", ask("warm"))),
            threading.Thread(target=submit, args=("a", ask("same", 500, request_hash="a"))),
            threading.Thread(target=submit, args=("b", ask("same", 1, request_hash="b"))),
        ]
        threads[0].start()
        while not calls:  # the first batch (warm) is held at its BEGIN
            time.sleep(0.01)
        for queued, thread in enumerate(threads[1:], start=1):
            thread.start()
            while batcher.queued() < queued:  # a, then b, wait for the next batch
                time.sleep(0.01)
        gate.set()
        for thread in threads:
            thread.join()
    finally:
        gate.set()
        event.remove(hot.engine, "begin", hold_first_batch)
        batcher.close()
    assert isinstance(results["a"], InsufficientStock)
    assert isinstance(results["b"], svc.ReserveResult)
    assert not results["b"].replayed
    assert reserved(hot) == 2  # warm + b
    # The same pair given to `process` directly: the second is handed back to resubmit.
    refused, again = batcher.process([ask("k2", 500, request_hash="a"), ask("k2", 1)])
    assert isinstance(refused, InsufficientStock)
    assert isinstance(again, Resubmit)


def test_a_failing_commit_acknowledges_nobody(hot: Database, batcher: ReservationBatcher) -> None:
    def refuse_commit(_connection: Any) -> None:
        raise RuntimeError("the disk is gone")

    event.listen(hot.engine, "commit", refuse_commit)
    errors: list[BaseException] = []
    results: list[Any] = []
    start = threading.Barrier(8)

    def client(t: int) -> None:
        start.wait()
        try:
            results.append(batcher.submit(ask(f"f{t}")))
        except ReservationBatchFailed as exc:
            errors.append(exc)

    try:
        threads = [threading.Thread(target=client, args=(t,)) for t in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        event.remove(hot.engine, "commit", refuse_commit)
    assert results == []
    assert len(errors) == 8
    assert all(isinstance(e.__cause__, RuntimeError) for e in errors)
    assert reserved(hot) == 0
    assert created_events(hot) == []
    # Nothing was stored: the same keys now reserve afresh.
    again = batcher.submit(ask("f0"))
    assert not again.replayed
    assert reserved(hot) == 1


def test_the_oversell_check_fails_when_the_guard_is_loosened(hot: Database) -> None:
    """Judging each request against the batch's first read, without the SQL condition,
    oversells; `oversold` sees it. With the guard, the same batch is exact."""
    batch = [ask(f"o{n}", 5, sku=OTHER) for n in range(3)]  # OTHER: 5 available
    loose = ReservationBatcher(hot, Outbox(ConsumerRegistry()), loosened_guard=True)
    outcomes = loose.process(batch)
    assert all(isinstance(o, svc.ReserveResult) for o in outcomes)
    assert oversold(hot, OTHER) == 10
    guarded = ReservationBatcher(hot, Outbox(ConsumerRegistry()))
    refused = guarded.process([ask("after", 1, sku=OTHER)])
    assert isinstance(refused[0], InsufficientStock)


def test_the_guard_holds_the_same_batch_to_the_stock(
    hot: Database, batcher: ReservationBatcher
) -> None:
    outcomes = batcher.process([ask(f"o{n}", 2, sku=OTHER) for n in range(4)])
    assert [type(o).__name__ for o in outcomes] == [
        "ReserveResult",
        "ReserveResult",
        "InsufficientStock",
        "InsufficientStock",
    ]
    assert oversold(hot, OTHER) == 0
    assert reserved(hot, OTHER) == 4


def test_a_stored_answer_commits_with_the_reservation_or_not_at_all(
    hot: Database, batcher: ReservationBatcher
) -> None:
    with hot.transaction() as session:
        session.add(
            m.IdempotencyRecord(
                api_key_id="key_1",
                key="taken",
                method="POST",
                path="/api/v1/orders",
                request_hash="x",
                status_code=201,
                response_body={},
            )
        )

    def answer(key: str) -> StoredAnswer:
        return StoredAnswer(
            "key_1", key, "POST", "/api/v1/reservations", "h", 201, lambda r: {"id": r.id}
        )

    taken, fresh = batcher.process(
        [ask("taken", answer=answer("taken")), ask("fresh", answer=answer("fresh"))]
    )
    assert isinstance(taken, AnswerTaken)
    assert isinstance(fresh, svc.ReserveResult)
    with hot.reading() as session:
        keys = set(session.scalars(select(m.Reservation.idempotency_key)))
        stored = session.scalars(
            select(m.IdempotencyRecord).where(m.IdempotencyRecord.key == "fresh")
        ).one()
    assert keys == {"fresh"}
    assert stored.response_body == {"id": fresh.reservation.id}
    assert reserved(hot) == 1


def test_a_closed_batcher_refuses(hot: Database) -> None:
    closing = ReservationBatcher(hot, Outbox(ConsumerRegistry()))
    assert closing.submit(ask("before")).reservation.id
    closing.close()
    with pytest.raises(BatcherClosed):
        closing.submit(ask("after"))
    assert reserved(hot) == 1


def test_a_repeat_replays_before_its_location_is_judged(
    hot: Database, batcher: ReservationBatcher
) -> None:
    first = batcher.submit(ask("where"))
    (again,) = batcher.process([ask("where", location="loc_missing")])
    assert isinstance(again, svc.ReserveResult)
    assert again.replayed
    assert again.reservation.id == first.reservation.id
    (naive,) = batcher.process([ask("naive", expires_at=datetime(2030, 1, 1))])
    assert isinstance(naive, svc.ReservationInvalid)
    assert reserved(hot) == 1
