"""The worker loop: drains the outbox and runs periodic jobs, in a thread or its own process.

Any number of workers may run over one PostgreSQL database: deliveries are claimed with
`FOR UPDATE SKIP LOCKED`, and periodic jobs must claim their own work the same way. The
schedule itself lives in process memory, which is fine because it only decides *when* a
job looks for work, never what is correct.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from openoms.adapters.db.models import utcnow
from openoms.adapters.db.session import Database
from openoms.adapters.jobs import JobRegistry, run_due_jobs
from openoms.adapters.outbox import ConsumerRegistry, Outbox
from openoms.worker.relay import process_batch

log = logging.getLogger(__name__)

PeriodicJob = Callable[[Database, datetime], None]

MAX_ERROR_PAUSE_SECONDS = 60.0


@dataclass(slots=True)
class _Periodic:
    name: str
    every: timedelta
    fn: PeriodicJob
    next_due: datetime | None = None  # None: due on the first pass


class Worker:
    """Drains the outbox batch by batch and runs periodic jobs when they fall due."""

    def __init__(
        self,
        db: Database,
        registry: ConsumerRegistry,
        *,
        poll_seconds: float = 0.5,
        batch_size: int = 100,
        max_batches_per_run: int = 50,
        clock: Callable[[], datetime] = utcnow,
        jobs: JobRegistry | None = None,
    ) -> None:
        self.db = db
        self.registry = registry
        self.jobs = jobs
        self._outbox = Outbox(registry)
        self.poll_seconds = poll_seconds
        self.batch_size = batch_size
        self.max_batches_per_run = max_batches_per_run
        self._clock = clock
        self._periodics: list[_Periodic] = []

    def add_periodic(self, name: str, every_seconds: float, fn: PeriodicJob) -> None:
        """Run `fn(db, now)` about every `every_seconds`; it opens its own transaction."""
        if any(p.name == name for p in self._periodics):
            raise ValueError(f"periodic job {name!r} is already scheduled")
        self._periodics.append(_Periodic(name, timedelta(seconds=every_seconds), fn))

    def run_once(self) -> int:
        """Run due periodic jobs, then drain deliveries until a batch comes back short
        (nothing more is due, or the rest is claimed by other workers) or the batch cap
        is reached. Returns the number of deliveries handled. Whether a delivery or job is
        due, and when a retry falls due, go by the worker's clock."""
        self._run_due_periodics()
        handled = 0
        for _ in range(self.max_batches_per_run):
            count = process_batch(
                self.db, self.registry, batch_size=self.batch_size, now=self._clock()
            )
            ran = 0
            if self.jobs is not None:  # read the clock again: the batch may have queued jobs
                ran = run_due_jobs(
                    self.db, self._outbox, self.jobs, now=self._clock(), batch=self.batch_size
                )
            handled += count + ran
            if count < self.batch_size and ran < self.batch_size:
                break
        return handled

    def run_forever(self, stop: threading.Event) -> None:
        """Loop until `stop` is set: drain, sleep `poll_seconds` only when a pass found
        nothing to do (a pass that did work goes again at once: routing jobs fall due as the
        deliveries before them are handled), and after a failing pass (e.g. a lost
        connection) log it and pause, longer each time."""
        failures = 0
        while not stop.is_set():
            try:
                handled = self.run_once()
            except Exception:
                failures += 1
                pause = min(self.poll_seconds * 2 ** min(failures, 16), MAX_ERROR_PAUSE_SECONDS)
                log.exception("worker pass failed (%d in a row); pausing %.1fs", failures, pause)
                stop.wait(pause)
                continue
            failures = 0
            if not handled:  # work done may have made more due (jobs after deliveries)
                stop.wait(self.poll_seconds)

    def start_in_thread(self) -> tuple[threading.Thread, threading.Event]:
        """Run the loop in a daemon thread (used by `openoms serve`); set the event to stop."""
        stop = threading.Event()
        thread = threading.Thread(
            target=self.run_forever, args=(stop,), name="openoms-worker", daemon=True
        )
        thread.start()
        return thread, stop

    def _run_due_periodics(self) -> None:
        for job in self._periodics:
            now = self._clock()
            if job.next_due is not None and now < job.next_due:
                continue
            job.next_due = now + job.every
            try:
                job.fn(self.db, now)
            except Exception:
                # One failing job must not stop deliveries or the other jobs.
                log.exception("periodic job %s failed", job.name)
