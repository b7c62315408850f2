"""Several worker processes under one supervisor (`openoms worker --processes N`).

The supervisor holds no state a worker needs: every worker claims its deliveries and jobs
from the database (`FOR UPDATE SKIP LOCKED`), so any number may run and any one may die.
It starts `count` children, and:

- restarts a child that ends while it runs (a crash, an out-of-memory kill, a `kill -9`):
  whatever the child had claimed but not committed was rolled back with its connection and
  is claimed again by the next worker to look, so nothing is lost or done twice;
- gives up when children keep dying (more than `max_restarts` restarts within
  `window_seconds`, e.g. a setting that makes every start fail): it stops the others and
  `run` returns 1, so a service manager sees the failure instead of a restart loop;
- on `stop` (the CLI sets it on SIGINT or SIGTERM) sends every child SIGTERM, waits up to
  `stop_seconds` for each to finish its pass, then kills what is left; `run` returns 0.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Protocol

log = logging.getLogger(__name__)

MAX_RESTARTS = 5
RESTART_WINDOW_SECONDS = 60.0
STOP_SECONDS = 30.0
POLL_SECONDS = 0.5


class Child(Protocol):
    """What the supervisor needs of a child process (`multiprocessing.Process` has it)."""

    @property
    def pid(self) -> int | None: ...

    @property
    def exitcode(self) -> int | None: ...

    def start(self) -> None: ...

    def is_alive(self) -> bool: ...

    def terminate(self) -> None: ...

    def kill(self) -> None: ...

    def join(self, timeout: float | None = None) -> None: ...


class Supervisor:
    """Keeps `count` children made by `make(slot)` running until stopped (see the module)."""

    def __init__(
        self,
        make: Callable[[int], Child],
        count: int,
        *,
        max_restarts: int = MAX_RESTARTS,
        window_seconds: float = RESTART_WINDOW_SECONDS,
        stop_seconds: float = STOP_SECONDS,
        poll_seconds: float = POLL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if count < 1:
            raise ValueError("a supervisor runs at least one child")
        self._make = make
        self.count = count
        self.max_restarts = max_restarts
        self.window_seconds = window_seconds
        self.stop_seconds = stop_seconds
        self.poll_seconds = poll_seconds
        self._clock = clock
        self.children: list[Child] = []
        self.restarts: deque[float] = deque()  # when each recent restart happened

    def start(self) -> None:
        self.children = [self._spawn(slot) for slot in range(self.count)]

    def _spawn(self, slot: int) -> Child:
        child = self._make(slot)
        child.start()
        log.info("worker process %d started (pid %s)", slot, child.pid)
        return child

    def check(self) -> bool:
        """Restart the children that ended. False (nothing restarted) once more than
        `max_restarts` restarts fall within `window_seconds`: the caller should stop."""
        for slot, child in enumerate(self.children):
            if child.is_alive():
                continue
            child.join()
            now = self._clock()
            while self.restarts and now - self.restarts[0] > self.window_seconds:
                self.restarts.popleft()
            if len(self.restarts) >= self.max_restarts:
                log.error(
                    "worker process %d (pid %s) ended with %s: %d restarts within %.0f s, "
                    "giving up",
                    slot,
                    child.pid,
                    child.exitcode,
                    len(self.restarts),
                    self.window_seconds,
                )
                return False
            log.warning(
                "worker process %d (pid %s) ended with %s; restarting it",
                slot,
                child.pid,
                child.exitcode,
            )
            self.restarts.append(now)
            self.children[slot] = self._spawn(slot)
        return True

    def stop(self) -> None:
        """SIGTERM every child, wait for each (`stop_seconds` in all), kill the rest."""
        for child in self.children:
            if child.is_alive():
                child.terminate()
        deadline = self._clock() + self.stop_seconds
        for child in self.children:
            child.join(max(deadline - self._clock(), 0.0))
            if child.is_alive():
                log.warning("worker process pid %s did not stop in time; killing it", child.pid)
                child.kill()
                child.join()

    def run(self, stop: threading.Event) -> int:
        """Start the children and watch them until `stop` is set (0) or they keep dying (1)."""
        self.start()
        try:
            while not stop.wait(self.poll_seconds):
                if not self.check():
                    return 1
            return 0
        finally:
            self.stop()
