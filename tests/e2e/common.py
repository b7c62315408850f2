"""What the end-to-end tests share: the `openoms` executable, the environment it runs in,
and an empty database on each backend."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from openoms.adapters.db.scratch import scratch_postgres_database
from tests.conftest import DURABLE

OPENOMS = Path(sys.executable).parent / "openoms"


def cli_env(
    database_url: str | None = None, *, admin_key: str | None = None, **settings: str
) -> dict[str, str]:
    """This process's environment without its OPENOMS_* settings or forced colour, plus
    NO_COLOR, the database URL and admin key when given, and `settings`."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("OPENOMS_") and k not in {"FORCE_COLOR", "TTY_COMPATIBLE"}
    }
    env["NO_COLOR"] = "1"
    if database_url is not None:
        env["OPENOMS_DATABASE_URL"] = database_url
    if admin_key is not None:
        env["OPENOMS_ADMIN_KEY"] = admin_key
    env.update(settings)
    return env


def run(
    command: list[str], *, env: dict[str, str], cwd: Path, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """`command` run to its end with its output captured as text; its result, whatever its
    exit code."""
    return subprocess.run(
        command, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False
    )


def run_cli(
    *args: str, database_url: str, cwd: Path, columns: int = 200, **settings: str
) -> subprocess.CompletedProcess[str]:
    """`openoms ARGS` with only OPENOMS_DATABASE_URL (and `settings`) configured; a fixed
    terminal width keeps rich from wrapping report lines differently from one machine to the
    next."""
    return run(
        [str(OPENOMS), *args],
        env=cli_env(database_url, COLUMNS=str(columns), **settings),
        cwd=cwd,
    )


@contextmanager
def fresh_database(backend: str, workdir: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    """The URL of an empty database (no schema, no keys) on `backend`: a file in `workdir`,
    or a new database next to the session's PostgreSQL one, dropped after."""
    if backend == "sqlite":
        yield f"sqlite:///{workdir / 'openoms.db'}"
        return
    server_url = request.getfixturevalue("postgres_url")
    with scratch_postgres_database(server_url, prefix="openoms_e2e_", durable=DURABLE) as url:
        yield url
