"""`openoms serve` and `openoms worker` as real processes with OPENOMS_EVENT_STREAM_URL set:
what the API records reaches the NATS JetStream stream once per event, whether the worker
runs in the API process or on its own, and both stop cleanly on SIGTERM (closing their
NATS connection)."""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from openoms.adapters.db import models as m
from openoms.adapters.db.session import Database
from tests.e2e.common import OPENOMS, cli_env, run_cli
from tests.e2e.servers import ADMIN_KEY, WAIT_SECONDS, eventually, reference, running_server
from tests.e2e.servers import stock_over_http as stock
from tests.nats_stream import (
    NATS_URL,
    delete_stream,
    nats_unreachable,
    read_stream,
    stream_messages,
    unique_stream_name,
)
from tests.payloads import order_payload

pytestmark = pytest.mark.e2e


@pytest.fixture
def stream_settings() -> Iterator[dict[str, str]]:
    """The settings that turn the stream on, with a stream of the test's own (deleted
    after). Unreachable NATS skips the test, saying why (it runs here and in CI)."""
    reason = nats_unreachable(NATS_URL)
    if reason:
        pytest.skip(reason)
    name = unique_stream_name()
    yield {"OPENOMS_EVENT_STREAM_URL": NATS_URL, "OPENOMS_EVENT_STREAM_NAME": name}
    delete_stream(NATS_URL, name)


def event_ids(database_url: str) -> list[str]:
    database = Database(database_url)
    try:
        with database.reading() as session:
            return list(session.scalars(select(m.Event.event_id).order_by(m.Event.id)))
    finally:
        database.dispose()


def assert_streamed_once(database_url: str, stream: str) -> None:
    """Every event recorded is in the stream once (the worker may still be at it)."""
    received = eventually(
        lambda: [r.msg_id for r in read_stream(NATS_URL, stream)],
        lambda ids: ids == event_ids(database_url) and len(ids) > 0,
        "every event in the stream",
    )
    assert len(set(received)) == len(received)


def test_serve_publishes_every_event_from_its_worker_thread(
    tmp_path: Path, stream_settings: dict[str, str]
) -> None:
    url = f"sqlite:///{tmp_path / 'openoms.db'}"
    with running_server(url, tmp_path, admin_key=ADMIN_KEY, worker=True, **stream_settings) as s:
        with s.client(ADMIN_KEY) as admin:
            stock(admin)
            answer = admin.post(
                "/api/v1/orders",
                json=order_payload(external_reference=reference()),
                headers={"Idempotency-Key": reference()},
            )
            assert answer.status_code == 201, answer.text
            summary_id = answer.json()["id"]
            eventually(
                lambda: admin.get(f"/api/v1/order-summaries/{summary_id}").json()["status"],
                lambda status: status == "WAITING_TO_FULFILL",
                "routed",
            )
        assert_streamed_once(url, stream_settings["OPENOMS_EVENT_STREAM_NAME"])
        stopped = s.stop()
    assert stopped
    assert "connected to NATS for event stream" in s.stderr()
    assert "Traceback" not in s.stderr()


def test_the_worker_command_publishes_what_the_api_recorded(
    tmp_path: Path, stream_settings: dict[str, str]
) -> None:
    url = f"sqlite:///{tmp_path / 'openoms.db'}"
    stream = stream_settings["OPENOMS_EVENT_STREAM_NAME"]
    with running_server(url, tmp_path, admin_key=ADMIN_KEY, **stream_settings) as server:
        with server.client(ADMIN_KEY) as admin:
            stock(admin)
            answer = admin.post(
                "/api/v1/orders",
                json=order_payload(external_reference=reference()),
                headers={"Idempotency-Key": reference()},
            )
            assert answer.status_code == 201, answer.text
        assert stream_messages(NATS_URL, stream) is None  # no worker: no stream yet
        log_path = tmp_path / "worker.log"
        with log_path.open("wb") as log:
            worker = subprocess.Popen(
                [str(OPENOMS), "worker"],
                env=cli_env(url, PYTHONUNBUFFERED="1", **stream_settings),
                cwd=tmp_path,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            try:
                assert_streamed_once(url, stream)
                worker.send_signal(signal.SIGTERM)
                code = worker.wait(timeout=WAIT_SECONDS)
            finally:
                if worker.poll() is None:
                    worker.kill()
                    worker.wait()
    output = log_path.read_text(encoding="utf-8")
    assert code == 0, output
    assert "connected to NATS for event stream" in output
    assert "Traceback" not in output


def test_a_worker_killed_mid_stream_leaves_each_event_once(
    tmp_path: Path, stream_settings: dict[str, str]
) -> None:
    """`openoms seed` records some fifty events (with the setting: each with a delivery
    to the stream); a worker publishing them is killed with SIGKILL as soon as the stream
    holds any, often inside a batch whose publishes were acknowledged but not committed (the
    deterministic version of this is in tests/integration/platform/test_event_stream.py).
    A second worker finishes: every event is in the stream once, in the order recorded."""
    url = f"sqlite:///{tmp_path / 'openoms.db'}"
    stream = stream_settings["OPENOMS_EVENT_STREAM_NAME"]
    seeded = run_cli("seed", "--orders", "20", database_url=url, cwd=tmp_path, **stream_settings)
    assert seeded.returncode == 0, seeded.stderr
    env = cli_env(url, PYTHONUNBUFFERED="1", **stream_settings)
    first = subprocess.Popen([str(OPENOMS), "worker"], env=env, cwd=tmp_path)
    try:
        eventually(lambda: stream_messages(NATS_URL, stream) or 0, lambda n: n > 0, "publishes")
        first.send_signal(signal.SIGKILL)
        assert first.wait(timeout=WAIT_SECONDS) == -signal.SIGKILL
        second = subprocess.Popen([str(OPENOMS), "worker"], env=env, cwd=tmp_path)
        try:
            assert_streamed_once(url, stream)
        finally:
            second.send_signal(signal.SIGTERM)
            assert second.wait(timeout=WAIT_SECONDS) == 0
    finally:
        for process in (first, locals().get("second")):
            if isinstance(process, subprocess.Popen) and process.poll() is None:
                process.kill()
                process.wait()
