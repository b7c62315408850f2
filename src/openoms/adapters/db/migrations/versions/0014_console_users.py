"""console users and their sessions: people who sign in to the console (argon2 password
hashes), their server-side sessions, failed sign-ins (the login rate limit) and the
secret that signs session cookies (made on first use, shared by every process)

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07 11:30:24.909398
"""
from alembic import op
import sqlalchemy as sa
import openoms.adapters.db.models


revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('console_login_failures',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('email', sa.String(length=254), nullable=False),
    sa.Column('client', sa.String(length=100), nullable=False),
    sa.Column('failed_at', openoms.adapters.db.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_console_login_failures'))
    )
    with op.batch_alter_table('console_login_failures', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_console_login_failures_email'), ['email'], unique=False)
        batch_op.create_index(batch_op.f('ix_console_login_failures_failed_at'), ['failed_at'], unique=False)

    op.create_table('console_secrets',
    sa.Column('name', sa.String(length=50), nullable=False),
    sa.Column('value', sa.String(length=200), nullable=False),
    sa.Column('created_at', openoms.adapters.db.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_console_secrets'))
    )
    op.create_table('console_users',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('role', sa.String(length=20), nullable=False),
    sa.Column('locations', sa.JSON(), nullable=True),
    sa.Column('password_hash', sa.Text(), nullable=False),
    sa.Column('disabled', sa.Boolean(), nullable=False),
    sa.Column('created_at', openoms.adapters.db.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_console_users')),
    sa.UniqueConstraint('email', name=op.f('uq_console_users_email'))
    )
    op.create_table('console_sessions',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('user_id', sa.String(length=40), nullable=False),
    sa.Column('client', sa.String(length=100), nullable=False),
    sa.Column('created_at', openoms.adapters.db.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', openoms.adapters.db.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('ended_at', openoms.adapters.db.models.base.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['console_users.id'], name=op.f('fk_console_sessions_user_id_console_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_console_sessions')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_console_sessions_token_hash'))
    )
    with op.batch_alter_table('console_sessions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_console_sessions_user_id'), ['user_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('console_sessions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_console_sessions_user_id'))

    op.drop_table('console_sessions')
    op.drop_table('console_users')
    op.drop_table('console_secrets')
    with op.batch_alter_table('console_login_failures', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_console_login_failures_failed_at'))
        batch_op.drop_index(batch_op.f('ix_console_login_failures_email'))

    op.drop_table('console_login_failures')
