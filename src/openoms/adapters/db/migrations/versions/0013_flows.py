"""automation flows: flows, their versions and runs; an order's routing strategy override

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07 12:00:00.000000
"""
from alembic import op
import sqlalchemy as sa


revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table(
        'flows',
        sa.Column('id', sa.String(length=40), nullable=False),
        sa.Column('ref', sa.String(length=100), nullable=False),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.Column('trigger', sa.String(length=100), nullable=False),
        sa.Column('enabled', sa.Boolean(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_flows')),
        sa.UniqueConstraint('ref', name=op.f('uq_flows_ref')),
    )
    op.create_index('ix_flows_trigger_enabled', 'flows', ['trigger', 'enabled'], unique=False)
    op.create_table(
        'flow_versions',
        sa.Column('id', _ID, autoincrement=True, nullable=False),
        sa.Column('flow_id', sa.String(length=40), nullable=False),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.Column('description', sa.Text(), nullable=True),
        sa.Column('trigger', sa.String(length=100), nullable=False),
        sa.Column('when', sa.JSON(), nullable=True),
        sa.Column('actions', sa.JSON(), nullable=False),
        sa.Column('enabled', sa.Boolean(), nullable=False),
        sa.Column('field_kinds', sa.JSON(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['flow_id'], ['flows.id'], name=op.f('fk_flow_versions_flow_id_flows')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_flow_versions')),
        sa.UniqueConstraint('flow_id', 'version', name=op.f('uq_flow_versions_flow_id_version')),
    )
    op.create_table(
        'flow_runs',
        sa.Column('id', _ID, autoincrement=True, nullable=False),
        sa.Column('flow_id', sa.String(length=40), nullable=False),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.Column('event_id', sa.String(length=40), nullable=False),
        sa.Column('event_type', sa.String(length=100), nullable=False),
        sa.Column('order_summary_id', sa.String(length=40), nullable=True),
        sa.Column('matched', sa.Boolean(), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('actions_done', sa.JSON(), nullable=False),
        sa.Column('errors', sa.JSON(), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['flow_id'], ['flows.id'], name=op.f('fk_flow_runs_flow_id_flows')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_flow_runs')),
        sa.UniqueConstraint('flow_id', 'event_id', name=op.f('uq_flow_runs_flow_id_event_id')),
    )
    op.create_index('ix_flow_runs_flow_id_id', 'flow_runs', ['flow_id', 'id'], unique=False)
    op.create_index('ix_flow_runs_event_id', 'flow_runs', ['event_id'], unique=False)
    with op.batch_alter_table('order_summaries', schema=None) as batch_op:
        batch_op.add_column(sa.Column('routing_strategy', sa.String(length=32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('order_summaries', schema=None) as batch_op:
        batch_op.drop_column('routing_strategy')
    op.drop_index('ix_flow_runs_event_id', table_name='flow_runs')
    op.drop_index('ix_flow_runs_flow_id_id', table_name='flow_runs')
    op.drop_table('flow_runs')
    op.drop_table('flow_versions')
    op.drop_index('ix_flows_trigger_enabled', table_name='flows')
    op.drop_table('flows')
