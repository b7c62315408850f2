"""order summary holds: routing waits while an order has an active hold

A new table, empty: no order is held by upgrading. Downgrading drops it with every hold,
active or released (older code routes every order).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07 11:40:00.000000
"""
from alembic import op
import sqlalchemy as sa
import openoms.adapters.db.models


revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('order_summary_holds',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('order_summary_id', sa.String(length=40), nullable=False),
    sa.Column('reason', sa.String(length=500), nullable=False),
    sa.Column('held_by', sa.String(length=200), nullable=False),
    sa.Column('held_at', openoms.adapters.db.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('released_at', openoms.adapters.db.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('released_by', sa.String(length=200), nullable=True),
    sa.Column('release_reason', sa.String(length=500), nullable=True),
    sa.ForeignKeyConstraint(['order_summary_id'], ['order_summaries.id'], name=op.f('fk_order_summary_holds_order_summary_id_order_summaries')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_order_summary_holds'))
    )
    op.create_index('ix_order_summary_holds_active', 'order_summary_holds', ['order_summary_id', 'released_at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_order_summary_holds_active', table_name='order_summary_holds')
    op.drop_table('order_summary_holds')
