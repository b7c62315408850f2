"""Alembic migrations, run programmatically (`openoms db upgrade`, tests, `make run`)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, create_engine, inspect, text

from openoms.adapters.db.session import ensure_sqlite_directory

_HERE = Path(__file__).parent


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(_HERE / "migrations"))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "head") -> None:
    ensure_sqlite_directory(url)
    command.upgrade(alembic_config(url), revision)


def current_revision_is_head(url: str) -> bool:

    script = ScriptDirectory.from_config(alembic_config(url))
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            current = MigrationContext.configure(connection).get_current_heads()
    finally:
        engine.dispose()
    return set(current) == set(script.get_heads())


@cache
def head_revisions() -> frozenset[str]:
    """The heads of the migration scripts shipped with this code (read once)."""
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    return frozenset(script.get_heads())


def connection_is_at_head(connection: Connection) -> bool:
    """True when the database behind `connection` is migrated to this code's head (read
    directly: a MigrationContext would log two lines on every readiness probe)."""
    if not inspect(connection).has_table("alembic_version"):
        return False
    current = connection.execute(text("select version_num from alembic_version")).scalars()
    return set(current) == head_revisions()
