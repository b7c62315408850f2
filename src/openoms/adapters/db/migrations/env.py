"""Alembic environment: the URL comes from the caller's config, the schema from the models."""

from alembic import context
from sqlalchemy import create_engine, event, pool

from openoms.adapters.db.models import Base

config = context.config
target_metadata = Base.metadata


def run_migrations_offline() -> None:
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connectable = config.attributes.get("connection")
    if connectable is not None:
        _run(connectable)
        return
    engine = create_engine(config.get_main_option("sqlalchemy.url"), poolclass=pool.NullPool)
    if engine.dialect.name == "sqlite":
        _transactional_sqlite(engine)
    with engine.connect() as connection:
        _run(connection)
    engine.dispose()


def _transactional_sqlite(engine):
    """pysqlite runs DDL outside any transaction (it begins one only before DML): each
    CREATE was its own commit, so a failed or interrupted upgrade left a half-built
    revision behind, and every statement paid its own fsyncs. SQLAlchemy emits BEGIN
    instead, and each upgrade runs in one transaction, as on PostgreSQL. Foreign keys stay
    unenforced here, as SQLite's default: a batch migration copies a table and drops the
    old one, which enforcement would turn into deletes of the rows that refer to it."""

    @event.listens_for(engine, "connect")
    def _no_implicit_transactions(dbapi_connection, _record):
        dbapi_connection.isolation_level = None

    @event.listens_for(engine, "begin")
    def _begin(connection):
        # The write lock up front: a running app's writers wait for the migration to end.
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def _run(connection):
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
