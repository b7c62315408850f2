"""Shared fixtures: a migrated database on SQLite always, and on PostgreSQL when
OPENOMS_TEST_POSTGRES_URL is set (unreachable then is a loud failure, not a skip).

A run in which no PostgreSQL test passed fails, unless it opts out with
OPENOMS_TEST_SQLITE_ONLY=1 (`make unit` does): a suite that silently skipped PostgreSQL must
not look green. Hypothesis runs under the profile named by HYPOTHESIS_PROFILE: `ci`
(derandomized, what `make test` uses) or `dev` (random, the default)."""

from __future__ import annotations

import os
import shutil
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import coverage
import pytest
from hypothesis import settings
from sqlalchemy import create_engine, text

from openoms.adapters.db.migrate import upgrade
from openoms.adapters.db.models import Base
from openoms.adapters.db.scratch import scratch_postgres_database
from openoms.adapters.db.session import Database
from openoms.config import normalise_database_url

POSTGRES_URL = os.environ.get("OPENOMS_TEST_POSTGRES_URL")
# The suite's scratch databases commit without waiting for the disk (synchronous_commit off,
# see scratch_postgres_database); OPENOMS_TEST_DURABLE_COMMITS=1 makes them wait, as a
# production database does.
DURABLE = os.environ.get("OPENOMS_TEST_DURABLE_COMMITS") == "1"
# A developer's shell may turn the event stream on: the tests must not publish their events
# to a real stream. The event stream's own tests give it a stream of their own.
os.environ.pop("OPENOMS_EVENT_STREAM_URL", None)
os.environ.pop("OPENOMS_EVENT_STREAM_NAME", None)
SQLITE_ONLY = os.environ.get("OPENOMS_TEST_SQLITE_ONLY") == "1"
BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
_passed: Counter[str] = Counter()

# `ci` gives every run the same examples, so a failure in CI is a failure on every machine
# (print_blob tells how to replay it); `dev` explores new ones on each run. Neither has a
# deadline: a loaded 2-core machine is not a slow test.
settings.register_profile("ci", derandomize=True, database=None, deadline=None, print_blob=True)
settings.register_profile("dev", deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))


def pytest_configure(config: pytest.Config) -> None:
    if hasattr(config, "workerinput"):
        config.pluginmanager.register(_SaveCoverage(), "openoms-save-coverage")
    if POSTGRES_URL:
        url = normalise_database_url(POSTGRES_URL)
        engine = create_engine(url)
        try:
            with engine.connect() as connection:
                connection.execute(text("select 1"))
        except Exception as exc:
            raise pytest.UsageError(
                f"OPENOMS_TEST_POSTGRES_URL is set to {url} but PostgreSQL is unreachable: {exc}"
            ) from exc
        finally:
            engine.dispose()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # The slow tests first (the order is otherwise kept): xdist hands out the rest as workers
    # free up, so neither of them is left alone with a minute-long test at the end of a run.
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)
    if POSTGRES_URL:
        return
    skip = pytest.mark.skip(reason="OPENOMS_TEST_POSTGRES_URL is not set")
    for item in items:
        if "postgres" in item.keywords:
            item.add_marker(skip)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when == "call" and report.passed:
        for backend in ("sqlite", "postgres"):
            if f"[{backend}" in report.nodeid or f"-{backend}]" in report.nodeid:
                _passed[backend] += 1


def _postgres_missing(config: pytest.Config) -> bool:
    """True when this (controller) run passed no PostgreSQL test and did not opt out."""
    return not (
        SQLITE_ONLY
        or hasattr(config, "workerinput")
        or config.option.collectonly
        or _passed["postgres"]
    )


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if exitstatus == pytest.ExitCode.OK and _postgres_missing(session.config):
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


class _SaveCoverage:
    """An xdist worker under `coverage run` (make test) saves its measurements when its
    session ends, while the controller still waits for it: at exit is too late, since
    execnet interrupts the worker's main thread once the session is over, and a save cut
    short loses the worker's whole share of the suite (coverage fell to 88-91 % at random)."""

    @pytest.hookimpl(trylast=True)  # after the session fixtures' teardown, still measured
    def pytest_sessionfinish(self) -> None:
        if measuring := coverage.Coverage.current():
            measuring.stop()
            measuring.save()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if hasattr(terminalreporter.config, "workerinput"):
        return
    terminalreporter.write_line(
        f"database tests passed: sqlite={_passed['sqlite']} postgres={_passed['postgres']}"
    )
    if _postgres_missing(terminalreporter.config):
        terminalreporter.write_line(
            "FAILED: no PostgreSQL test passed. Set OPENOMS_TEST_POSTGRES_URL (make test does), "
            "or opt out explicitly with OPENOMS_TEST_SQLITE_ONLY=1.",
            red=True,
            bold=True,
        )


# --- databases --------------------------------------------------------------------------


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "openoms.db"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    assert POSTGRES_URL, "postgres tests need OPENOMS_TEST_POSTGRES_URL"
    with scratch_postgres_database(POSTGRES_URL, prefix="openoms_test_", durable=DURABLE) as url:
        upgrade(url)
        yield url


# Every table emptied (children first) and every sequence a test moved back at its start:
# a freshly migrated database, in one round trip. Not TRUNCATE ... RESTART IDENTITY: with
# ~56 tables it took 0.5-2 s per test (each table gets new files, synced at commit), the
# DELETEs of the few rows a test leaves take ~15 ms.
_EMPTY_POSTGRES = "".join(
    f'DELETE FROM "{table.name}";\n' for table in reversed(Base.metadata.sorted_tables)
) + (
    "SELECT setval(quote_ident(schemaname) || '.' || quote_ident(sequencename),"
    " start_value, false) FROM pg_sequences"
    " WHERE schemaname = current_schema() AND last_value IS NOT NULL"
)


def empty_postgres(database: Database) -> None:
    """Empty a migrated PostgreSQL database: no rows, every id sequence at its start."""
    with database.engine.begin() as connection:
        connection.exec_driver_sql(_EMPTY_POSTGRES)


@pytest.fixture(params=BACKENDS)
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """A migrated, empty database on each backend."""
    if request.param == "sqlite":
        path = tmp_path / "openoms.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        database = Database(f"sqlite:///{path}")
    else:
        database = Database(request.getfixturevalue("postgres_url"))
        empty_postgres(database)
    yield database
    database.dispose()
