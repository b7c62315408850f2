"""Group commit for reservations at one location: a hot SKU beyond one row's commit rate.

A record's row lock is held from its `UPDATE` until the `COMMIT` has been flushed, so
reservations of one SKU, one transaction each, are serial and bounded by the flush: about
1,000/s on the development disk even for a bare `UPDATE` + `COMMIT`. The batcher makes many
reservations share one transaction and one flush instead.

`ReservationBatcher.submit(request)` blocks its caller until the request's batch has
committed, then answers it with its own `ReserveResult` or raises its own error (a refused
request changes nothing). One thread owns the batches: it takes whatever requests are
waiting (up to `max_batch`), runs them in one transaction (batch_reserve.py), commits, and
answers each; the next batch forms while this one commits, so there is no timer. Two
threads by default: while one batch holds the records' locks (judge, update, commit), the
next writes its own rows (reservations, lines, events), which need no lock. A batch
whose transaction fails answers every one of its callers with `ReservationBatchFailed`
after a retry of deadlocks and serialization failures: nothing is acknowledged that was
not committed, and a caller retrying with its idempotency key gets the reservation exactly
once either way.

One batcher per process (the app factory makes one over its database); processes may run
their own side by side, as the records are locked in order.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass

from openoms.adapters.db.session import Database, retry_transient
from openoms.adapters.outbox import Outbox
from openoms.domain.errors import TemporarilyUnavailable
from openoms.services.inventory.batch_reserve import (
    Outcome,
    ReserveRequest,
    Resubmit,
    reserve_batch,
)
from openoms.services.inventory.reserving import ReserveResult

MAX_BATCH = 256
log = logging.getLogger(__name__)
THREADS = 2  # one batch under the record locks while the next writes its own rows


class ReservationBatchFailed(TemporarilyUnavailable):
    """The transaction of the caller's batch failed (see `__cause__`): nothing of that batch
    was stored; retrying with the same idempotency key is safe (the API answers 503)."""


class BatcherClosed(TemporarilyUnavailable):
    """The batcher was closed (the app is shutting down; the API answers 503)."""


@dataclass(frozen=True, slots=True)
class _Pending:
    request: ReserveRequest
    future: Future[ReserveResult]


class ReservationBatcher:
    """Reserves at single locations in batches sharing one transaction (module docstring).

    `loosened_guard` judges each request against the records as read at the start of its
    batch and updates them unconditionally: it only exists to show that the oversell checks
    fail then (never in production)."""

    def __init__(
        self,
        db: Database,
        outbox: Outbox,
        *,
        max_batch: int = MAX_BATCH,
        threads: int = THREADS,
        loosened_guard: bool = False,
    ) -> None:
        self._db = db
        self._outbox = outbox
        self._max_batch = max(1, max_batch)
        self._guarded = not loosened_guard
        self._queue: queue.SimpleQueue[_Pending | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._forming = threading.Lock()  # held by the thread whose batch is forming
        self._threads: list[threading.Thread] = []
        self._thread_count = max(1, threads)
        self._closed = False
        self.batches = 0  # committed or failed, for the bench's average batch size
        self.cpu_seconds = 0.0  # CPU of the batches' threads, for the bench

    def submit(self, request: ReserveRequest) -> ReserveResult:
        """Reserve through the next batch; blocks until it has committed. Raises the
        request's own error, `ReservationBatchFailed`, or `BatcherClosed`."""
        pending = _Pending(request, Future())
        with self._lock:
            if self._closed:
                raise BatcherClosed("the reservation batcher is closed")
            if not self._threads:  # started on first use: most apps never reserve
                self._threads = [
                    threading.Thread(target=self._run, name=f"reservation-batcher-{n}", daemon=True)
                    for n in range(self._thread_count)
                ]
                for thread in self._threads:
                    thread.start()
            self._queue.put(pending)
        return pending.future.result()

    def close(self, timeout: float = 30.0) -> None:
        """Answer what is queued, then stop the thread; later submissions raise."""
        with self._lock:
            self._closed = True
            threads = list(self._threads)
            for _ in threads:
                self._queue.put(None)  # one stop per thread, behind every request
        for thread in threads:
            thread.join(timeout)

    def queued(self) -> int:
        """How many requests wait for a batch (approximately)."""
        return self._queue.qsize()

    def process(
        self, requests: Sequence[ReserveRequest], *, locking: Callable[[], None] | None = None
    ) -> list[Outcome]:
        """Run `requests` as one batch in the calling thread: one transaction, the outcome
        of each in order; raises `ReservationBatchFailed` when the transaction fails.
        `locking` is called once the batch goes on to lock the records."""

        def once() -> list[Outcome]:
            with self._db.transaction() as session:
                return reserve_batch(
                    session, self._outbox, requests, guarded=self._guarded, locking=locking
                )

        with self._lock:
            self.batches += 1
        began = time.thread_time()
        try:
            return retry_transient(once)
        except Exception as exc:
            log.warning("a reservation batch of %d failed", len(requests), exc_info=True)
            raise ReservationBatchFailed(
                "the reservation could not be stored now (its batch's transaction failed) and "
                "nothing was reserved: send it again"
            ) from exc
        finally:
            spent = time.thread_time() - began
            with self._lock:
                self.cpu_seconds += spent

    def _run(self) -> None:
        """One batch thread. One batch forms at a time: a thread takes the queue only once
        the batch before has written its own rows and gone on to the locks, so a batch
        holds whatever arrived meanwhile instead of the first few stragglers."""
        stopping = False
        while not stopping:
            self._forming.acquire()
            batch: list[_Pending] = []
            first = self._queue.get()
            while first is not None and len(batch) < self._max_batch:
                batch.append(first)
                try:
                    first = self._queue.get_nowait()
                except queue.Empty:
                    break
            stopping = first is None
            if batch:
                self._answer(batch, _Once(self._forming.release))
            else:
                self._forming.release()

    def _answer(self, batch: list[_Pending], formed: _Once) -> None:
        try:
            outcomes = self.process([p.request for p in batch], locking=formed)
        except ReservationBatchFailed as failed:
            formed()
            for pending in batch:
                pending.future.set_exception(_copy(failed))
            return
        formed()  # a batch with nothing to lock never called it
        for pending, outcome in zip(batch, outcomes, strict=True):
            if isinstance(outcome, Resubmit):
                self._requeue(pending)
            elif isinstance(outcome, Exception):
                pending.future.set_exception(outcome)
            else:
                pending.future.set_result(outcome)

    def _requeue(self, pending: _Pending) -> None:
        with self._lock:
            if not self._closed:
                self._queue.put(pending)
                return
        pending.future.set_exception(BatcherClosed("the reservation batcher is closed"))


class _Once:
    """Calls `action` the first time it is called, then nothing (a retried batch locks
    again; the next batch was already let form)."""

    def __init__(self, action: Callable[[], None]) -> None:
        self._action: Callable[[], None] | None = action

    def __call__(self) -> None:
        action, self._action = self._action, None
        if action is not None:
            action()


def _copy(failed: ReservationBatchFailed) -> ReservationBatchFailed:
    # One exception object per caller: each thread re-raising it adds its own traceback.
    copy = ReservationBatchFailed(*failed.args)
    copy.__cause__ = failed.__cause__
    return copy
