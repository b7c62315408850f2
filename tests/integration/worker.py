"""The worker as the integration tests run it: on a clock of the test's own, drained until
it is idle, never waited for.

A retry backs off from the worker's clock (2 s, 4 s, … plus jitter). On the wall clock a
slow pass of a loaded machine outlasts the first backoff, and a test counting attempts then
sees one too many. The test clock stands still instead: a backoff runs out only when the
test moves the clock on.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from openoms.adapters.carriers import Carriers
from openoms.adapters.db.models import utcnow
from openoms.adapters.db.session import Database
from openoms.adapters.jobs import MAX_BACKOFF, JobRegistry
from openoms.adapters.outbox import ConsumerRegistry
from openoms.adapters.payments import Gateways
from openoms.worker.consumers import default_jobs, default_registry
from openoms.worker.runner import Worker

# Further ahead of the wall clock than any test runs (pytest-timeout stops one long before),
# so whatever the app queues at wall-clock time is due on the test clock at once.
AHEAD = timedelta(hours=1)
# Past any backoff: at most MAX_BACKOFF, stretched by up to 20 % of jitter.
PAST_EVERY_BACKOFF = 2 * MAX_BACKOFF
PASSES = 50
# Ahead enough for the work one drain queues to be due, well short of an hour's hold.
ONE_DRAIN = timedelta(minutes=10)


class WorkerClock:
    """A clock that stands still, ahead of the wall clock, until `advance` moves it."""

    def __init__(self, ahead: timedelta = AHEAD) -> None:
        self.now = utcnow() + ahead

    def __call__(self) -> datetime:
        return self.now

    def advance(self, by: timedelta = PAST_EVERY_BACKOFF) -> datetime:
        """Move on (by default past every backoff); returns the new time."""
        self.now += by
        return self.now


def make_worker(
    db: Database,
    registry: ConsumerRegistry | None = None,
    jobs: JobRegistry | None = None,
    *,
    clock: WorkerClock | None = None,
) -> Worker:
    """A worker over `db` (every built-in consumer and job kind unless given) on `clock`
    (a new WorkerClock unless given)."""
    return Worker(
        db,
        registry or default_registry(),
        jobs=jobs if jobs is not None else default_jobs(db),
        clock=clock or WorkerClock(),
    )


def drain(worker: Worker) -> int:
    """Run `worker` until a pass finds nothing due; returns how much it handled. A worker
    still busy after PASSES passes is a bug (work that keeps queueing more work)."""
    total = 0
    for _ in range(PASSES):
        handled = worker.run_once()
        if handled == 0:
            return total
        total += handled
    raise AssertionError(f"the worker was still busy after {PASSES} passes")


def drain_db(
    db: Database, *, gateways: Gateways | None = None, carriers: Carriers | None = None
) -> int:
    """Run every built-in consumer and job over `db` until nothing is due, on a clock that
    stands ONE_DRAIN ahead: what the drain itself queues is due at once, a job held off for
    an hour stays held, and no retry falls due while it runs."""
    jobs = default_jobs(db, carriers, gateways)
    return drain(make_worker(db, jobs=jobs, clock=WorkerClock(ahead=ONE_DRAIN)))
