"""Engines and the unit of work: one transaction per request or job, committed at the boundary."""

from __future__ import annotations

import copy
import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Table, create_engine, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from openoms.adapters.db.visibility import restrict_to_channels

T = TypeVar("T")


def make_engine(url: str, **kwargs: Any) -> Engine:
    # A database error's text would otherwise carry the statement's parameters (payment
    # tokens, key hashes) into logs and stored job errors.
    kwargs.setdefault("hide_parameters", True)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(url, **kwargs)
    kwargs.setdefault("pool_size", 20)
    kwargs.setdefault("max_overflow", 20)
    # No pre-ping: it costs a round trip per checkout on the hot path; recycle instead.
    kwargs.setdefault("pool_recycle", 1800)
    return create_engine(url, **kwargs)


def ensure_sqlite_directory(url: str) -> None:
    """SQLite creates the file but not its folder (e.g. var/ on a fresh clone)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)


def _sqlite_engine(url: str, **kwargs: Any) -> Engine:
    ensure_sqlite_directory(url)
    kwargs.setdefault("connect_args", {"timeout": 30, "check_same_thread": False})
    engine = create_engine(url, **kwargs)

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not pysqlite, emit BEGIN, so writers can take the lock up front.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: Any) -> None:
        # SQLite has one writer: take the write lock at BEGIN, so two transactions never
        # deadlock upgrading read locks. Read-only units of work ask for a deferred BEGIN.
        mode = connection.get_execution_options().get("sqlite_begin", "IMMEDIATE")
        connection.exec_driver_sql(f"BEGIN {mode}")

    return engine


def dialect_insert(session: Session, table: Table) -> postgresql.Insert | sqlite.Insert:
    """An INSERT with the session dialect's ON CONFLICT support."""
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


TRANSIENT_SQLSTATES = frozenset({"40P01", "40001"})  # deadlock detected, serialization failure


def is_transient(exc: BaseException) -> bool:
    """A failure that a fresh transaction may not meet again (PostgreSQL aborted ours)."""
    return getattr(getattr(exc, "orig", None), "sqlstate", None) in TRANSIENT_SQLSTATES


def retry_transient(operation: Callable[[], T], *, attempts: int = 6) -> T:
    """Run `operation` (which opens its own transaction) again after a deadlock or
    serialization failure, after a random pause that doubles each time (5 ms to 160 ms at
    most: the transactions that met are not sent back into each other in step); anything
    else, or the last failure, propagates."""
    for attempt in range(attempts):
        try:
            return operation()
        except DBAPIError as exc:
            if attempt == attempts - 1 or not is_transient(exc):
                raise
            time.sleep(random.uniform(0.5, 1.0) * 0.005 * 2**attempt)
    raise AssertionError("unreachable")


class Database:
    """An engine and its session factory. Services receive sessions; only this commits."""

    def __init__(self, url: str, **engine_kwargs: Any) -> None:
        self.url = url
        self.engine = make_engine(url, **engine_kwargs)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._readonly_engine = self.engine.execution_options(sqlite_begin="DEFERRED")
        self._readonly_sessions = sessionmaker(self._readonly_engine, expire_on_commit=False)
        self._statement_engine = (
            self.engine.execution_options(isolation_level="AUTOCOMMIT")
            if self.dialect == "postgresql"
            else self._readonly_engine
        )
        self._statement_sessions = sessionmaker(self._statement_engine, expire_on_commit=False)
        self._views: dict[frozenset[str], Database] = {}

    def visible_to(self, channels: frozenset[str] | None) -> Database:
        """This database as a caller bound to `channels` sees it: the same engine, whose
        sessions leave out every order of another channel and everything that hangs off one
        (adapters/db/visibility.py). None (unbound) is this database itself."""
        if channels is None:
            return self
        view = self._views.get(channels)
        if view is None:
            view = copy.copy(self)
            view._sessions = sessionmaker(self.engine, expire_on_commit=False)
            view._readonly_sessions = sessionmaker(self._readonly_engine, expire_on_commit=False)
            view._statement_sessions = sessionmaker(self._statement_engine, expire_on_commit=False)
            view._views = {}
            restrict_to_channels(view._sessions, channels)
            restrict_to_channels(view._readonly_sessions, channels)
            restrict_to_channels(view._statement_sessions, channels)
            # Bounded by the number of distinct bindings of the keys in use; a race builds
            # one view twice, which is harmless.
            self._views[channels] = view
        return view

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A unit of work: commit on success, roll back on any exception."""
        with self._sessions() as session, session.begin():
            yield session

    @contextmanager
    def rehearsal(self) -> Iterator[Session]:
        """A unit of work that is always rolled back: a preview runs the real action in it
        and reports what it would do, so a preview can never disagree with the submit."""
        with self._sessions() as session:
            transaction = session.begin()
            try:
                yield session
            finally:
                transaction.rollback()

    @contextmanager
    def reading(self) -> Iterator[Session]:
        """A read-only unit of work (never takes SQLite's write lock)."""
        # Closing the session ends the transaction without expiring what was loaded.
        with self._readonly_sessions() as session:
            yield session

    @contextmanager
    def reading_one_statement(self) -> Iterator[Session]:
        """A read that runs a single statement, which sees one snapshot by itself: on
        PostgreSQL in autocommit, so it costs no BEGIN and no ROLLBACK round trip (two of
        the three a one-query read would make). A read of two statements or more that must
        agree with each other takes `reading()`."""
        with self._statement_sessions() as session:
            yield session

    def dispose(self) -> None:
        self.engine.dispose()
