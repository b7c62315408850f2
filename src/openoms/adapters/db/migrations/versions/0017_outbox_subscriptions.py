"""outbox subscriptions: one row whose version changes, by triggers, in the transaction
of every change to what the outbox's consumers subscribe to (webhook endpoints, flows,
channel adapters), so recording an event needs no look-up of them while it is unchanged

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07 21:30:00.000000

The triggers fire on the columns the consumers' `needs` read (adapters/outbox.py):
an endpoint's `enabled` and `event_types`, a flow's `enabled` and `trigger`, a channel
adapter's existence. A later migration that rebuilds one of these tables on SQLite
(`batch_alter_table` copies it into a new table) drops its triggers and must create them
again: `tests/integration/platform/test_outbox_subscriptions.py` fails when one is missing.
"""
from alembic import op
import sqlalchemy as sa


revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None

# table -> the columns whose UPDATE changes what a consumer needs
WATCHED = {
    'webhook_endpoints': ('enabled', 'event_types'),
    'flows': ('enabled', 'trigger'),
    'channel_adapters': ('channel',),
}
_FUNCTION = 'outbox_subscriptions_changed'
_NEW_VERSION = {
    'postgresql': 'gen_random_uuid()::text',
    'sqlite': 'lower(hex(randomblob(16)))',
}


def _bump(dialect: str) -> str:
    return (
        "INSERT INTO outbox_subscriptions (id, version)"
        f" VALUES (1, {_NEW_VERSION[dialect]})"
        " ON CONFLICT (id) DO UPDATE SET version = excluded.version;"
    )


def upgrade() -> None:
    op.create_table('outbox_subscriptions',
    sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('version', sa.String(length=40), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_outbox_subscriptions'))
    )
    dialect = op.get_bind().dialect.name
    op.execute(_bump(dialect))
    if dialect == 'postgresql':
        op.execute(
            f"CREATE FUNCTION {_FUNCTION}() RETURNS trigger LANGUAGE plpgsql AS $$"
            f" BEGIN {_bump(dialect)} RETURN NULL; END $$"
        )
        for table, columns in WATCHED.items():
            op.execute(
                f"CREATE TRIGGER {table}_subscriptions"
                f" AFTER INSERT OR DELETE OR UPDATE OF {', '.join(columns)} ON {table}"
                f" FOR EACH ROW EXECUTE FUNCTION {_FUNCTION}()"
            )
        return
    for table, columns in WATCHED.items():
        for name, when in (
            ('insert', 'INSERT'),
            ('delete', 'DELETE'),
            ('update', f"UPDATE OF {', '.join(columns)}"),
        ):
            op.execute(
                f"CREATE TRIGGER {table}_subscriptions_{name} AFTER {when} ON {table}"
                f" FOR EACH ROW BEGIN {_bump(dialect)} END"
            )


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    for table in WATCHED:
        if dialect == 'postgresql':
            op.execute(f"DROP TRIGGER {table}_subscriptions ON {table}")
        else:
            for name in ('insert', 'delete', 'update'):
                op.execute(f"DROP TRIGGER {table}_subscriptions_{name}")
    if dialect == 'postgresql':
        op.execute(f"DROP FUNCTION {_FUNCTION}()")
    op.drop_table('outbox_subscriptions')
