"""routing runs: batch routing runs and the groups each weighed; a channel's run schedule

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07 15:00:00.000000
"""
from alembic import op
import sqlalchemy as sa
import openoms.adapters.db.models


revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
_TIME = openoms.adapters.db.models.base.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table('routing_runs',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('channel', sa.String(length=100), nullable=False),
    sa.Column('scope', sa.String(length=20), nullable=False),
    sa.Column('dry_run', sa.Boolean(), nullable=False),
    sa.Column('trigger', sa.String(length=20), nullable=False),
    sa.Column('requested_by', sa.String(length=200), nullable=False),
    sa.Column('tick_at', _TIME, nullable=True),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('solve_status', sa.String(length=20), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('solve_ms', sa.Integer(), nullable=False),
    sa.Column('groups', sa.Integer(), nullable=False),
    sa.Column('applied', sa.Integer(), nullable=False),
    sa.Column('skipped', sa.Integer(), nullable=False),
    sa.Column('totals', sa.JSON(), nullable=False),
    sa.Column('created_at', _TIME, nullable=False),
    sa.Column('finished_at', _TIME, nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_routing_runs')),
    sa.UniqueConstraint('channel', 'tick_at', name=op.f('uq_routing_runs_channel_tick_at'))
    )
    with op.batch_alter_table('routing_runs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_routing_runs_channel'), ['channel'], unique=False)
        batch_op.create_index(batch_op.f('ix_routing_runs_created_at'), ['created_at'], unique=False)

    op.create_table('routing_run_groups',
    sa.Column('id', _ID, autoincrement=True, nullable=False),
    sa.Column('run_id', sa.String(length=40), nullable=False),
    sa.Column('order_summary_id', sa.String(length=40), nullable=False),
    sa.Column('delivery_group_summary_id', sa.String(length=40), nullable=False),
    sa.Column('outcome', sa.String(length=20), nullable=False),
    sa.Column('reason', sa.String(length=500), nullable=True),
    sa.Column('current', sa.JSON(), nullable=False),
    sa.Column('planned', sa.JSON(), nullable=False),
    sa.Column('figures', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['run_id'], ['routing_runs.id'], name=op.f('fk_routing_run_groups_run_id_routing_runs')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_routing_run_groups'))
    )
    with op.batch_alter_table('routing_run_groups', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_routing_run_groups_run_id'), ['run_id'], unique=False)

    with op.batch_alter_table('channels', schema=None) as batch_op:
        batch_op.add_column(sa.Column('routing_run_every', sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('channels', schema=None) as batch_op:
        batch_op.drop_column('routing_run_every')
    with op.batch_alter_table('routing_run_groups', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_routing_run_groups_run_id'))
    op.drop_table('routing_run_groups')
    with op.batch_alter_table('routing_runs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_routing_runs_created_at'))
        batch_op.drop_index(batch_op.f('ix_routing_runs_channel'))
    op.drop_table('routing_runs')
