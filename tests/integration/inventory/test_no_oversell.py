"""The promise: inventory never oversells under concurrency (DESIGN.md §5).

Many clients hammer one hot SKU (on_hand 1,000, safety_stock 10) with reservations of 1–3
units, each in its own transaction through the service, until each is refused. Then:
Σ units of the successful reservations == the record's `reserved` ≤ on_hand − safety_stock,
the stock really ran out (less than 3 left), and a sampler reading the record throughout
never saw reserved > on_hand − safety_stock. On PostgreSQL with 64 threads and, separately,
4 processes with their own engines; on SQLite (one writer) with fewer threads. A mix of
two SKUs at two locations, reserved, transferred and released in opposite orders, shows
no deadlock.
"""

from __future__ import annotations

import multiprocessing
import random
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from sqlalchemy import func, select

from openoms.adapters.db import models as m
from openoms.adapters.db.session import Database
from openoms.adapters.outbox import ConsumerRegistry, Outbox
from openoms.domain.inventory import InsufficientStock
from openoms.services import inventory as svc
from tests.conftest import empty_postgres

ON_HAND, SAFETY = 1_000, 10
HOT_LOCATION, HOT_SKU = "loc_hot", "HOT"
L1, L2 = "loc_one", "loc_two"
GROUP = "lg_both"


@dataclass
class Tally:
    units: int = 0
    reservations: int = 0
    errors: list[str] = field(default_factory=list)


def _hot_record(db: Database) -> None:
    with db.transaction() as session:
        session.add(m.Location(id=HOT_LOCATION, ref="HOT-WH", name="Hot", type="warehouse"))
        session.flush()
        session.add(
            m.InventoryRecord(
                location_id=HOT_LOCATION, sku=HOT_SKU, on_hand=ON_HAND, safety_stock=SAFETY
            )
        )


def _hammer(db: Database, name: str, seed: int, start: Any) -> Tally:
    """Reserve 1–3 units of the hot SKU, one transaction each, until refused."""
    outbox, rng, tally, n = Outbox(ConsumerRegistry()), random.Random(seed), Tally(), 0
    start.wait()
    while True:
        n += 1
        units = rng.randint(1, 3)
        try:
            with db.transaction() as session:
                svc.reserve(
                    session,
                    outbox,
                    owner="hammer",
                    idempotency_key=f"{name}-{n}",
                    request_hash="h",
                    items={HOT_SKU: units},
                    location_id=HOT_LOCATION,
                )
        except InsufficientStock:
            return tally
        except Exception as exc:  # anything else is a failure of the test
            tally.errors.append(f"{type(exc).__name__}: {exc}")
            return tally
        tally.units += units
        tally.reservations += 1


class Sampler:
    """Reads the hot record over and over while the clients run."""

    def __init__(self, db: Database) -> None:
        self.db, self.samples = db, 0
        self.violations: list[tuple[int, int, int]] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run)

    def _run(self) -> None:
        while not self.stop.is_set():
            with self.db.reading() as session:
                on_hand, reserved, safety = session.execute(
                    select(
                        m.InventoryRecord.on_hand,
                        m.InventoryRecord.reserved,
                        m.InventoryRecord.safety_stock,
                    ).where(m.InventoryRecord.location_id == HOT_LOCATION)
                ).one()
            self.samples += 1
            if reserved > on_hand - safety:
                self.violations.append((on_hand, reserved, safety))
            time.sleep(0.002)

    def __enter__(self) -> Sampler:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop.set()
        self.thread.join(timeout=30)


def _assert_no_oversell(db: Database, tallies: list[Tally], sampler: Sampler) -> None:
    assert [e for t in tallies for e in t.errors] == []
    with db.reading() as session:
        record = session.scalars(select(m.InventoryRecord)).one()
        held = session.scalar(select(func.sum(m.ReservationLine.quantity)))
        reservations = session.scalar(select(func.count()).select_from(m.Reservation))
    units = sum(t.units for t in tallies)
    assert (record.on_hand, record.safety_stock) == (ON_HAND, SAFETY)
    assert record.reserved == units == held
    assert reservations == sum(t.reservations for t in tallies)
    assert record.reserved <= ON_HAND - SAFETY  # zero oversell
    assert ON_HAND - SAFETY - record.reserved < 3  # and the stock really ran out
    assert sampler.samples > 0
    assert sampler.violations == []


def _threads(db: Database, clients: int) -> list[Tally]:
    start = threading.Barrier(clients, timeout=60)
    tallies: list[Tally] = [Tally() for _ in range(clients)]

    def client(i: int) -> None:
        tallies[i] = _hammer(db, f"t{i}", seed=i, start=start)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads)
    return tallies


@pytest.fixture
def pg() -> Iterator[Callable[..., Database]]:
    """A Database over the test PostgreSQL database, emptied, with a chosen pool size."""
    opened: list[Database] = []

    def open_(request: pytest.FixtureRequest, pool_size: int) -> Database:
        database = Database(
            request.getfixturevalue("postgres_url"), pool_size=pool_size, max_overflow=0
        )
        empty_postgres(database)
        opened.append(database)
        return database

    yield open_
    for database in opened:
        database.dispose()


@pytest.mark.postgres
def test_64_threads_on_postgres_never_oversell(
    request: pytest.FixtureRequest, pg: Callable[..., Database]
) -> None:
    db = pg(request, pool_size=65)  # one connection per client and one for the sampler
    _hot_record(db)
    with Sampler(db) as sampler:
        tallies = _threads(db, 64)
    _assert_no_oversell(db, tallies, sampler)


@pytest.mark.sqlite
def test_threads_on_sqlite_never_oversell(tmp_path: Any, sqlite_template: Any) -> None:
    path = tmp_path / "hot.db"
    shutil.copy(sqlite_template, path)
    db = Database(f"sqlite:///{path}")
    _hot_record(db)
    with Sampler(db) as sampler:
        tallies = _threads(db, 8)
    _assert_no_oversell(db, tallies, sampler)
    db.dispose()


def _process_main(url: str, index: int, clients: int, start: Any, results: Any) -> None:
    db = Database(url, pool_size=clients, max_overflow=0)
    tallies: list[Tally] = [Tally() for _ in range(clients)]

    def client(i: int) -> None:
        tallies[i] = _hammer(db, f"p{index}-{i}", seed=100 * index + i, start=start)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    db.dispose()
    results.put([(t.units, t.reservations, t.errors) for t in tallies])


@pytest.mark.postgres
def test_4_processes_on_postgres_never_oversell(
    request: pytest.FixtureRequest, pg: Callable[..., Database]
) -> None:
    processes, clients = 4, 8
    db = pg(request, pool_size=2)
    _hot_record(db)
    context = multiprocessing.get_context("spawn")
    start = context.Barrier(processes * clients, timeout=120)
    results = context.Queue()
    children = [
        context.Process(target=_process_main, args=(db.url, i, clients, start, results))
        for i in range(processes)
    ]
    with Sampler(db) as sampler:
        for child in children:
            child.start()
        reported = [results.get(timeout=120) for _ in children]
        for child in children:
            child.join(timeout=60)
    assert [child.exitcode for child in children] == [0] * processes
    tallies = [Tally(u, r, e) for batch in reported for u, r, e in batch]
    assert len(tallies) == processes * clients
    _assert_no_oversell(db, tallies, sampler)


# --- two SKUs, two locations, opposite orders: no deadlock ---------------------------------


def _mix_network(db: Database) -> None:
    with db.transaction() as session:
        for location_id in (L1, L2):
            session.add(m.Location(id=location_id, ref=location_id, name="x", type="warehouse"))
        session.add(m.LocationGroup(id=GROUP, ref="both", name="Both"))
        session.flush()
        for location_id in (L1, L2):
            session.add(m.LocationGroupMember(group_id=GROUP, location_id=location_id))
            for sku in ("A", "B"):
                session.add(m.InventoryRecord(location_id=location_id, sku=sku, on_hand=150))


def _mix_client(db: Database, i: int, rounds: int, start: threading.Barrier) -> list[str]:
    """Reserve both SKUs (alternating the order they are named in and the scope), move the
    holds to one location or the other, then release or keep them."""
    outbox, rng, errors = Outbox(ConsumerRegistry()), random.Random(i), []
    start.wait()
    for n in range(rounds):
        a, b = rng.randint(1, 4), rng.randint(1, 4)
        items = {"A": a, "B": b} if (i + n) % 2 else {"B": b, "A": a}
        there, other = (L1, L2) if i % 2 else (L2, L1)
        scope = {"location_group_id": GROUP} if n % 3 else {"location_id": there}
        try:
            with db.transaction() as session:
                result = svc.reserve(
                    session,
                    outbox,
                    owner="mix",
                    idempotency_key=f"{i}-{n}",
                    request_hash="h",
                    items=items,
                    **scope,  # type: ignore[arg-type]
                )
                reservation_id = result.reservation.id
            with db.transaction() as session:
                svc.transfer(session, outbox, reservation_id, to_location_id=other)
            if n % 2:
                with db.transaction() as session:
                    svc.release(session, outbox, reservation_id)
        except InsufficientStock:
            continue
        except Exception as exc:
            errors.append(f"{type(exc).__name__}: {exc}")
    return errors


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_two_skus_in_opposite_orders_never_deadlock(
    backend: str,
    request: pytest.FixtureRequest,
    pg: Callable[..., Database],
    tmp_path: Any,
) -> None:
    if backend == "postgres":
        db, clients, rounds = pg(request, pool_size=16), 16, 12
    else:
        shutil.copy(request.getfixturevalue("sqlite_template"), tmp_path / "mix.db")
        db, clients, rounds = Database(f"sqlite:///{tmp_path / 'mix.db'}"), 4, 10
    _mix_network(db)
    start = threading.Barrier(clients, timeout=60)
    errors: list[str] = []
    threads = [
        threading.Thread(target=lambda i=i: errors.extend(_mix_client(db, i, rounds, start)))
        for i in range(clients)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert errors == []  # a deadlock would be an OperationalError here
    with db.reading() as session:
        records = {(r.location_id, r.sku): r for r in session.scalars(select(m.InventoryRecord))}
        held = {
            (location_id, sku): int(units)
            for location_id, sku, units in session.execute(
                select(
                    m.ReservationLine.location_id,
                    m.ReservationLine.sku,
                    func.sum(m.ReservationLine.quantity),
                ).group_by(m.ReservationLine.location_id, m.ReservationLine.sku)
            )
        }
    for key, record in records.items():
        assert record.reserved == held.get(key, 0)
        assert 0 <= record.reserved <= record.on_hand - record.safety_stock
    db.dispose()
