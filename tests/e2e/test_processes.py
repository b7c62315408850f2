"""`openoms serve --workers N` and `openoms worker --processes N` as real processes over one
PostgreSQL: several API processes answer on one port and add up their metrics, worker
processes drain the jobs, a killed one is replaced, and SIGTERM stops them all."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.common import OPENOMS, cli_env, fresh_database, run_cli
from tests.e2e.servers import (
    ADMIN_KEY,
    WAIT_SECONDS,
    eventually,
    reference,
    running_server,
    stock_over_http,
)
from tests.payloads import order_payload

pytestmark = pytest.mark.e2e


@pytest.fixture
def postgres_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with fresh_database("postgres", tmp_path, request) as url:
        yield url


def spawned_children(pid: int) -> set[int]:
    """The multiprocessing (spawn) children of `pid`: uvicorn's or the supervisor's."""
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            if ppid == pid and b"spawn_main" in (stat.parent / "cmdline").read_bytes():
                found.add(int(stat.parent.name))
    return found


def environ_of(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return dict(item.decode().split("=", 1) for item in raw if b"=" in item)


def gone(pids: set[int]) -> bool:
    return not any(Path(f"/proc/{pid}").exists() for pid in pids)


def capture(base_url: str, payload: dict[str, object]) -> str:
    """One POST on a connection of its own (so the kernel may hand it to any process)."""
    key = f"capture-{payload['external_reference']}"
    headers = {"Authorization": f"Bearer {ADMIN_KEY}", "Idempotency-Key": key}
    response = httpx.post(f"{base_url}/api/v1/orders", json=payload, headers=headers, timeout=30)
    assert response.status_code == 201, response.text
    summary_id: str = response.json()["id"]
    return summary_id


def status_of(client: httpx.Client, summary_id: str) -> str:
    status: str = client.get(f"/api/v1/order-summaries/{summary_id}").json()["status"]
    return status


def captures_created(metrics: str) -> float:
    for line in metrics.splitlines():
        if line.startswith('openoms_captures_total{channel="web-uk",outcome="created"}'):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


@pytest.mark.postgres
def test_serve_with_two_workers_answers_from_two_processes_that_share_metrics(
    postgres_database: str, tmp_path: Path
) -> None:
    options = ["--workers", "2"]
    with running_server(
        postgres_database, tmp_path, admin_key=ADMIN_KEY, worker=True, options=options
    ) as server:
        children = eventually(
            lambda: spawned_children(server.process.pid), lambda c: len(c) == 2, "2 processes"
        )
        shared = {environ_of(pid).get("PROMETHEUS_MULTIPROC_DIR") for pid in children}
        with server.client(ADMIN_KEY) as admin:
            stock_over_http(admin)
            ids = [capture(server.base_url, order_payload(external_reference=reference()))]
            ids += [capture(server.base_url, order_payload(external_reference=reference()))]
            ids += [capture(server.base_url, order_payload(external_reference=reference()))]
            # Each API process's in-process worker thread routes what any of them captured.
            for summary_id in ids:
                eventually(
                    lambda s=summary_id: status_of(admin, s),
                    lambda status: status == "WAITING_TO_FULFILL",
                    f"{summary_id} routed",
                )
            # Any process's scrape adds up every process's captures (3 POSTs, each on a
            # fresh connection): never only its own share.
            scrapes = [captures_created(admin.get("/metrics").text) for _ in range(6)]
        stopped = server.stop()

    assert len(shared) == 1
    directory = shared.pop()
    assert directory is not None
    assert scrapes == [3.0] * 6
    assert stopped
    assert gone(children)
    assert not Path(directory).exists()  # the temporary metrics directory went with them
    assert "Started server process" in server.stderr()


@contextlib.contextmanager
def supervised(database_url: str, workdir: Path) -> Iterator[subprocess.Popen[bytes]]:
    """`openoms worker --processes 2` until the block ends (killed if still running)."""
    with (workdir / "worker.log").open("wb") as log:
        supervisor = subprocess.Popen(
            [str(OPENOMS), "worker", "--processes", "2"],
            env=cli_env(database_url, PYTHONUNBUFFERED="1"),
            cwd=workdir,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            yield supervisor
        finally:
            if supervisor.poll() is None:
                supervisor.kill()
                supervisor.wait()


@pytest.mark.postgres
def test_worker_processes_drain_jobs_replace_a_killed_one_and_stop_on_sigterm(
    postgres_database: str, tmp_path: Path
) -> None:
    with (
        running_server(postgres_database, tmp_path, admin_key=ADMIN_KEY) as server,
        server.client(ADMIN_KEY) as admin,
    ):
        stock_over_http(admin)
        first = capture(server.base_url, order_payload(external_reference=reference()))
        time.sleep(1)
        assert status_of(admin, first) == "CREATED"  # nobody routes it yet
        with supervised(postgres_database, tmp_path) as supervisor:
            workers = eventually(
                lambda: spawned_children(supervisor.pid), lambda c: len(c) == 2, "2 workers"
            )
            eventually(
                lambda: status_of(admin, first), lambda s: s == "WAITING_TO_FULFILL", "routed"
            )
            victim = min(workers)
            os.kill(victim, signal.SIGKILL)
            replaced = eventually(
                lambda: spawned_children(supervisor.pid),
                lambda c: len(c) == 2 and victim not in c,
                "a new worker process",
            )
            second = capture(server.base_url, order_payload(external_reference=reference()))
            eventually(
                lambda: status_of(admin, second), lambda s: s == "WAITING_TO_FULFILL", "routed"
            )
            supervisor.send_signal(signal.SIGTERM)
            code = supervisor.wait(timeout=WAIT_SECONDS)
    output = (tmp_path / "worker.log").read_text(encoding="utf-8")

    assert code == 0, output
    assert gone(replaced)
    assert "2 worker processes running on postgresql" in output
    assert f"(pid {victim}) ended with -9; restarting it" in output


def test_several_processes_on_sqlite_are_refused(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'openoms.db'}"
    serve = run_cli("serve", "--workers", "2", "--port", "1", database_url=url, cwd=tmp_path)
    worker = run_cli("worker", "--processes", "3", database_url=url, cwd=tmp_path)

    assert serve.returncode == 1, serve.stderr
    assert "--workers 2 needs PostgreSQL" in " ".join(serve.stderr.split())
    assert worker.returncode == 1, worker.stderr
    assert "--processes 3 needs PostgreSQL" in " ".join(worker.stderr.split())
