"""API keys bound to channels; channels verify reported authorizations

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07 02:40:00.000000
"""
from alembic import op
import sqlalchemy as sa


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('api_keys', schema=None) as batch_op:
        batch_op.add_column(sa.Column('channels', sa.JSON(), nullable=True))

    # Channels configured before this revision keep taking authorizations on trust; a
    # channel created from now on verifies them (the model's default).
    with op.batch_alter_table('channels', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('verify_authorizations', sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table('channels', schema=None) as batch_op:
        batch_op.drop_column('verify_authorizations')

    with op.batch_alter_table('api_keys', schema=None) as batch_op:
        batch_op.drop_column('channels')
