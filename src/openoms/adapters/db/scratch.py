"""Scratch PostgreSQL databases for the test suite and `make fuzz`: created empty on a
server, dropped after, so a run never touches a database someone else uses."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from openoms.config import normalise_database_url


@contextmanager
def scratch_postgres_database(
    server_url: str, *, prefix: str, durable: bool = True
) -> Iterator[str]:
    """A new, empty database named `prefix` + a random suffix on the server of `server_url`;
    yields its URL and drops it after (closing whatever is still connected).

    `durable=False` (the test suite) sets the database's `synchronous_commit` off: a commit
    returns before its WAL reaches the disk. What other sessions see, and when, is unchanged;
    only a crash of the PostgreSQL server itself could lose the last commits of a database
    that is dropped after the run anyway, and the run no longer waits on the disk's flushes
    at every one of its tens of thousands of commits."""
    admin_url = make_url(normalise_database_url(server_url))
    name = f"{prefix}{uuid.uuid4().hex[:12]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
            if not durable:
                connection.execute(text(f'ALTER DATABASE "{name}" SET synchronous_commit = off'))
        try:
            yield admin_url.set(database=name).render_as_string(hide_password=False)
        finally:
            with admin.connect() as connection:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()
