"""Deferred jobs (src/openoms/adapters/jobs.py) on SQLite and PostgreSQL: queued once per key,
settled with the handler's effects, rescheduled, backed off, dead-lettered, leased."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from openoms.adapters.db import models as m
from openoms.adapters.db.session import Database
from openoms.adapters.jobs import (
    LEASE,
    JobContext,
    JobKind,
    JobRegistry,
    Reschedule,
    enqueue,
    requeue,
    run_due_jobs,
)
from openoms.adapters.outbox import ConsumerRegistry, Outbox
from openoms.domain.events import DomainEvent

NOW = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
OUTBOX = Outbox(ConsumerRegistry())


class Crash(BaseException):
    """A worker dying mid-job: not an Exception, so nothing settles the job."""


def effect(session: Session, name: str = "test.effect") -> None:
    OUTBOX.record(session, [DomainEvent(name, "test", "1")])


def effects(db: Database, name: str = "test.effect") -> int:
    with db.reading() as session:
        return session.scalar(select(func.count()).where(m.Event.name == name)) or 0


def job(db: Database, key: str = "k") -> m.Job:
    with db.reading() as session:
        found = session.scalars(select(m.Job).where(m.Job.dedupe_key == key)).one()
        session.expunge(found)
        return found


def queue(db: Database, kind: str = "work", key: str = "k", **payload: Any) -> bool:
    with db.transaction() as session:
        return enqueue(session, kind, key, payload, available_at=NOW)


def registry(kind: str, job_kind: JobKind) -> JobRegistry:
    jobs = JobRegistry()
    jobs.register(kind, job_kind)
    return jobs


def run(db: Database, jobs: JobRegistry, at: datetime = NOW) -> int:
    return run_due_jobs(db, OUTBOX, jobs, now=at)


def test_enqueue_keeps_the_first_job_of_a_key(db: Database) -> None:
    assert queue(db, n=1) is True
    assert queue(db, n=2) is False

    with db.reading() as session:
        rows = session.scalars(select(m.Job)).all()
    assert [(j.kind, j.dedupe_key, j.payload, j.status, j.attempts) for j in rows] == [
        ("work", "k", {"n": 1}, "pending", 0)
    ]


def test_enqueue_rolls_back_with_its_transaction(db: Database) -> None:
    def fail() -> None:
        with db.transaction() as session:
            enqueue(session, "work", "k", {})
            raise RuntimeError("the business change failed")

    with pytest.raises(RuntimeError):
        fail()

    with db.reading() as session:
        assert session.scalar(select(func.count()).select_from(m.Job)) == 0


def test_a_transactional_job_commits_its_effects_with_done(db: Database) -> None:
    seen: list[tuple[dict[str, Any], int, datetime]] = []

    def handler(ctx: JobContext, session: Session, payload: dict[str, Any]) -> None:
        seen.append((payload, ctx.attempt, ctx.now))
        effect(session)

    queue(db, n=7)
    jobs = registry("work", JobKind(handler))

    assert run(db, jobs) == 1
    assert run(db, jobs, NOW + timedelta(days=1)) == 0  # done: never again

    assert seen == [({"n": 7}, 1, NOW)]
    assert effects(db) == 1
    done = job(db)
    assert (done.status, done.attempts, done.last_error) == ("done", 1, None)


def test_reschedule_keeps_the_effects_and_runs_again_after_the_delay(db: Database) -> None:
    def handler(ctx: JobContext, session: Session, payload: dict[str, Any]) -> Reschedule:
        effect(session)
        return Reschedule("no stock yet", delay=timedelta(seconds=30))

    queue(db)
    jobs = registry("work", JobKind(handler))

    assert run(db, jobs) == 1
    waiting = job(db)
    assert (waiting.status, waiting.attempts, waiting.last_error) == ("pending", 1, "no stock yet")
    assert waiting.available_at == NOW + timedelta(seconds=30)
    assert effects(db) == 1

    assert run(db, jobs, NOW + timedelta(seconds=29)) == 0
    assert run(db, jobs, NOW + timedelta(seconds=30)) == 1
    assert job(db).attempts == 2
    assert effects(db) == 2


def test_a_failing_job_rolls_its_effects_back_and_backs_off(db: Database) -> None:
    def handler(ctx: JobContext, session: Session, payload: dict[str, Any]) -> None:
        effect(session)
        raise RuntimeError("boom")

    queue(db)
    jobs = registry("work", JobKind(handler))

    assert run(db, jobs) == 1

    failed = job(db)
    assert (failed.status, failed.attempts, failed.last_error) == (
        "pending",
        1,
        "RuntimeError: boom",
    )
    # backoff(1) = 2 s ± 20 % jitter
    assert timedelta(seconds=1.6) <= failed.available_at - NOW <= timedelta(seconds=2.4)
    assert effects(db) == 0


def test_a_job_dies_after_max_attempts_and_calls_on_dead(db: Database) -> None:
    dead_calls: list[tuple[int, dict[str, Any], str]] = []

    def handler(ctx: JobContext, session: Session, payload: dict[str, Any]) -> Reschedule:
        return Reschedule(f"attempt {ctx.attempt} failed", delay=timedelta(seconds=5))

    def on_dead(ctx: JobContext, session: Session, payload: dict[str, Any], reason: str) -> None:
        dead_calls.append((ctx.attempt, payload, reason))
        effect(session, "test.dead")

    queue(db, n=1)
    jobs = registry("work", JobKind(handler, max_attempts=2, on_dead=on_dead))

    assert run(db, jobs) == 1
    assert job(db).status == "pending"
    assert dead_calls == []
    assert run(db, jobs, NOW + timedelta(seconds=5)) == 1
    assert run(db, jobs, NOW + timedelta(days=1)) == 0

    dead = job(db)
    assert (dead.status, dead.attempts, dead.last_error) == ("dead", 2, "attempt 2 failed")
    assert dead_calls == [(2, {"n": 1}, "attempt 2 failed")]
    assert effects(db, "test.dead") == 1


def test_a_failing_job_dies_and_on_dead_runs_in_its_own_transaction(db: Database) -> None:
    def handler(ctx: JobContext, session: Session, payload: dict[str, Any]) -> None:
        effect(session)
        raise ValueError("bad payload")

    def on_dead(ctx: JobContext, session: Session, payload: dict[str, Any], reason: str) -> None:
        effect(session, "test.dead")

    queue(db)
    jobs = registry("work", JobKind(handler, max_attempts=1, on_dead=on_dead))

    assert run(db, jobs) == 1

    dead = job(db)
    assert (dead.status, dead.attempts, dead.last_error) == ("dead", 1, "ValueError: bad payload")
    assert (effects(db), effects(db, "test.dead")) == (0, 1)


def test_an_unknown_kind_is_dead_at_once(db: Database) -> None:
    queue(db, kind="nobody")

    assert run(db, JobRegistry()) == 1

    dead = job(db)
    assert (dead.status, dead.attempts, dead.last_error) == (
        "dead",
        1,
        "no handler for job kind 'nobody'",
    )


def test_requeue_runs_a_done_job_again(db: Database) -> None:
    calls: list[int] = []

    def handler(ctx: JobContext, session: Session, payload: dict[str, Any]) -> None:
        calls.append(ctx.attempt)

    queue(db)
    jobs = registry("work", JobKind(handler))
    run(db, jobs)
    with db.transaction() as session:
        requeue(session, "k", available_at=NOW + timedelta(minutes=1))

    assert run(db, jobs, NOW + timedelta(seconds=59)) == 0
    assert run(db, jobs, NOW + timedelta(minutes=1)) == 1
    assert calls == [1, 2]
    assert job(db).status == "done"


def test_a_claimed_job_is_leased_until_the_lease_runs_out(db: Database) -> None:
    """A calling handler runs with no transaction held: while it runs (or after its worker
    died) nobody else claims the job, until the lease runs out."""
    inner_runs: list[int] = []
    attempts: list[int] = []

    def handler(ctx: JobContext, payload: dict[str, Any]) -> None:
        attempts.append(ctx.attempt)
        if ctx.attempt == 1:
            # Another worker polling while this one works: nothing for it.
            inner_runs.append(run_due_jobs(ctx.db, ctx.outbox, jobs, now=ctx.now))
            raise Crash  # the worker dies: the job is never settled
        with ctx.db.transaction() as session:
            effect(session)

    queue(db, kind="call")
    jobs = registry("call", JobKind(handler, transactional=False))

    with pytest.raises(Crash):
        run(db, jobs)
    leased = job(db)
    assert (leased.status, leased.attempts, leased.available_at) == ("pending", 1, NOW + LEASE)
    assert inner_runs == [0]

    assert run(db, jobs, NOW + LEASE - timedelta(seconds=1)) == 0
    assert run(db, jobs, NOW + LEASE) == 1

    assert attempts == [1, 2]
    assert effects(db) == 1
    finished = job(db)
    assert (finished.status, finished.attempts) == ("done", 2)
