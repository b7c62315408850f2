"""The README's quick start, as a newcomer runs it: the database migrated and seeded as
`make run` does, `openoms serve`, and the README's own curl command, taken from the README
and run by bash from the project folder (so `@examples/order.json` is the shipped file)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import BACKENDS
from tests.e2e.common import OPENOMS, cli_env, fresh_database, run
from tests.e2e.servers import ADMIN_KEY, Server, running_server

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
README_URL = "http://127.0.0.1:8000"


def readme_curl() -> str:
    """The README's shell block that captures the example order."""
    blocks = re.findall(r"```sh\n(.*?)```", (ROOT / "README.md").read_text(encoding="utf-8"), re.S)
    (block,) = [b for b in blocks if "curl" in b and "/api/v1/orders" in b]
    return str(block)


def openoms(*args: str, database_url: str, cwd: Path) -> str:
    result = run([str(OPENOMS), *args], env=cli_env(database_url), cwd=cwd, timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.fixture(params=BACKENDS)
def served(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Server]:
    """What `make run` leaves running: a migrated database with the demo network and its
    orders, served with its worker, OPENOMS_ADMIN_KEY installed as the admin key."""
    with fresh_database(request.param, tmp_path, request) as url:
        openoms("db", "upgrade", database_url=url, cwd=tmp_path)
        openoms("seed", database_url=url, cwd=tmp_path)
        with running_server(url, tmp_path, admin_key=ADMIN_KEY, worker=True) as server:
            yield server


def run_readme_curl(server: Server) -> dict[str, Any]:
    script = readme_curl().replace(README_URL, server.base_url)
    result = run(["bash", "-euo", "pipefail", "-c", script], env=cli_env(KEY=ADMIN_KEY), cwd=ROOT)
    assert result.returncode == 0, result.stderr
    body: dict[str, Any] = json.loads(result.stdout)
    return body


def test_the_readme_curl_captures_the_example_order_against_the_seeded_network(
    served: Server,
) -> None:
    assert README_URL in readme_curl()
    assert "@examples/order.json" in readme_curl()

    first = run_readme_curl(served)
    again = run_readme_curl(served)  # a new Idempotency-Key: the channel's reference decides

    assert re.fullmatch(r"os_[0-9A-Z]{26}", first["id"]), first
    assert (first["channel"], first["external_reference"], first["status"]) == (
        "web-uk",
        "WEB-10001",
        "CREATED",
    )
    assert first["totals"] == {
        "product": "68.00",
        "delivery": "4.99",
        "adjustments": "-11.00",
        "tax": "14.60",
        "grand_total": "76.59",
    }
    assert len(first["payment_summaries"]) == 1
    assert again["id"] == first["id"]
    assert again["totals"] == first["totals"]
