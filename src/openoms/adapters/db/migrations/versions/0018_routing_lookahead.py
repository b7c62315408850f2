"""routing runs' look-ahead: a channel's days of past orders its runs draw expected demand from

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-07 21:40:00.000000
"""
from alembic import op
import sqlalchemy as sa


revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('channels', schema=None) as batch_op:
        batch_op.add_column(sa.Column('routing_lookahead_days', sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('channels', schema=None) as batch_op:
        batch_op.drop_column('routing_lookahead_days')
