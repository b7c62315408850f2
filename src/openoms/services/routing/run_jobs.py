"""Starting routing runs: on request (API, console) and on a channel's schedule
(`routing_run_every`, docs/routing-runs.md#scheduling).

A worker's periodic tick queues, for every channel with a schedule, the job of the current
tick: its key is (channel, tick time), and a job key is unique, so however many workers see
the tick the run is queued once; the run's own row is unique on (channel, tick time) too, so
a job run again after a crash never runs a second run for its tick."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy.exc import IntegrityError

from openoms.adapters.db.repositories import routing_runs as repo
from openoms.adapters.db.session import Database
from openoms.adapters.jobs import JobContext, JobKind, Reschedule, enqueue
from openoms.adapters.outbox import Outbox
from openoms.services.routing.run_apply import apply_run
from openoms.services.routing.runs import RunRequest, RunScope, plan_run

RUN_JOB = "routing_run"


def run_routing(db: Database, outbox: Outbox, request: RunRequest, now: datetime) -> str:
    """Plan the run and, unless it is a dry run, apply it. Returns the run's id."""
    planned = plan_run(db, request, now)
    if not request.dry_run:
        apply_run(db, outbox, planned, now)
    return planned.run_id


def tick_of(now: datetime, every: int) -> datetime:
    """The start of the schedule's tick that `now` falls in (ticks count from the epoch)."""
    seconds = int(now.timestamp())
    return datetime.fromtimestamp(seconds - seconds % every, tz=UTC)


def schedule_runs(db: Database, now: datetime) -> int:
    """Queue the current tick's run of every scheduled channel; returns how many were new."""
    queued = 0
    with db.transaction() as session:
        for channel, every in repo.scheduled_channels(session):
            tick = tick_of(now, every)
            payload = {"channel": channel, "tick_at": tick.isoformat()}
            queued += enqueue(session, RUN_JOB, f"{RUN_JOB}:{channel}:{tick.isoformat()}", payload)
    return queued


def run_scheduled(context: JobContext, payload: dict[str, Any]) -> Reschedule | None:
    """A scheduled tick's run: scope `unreleased`, applied."""
    tick = datetime.fromisoformat(str(payload["tick_at"]))
    channel = str(payload["channel"])
    with context.db.reading() as session:
        if repo.run_at_tick(session, channel, tick):
            return None  # this tick's run was made before a crash or a retry
    request = RunRequest(
        channel=channel,
        scope=RunScope.UNRELEASED,
        dry_run=False,
        trigger="schedule",
        requested_by="schedule",
        tick_at=tick,
    )
    try:
        run_routing(context.db, context.outbox, request, context.now)
    except IntegrityError:
        return None  # another worker's run of this tick was recorded first
    return None


def run_job_kinds() -> dict[str, JobKind]:
    return {RUN_JOB: JobKind(run_scheduled, transactional=False, max_attempts=3)}
