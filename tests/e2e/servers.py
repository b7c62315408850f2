"""A real `openoms serve` for the end-to-end tests: started on a free port until a block ends,
stocked over HTTP, asked until its worker has done something, and its problem answers
checked."""

from __future__ import annotations

import json
import socket
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from tests.e2e.common import OPENOMS, cli_env

ADMIN_KEY = "e2e-admin-key-" + uuid.uuid4().hex
STARTUP_SECONDS = 120.0  # a bound for a loaded machine, not a measurement
STOP_SECONDS = 10.0
PROBLEM_JSON = "application/problem+json"
T = TypeVar("T")
WAIT_SECONDS = 120.0  # a bound for a loaded machine, not a measurement


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    base_url: str
    database_url: str
    stdout_path: Path
    stderr_path: Path
    keys: dict[str, str] = field(default_factory=dict)

    def stdout(self) -> str:
        return self.stdout_path.read_text(encoding="utf-8", errors="replace")

    def stderr(self) -> str:
        return self.stderr_path.read_text(encoding="utf-8", errors="replace")

    def client(self, key: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return httpx.Client(base_url=self.base_url, headers=headers, timeout=10)

    def stop(self) -> bool:
        """Terminate (SIGTERM), then kill after a timeout; True when it stopped by itself."""
        if self.process.poll() is not None:
            return True
        self.process.terminate()
        try:
            self.process.wait(timeout=STOP_SECONDS)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=STOP_SECONDS)
            return False
        return True


def wait_until_healthy(server: Server) -> bool:
    """True once /health answers; False when the port was taken (another process won the
    race for it); fails the test with the server's stderr on any other exit or a timeout."""
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            if "address already in use" in server.stderr():
                return False
            pytest.fail(
                f"openoms serve exited with {server.process.returncode}:\n{server.stderr()}"
            )
        try:
            if httpx.get(f"{server.base_url}/health", timeout=1).status_code == 200:
                return True
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    pytest.fail(f"openoms serve not healthy after {STARTUP_SECONDS:.0f} s:\n{server.stderr()}")


def start_server(
    database_url: str,
    workdir: Path,
    *,
    admin_key: str | None,
    worker: bool,
    options: Sequence[str] = (),
    **settings: str,
) -> Server:
    port = free_port()
    stdout_path, stderr_path = workdir / f"serve-{port}.out", workdir / f"serve-{port}.err"
    args = [str(OPENOMS), "serve", "--host", "127.0.0.1", "--port", str(port), *options]
    with stdout_path.open("wb") as out, stderr_path.open("wb") as err:
        process = subprocess.Popen(
            [*args, "--worker" if worker else "--no-worker"],
            env=cli_env(database_url, admin_key=admin_key, PYTHONUNBUFFERED="1", **settings),
            cwd=workdir,
            stdout=out,
            stderr=err,
        )
    return Server(process, f"http://127.0.0.1:{port}", database_url, stdout_path, stderr_path)


@contextmanager
def running_server(
    database_url: str,
    workdir: Path,
    *,
    admin_key: str | None,
    worker: bool = False,
    options: Sequence[str] = (),
    **settings: str,
) -> Iterator[Server]:
    """`openoms serve` on a free port until the block ends (stopped even on failure), with
    more command line `options` and `settings` (OPENOMS_* variables) in its environment."""
    for _attempt in range(3):
        server = start_server(
            database_url, workdir, admin_key=admin_key, worker=worker, options=options, **settings
        )
        try:
            if wait_until_healthy(server):
                yield server
                return
        finally:
            server.stop()
    pytest.fail("openoms serve found no free port in 3 attempts")


def stock_over_http(client: httpx.Client, *, units: int = 1000) -> None:
    """A warehouse in group "online" for web-uk and a pickup store, stocked through the API."""
    locations = {
        "WH-LDN": {"type": "warehouse", "can_pickup": False, "groups": ["online"]},
        "STORE-LDN": {"type": "store", "can_pickup": True, "groups": ["stores"]},
    }
    for ref, fields in locations.items():
        body = {
            "name": ref,
            "address": {
                "line1": "1 Test St",
                "city": "London",
                "country": "GB",
                "lat": 51.5,
                "lon": -0.1,
            },
            "can_ship": True,
            **fields,
        }
        response = client.put(f"/api/v1/locations/{ref}", json=body)
        assert response.status_code in (200, 201), response.text
    channel = client.put("/api/v1/channels/web-uk", json={"location_group": "online"})
    assert channel.status_code in (200, 201), channel.text
    lines = [
        {"location": "WH-LDN", "sku": "TEE-M", "on_hand": units},
        {"location": "STORE-LDN", "sku": "MUG", "on_hand": units},
    ]
    imported = client.post(
        "/api/v1/inventory/import",
        params={"mode": "delta"},
        content="".join(json.dumps(line) + "\n" for line in lines),
        headers={"Content-Type": "application/x-ndjson"},
    )
    assert imported.status_code == 200, imported.text


def reference() -> str:
    return f"E2E-{uuid.uuid4().hex[:10].upper()}"


def assert_problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["code"] == code
    assert body["type"] == f"https://openoms.dev/problems/{code.replace('_', '-')}"
    assert body["title"]
    assert body["detail"]
    return body


def eventually(read: Callable[[], T], done: Callable[[T], bool], what: str) -> T:
    """Poll `read` until `done` holds (the server's worker runs in the background)."""
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        value = read()
        if done(value):
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"{what} did not happen within {WAIT_SECONDS:.0f} s: {value}")
        time.sleep(0.1)
