"""Several processes: the worker supervisor's restart and stop policy (with fake children and
a fake clock), and the shared Prometheus directory's set-up and stale-file cleaning."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from uvicorn.config import Config

from openoms.adapters.metrics import MULTIPROC_ENV
from openoms.cli.processes import (
    WORKER_STARTUP_SECONDS,
    metrics_dir,
    pid_alive,
    processes_config,
    remove_stale_metric_files,
)
from openoms.worker.supervisor import Supervisor


class FakeChild:
    """A child process that lives until it is told to die (or `dies` by itself)."""

    pids = iter(range(1000, 100000))

    def __init__(self, slot: int, *, obeys_terminate: bool = True) -> None:
        self.slot = slot
        self.pid: int | None = None
        self.exitcode: int | None = None
        self.started = False
        self.terminated = self.killed = False
        self.obeys_terminate = obeys_terminate
        self.joins: list[float | None] = []

    def start(self) -> None:
        self.started = True
        self.pid = next(self.pids)

    def is_alive(self) -> bool:
        return self.started and self.exitcode is None

    def die(self, code: int = -9) -> None:
        self.exitcode = code

    def terminate(self) -> None:
        self.terminated = True
        if self.obeys_terminate:
            self.exitcode = 0

    def kill(self) -> None:
        self.killed = True
        self.exitcode = -9

    def join(self, timeout: float | None = None) -> None:
        self.joins.append(timeout)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def supervisor(count: int = 2, **kwargs: object) -> tuple[Supervisor, list[FakeChild], Clock]:
    made: list[FakeChild] = []
    clock = Clock()

    def make(slot: int) -> FakeChild:
        child = FakeChild(slot)
        made.append(child)
        return child

    return Supervisor(make, count, clock=clock, **kwargs), made, clock  # type: ignore[arg-type]


def test_a_supervisor_starts_its_children_and_leaves_live_ones_alone() -> None:
    sup, made, _ = supervisor(3)
    sup.start()
    assert [c.slot for c in made] == [0, 1, 2]
    assert all(c.started for c in made)
    assert sup.check() is True
    assert len(made) == 3
    assert sup.restarts == type(sup.restarts)()


def test_a_child_that_dies_is_reaped_and_replaced_in_its_slot() -> None:
    sup, made, clock = supervisor(2)
    sup.start()
    first = made[1]
    first.die()
    clock.now = 10.0
    assert sup.check() is True
    assert first.joins == [None]  # reaped
    assert len(made) == 3
    assert made[2].slot == 1
    assert made[2].started
    assert sup.children == [made[0], made[2]]
    assert list(sup.restarts) == [10.0]


def test_children_that_keep_dying_make_the_supervisor_give_up() -> None:
    sup, made, clock = supervisor(1, max_restarts=3, window_seconds=60.0)
    sup.start()
    for n in range(3):
        sup.children[0].die()  # type: ignore[attr-defined]
        clock.now = float(n)
        assert sup.check() is True
    sup.children[0].die()  # type: ignore[attr-defined]
    clock.now = 3.0
    assert sup.check() is False
    assert len(made) == 4  # the fourth death was not answered with a fifth child


def test_restarts_older_than_the_window_are_forgotten() -> None:
    sup, made, clock = supervisor(1, max_restarts=2, window_seconds=60.0)
    sup.start()
    for when in (0.0, 30.0, 91.0, 121.0):  # never more than 2 within 60 s
        sup.children[0].die()  # type: ignore[attr-defined]
        clock.now = when
        assert sup.check() is True, when
    assert len(made) == 5
    assert list(sup.restarts) == [91.0, 121.0]


def test_stop_terminates_every_child_and_kills_one_that_does_not_end() -> None:
    made: list[FakeChild] = []

    def make(slot: int) -> FakeChild:
        made.append(FakeChild(slot, obeys_terminate=slot == 0))
        return made[-1]

    sup = Supervisor(make, 2, stop_seconds=5.0, clock=Clock())  # type: ignore[arg-type]
    sup.start()
    sup.stop()
    assert [c.terminated for c in made] == [True, True]
    assert [c.killed for c in made] == [False, True]
    assert made[0].joins == [5.0]
    assert not any(c.is_alive() for c in made)


def test_run_stops_the_children_when_stop_is_set() -> None:
    sup, made, _ = supervisor(2, poll_seconds=0.01)
    stop = threading.Event()
    stop.set()
    assert sup.run(stop) == 0
    assert all(c.terminated and not c.is_alive() for c in made)


def test_run_gives_up_with_1_when_children_keep_dying() -> None:
    made: list[FakeChild] = []

    def make(slot: int) -> FakeChild:
        child = FakeChild(slot)
        made.append(child)
        if len(made) > 1:  # every child after the first dies at once
            child.exitcode = 1
        return child

    sup = Supervisor(make, 2, max_restarts=2, poll_seconds=0.001)  # type: ignore[arg-type]
    assert sup.run(threading.Event()) == 1
    assert len(made) == 4  # two started, two restarts, then no more
    assert made[0].terminated
    assert not made[0].is_alive()


def test_a_supervisor_needs_a_child() -> None:
    with pytest.raises(ValueError, match="at least one"):
        Supervisor(FakeChild, 0)  # type: ignore[arg-type]


# --- the shared Prometheus directory --------------------------------------------------------


def test_stale_metric_files_are_those_of_ended_processes() -> None:
    ended = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    assert pid_alive(os.getpid())
    assert not pid_alive(int(ended.stdout))


def test_only_ended_processes_files_are_removed(tmp_path: Path) -> None:
    for name in ("counter_11.db", "histogram_11.db", "counter_12.db", "notes.txt", "x.db"):
        (tmp_path / name).write_text("")
    assert remove_stale_metric_files(tmp_path, alive=lambda pid: pid == 12) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["counter_12.db", "notes.txt", "x.db"]


def test_a_given_directory_is_kept_and_cleaned(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    given = tmp_path / "metrics"
    given.mkdir()
    (given / "counter_999999999.db").write_text("")  # no such process
    (given / f"counter_{os.getpid()}.db").write_text("")
    monkeypatch.setenv(MULTIPROC_ENV, str(given))
    with metrics_dir(4) as path:
        assert path == given
        assert [p.name for p in given.iterdir()] == [f"counter_{os.getpid()}.db"]
    assert given.is_dir()
    assert os.environ[MULTIPROC_ENV] == str(given)


def test_one_process_without_a_directory_keeps_its_values_in_memory(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(MULTIPROC_ENV, raising=False)
    with metrics_dir(1) as path:
        assert path is None
        assert MULTIPROC_ENV not in os.environ


def test_several_processes_without_a_directory_share_a_temporary_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(MULTIPROC_ENV, raising=False)
    with metrics_dir(2) as path:
        assert path is not None
        assert path.is_dir()
        assert os.environ[MULTIPROC_ENV] == str(path)
        (path / "counter_1.db").write_text("")
    assert not path.exists()
    assert MULTIPROC_ENV not in os.environ


def test_serve_processes_get_a_minute_to_start_not_uvicorns_five_seconds() -> None:
    """A spawned process re-imports openoms (seconds on a busy host): with uvicorn's default
    health-check timeout every process was killed before it was ready, over and over."""
    config = processes_config("127.0.0.1", 0, 2)
    assert config.workers == 2
    assert config.timeout_worker_healthcheck == WORKER_STARTUP_SECONDS == 60
    assert Config("x:app").timeout_worker_healthcheck == 5  # what it replaces
