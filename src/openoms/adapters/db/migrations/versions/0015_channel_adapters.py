"""channel adapters: a channel's platform settings (Shopify: shop domain, webhook
secret, connector), its inbox of deliveries (unique on channel + webhook id), and the
sandbox channel connector's ledger

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07 14:43:35.541467
"""
from alembic import op
import sqlalchemy as sa
import openoms.adapters.db.models


revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('channel_inbox',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('channel', sa.String(length=100), nullable=False),
    sa.Column('webhook_id', sa.String(length=200), nullable=False),
    sa.Column('topic', sa.String(length=100), nullable=False),
    sa.Column('shop_domain', sa.String(length=255), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('external_reference', sa.String(length=100), nullable=True),
    sa.Column('order_name', sa.String(length=100), nullable=True),
    sa.Column('order_summary_id', sa.String(length=40), nullable=True),
    sa.Column('outcome', sa.Text(), nullable=True),
    sa.Column('received_at', openoms.adapters.db.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('processed_at', openoms.adapters.db.models.base.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_channel_inbox')),
    sa.UniqueConstraint('channel', 'webhook_id', name=op.f('uq_channel_inbox_channel_webhook_id'))
    )
    with op.batch_alter_table('channel_inbox', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_channel_inbox_external_reference'), ['external_reference'], unique=False)
        batch_op.create_index(batch_op.f('ix_channel_inbox_order_name'), ['order_name'], unique=False)
        batch_op.create_index(batch_op.f('ix_channel_inbox_order_summary_id'), ['order_summary_id'], unique=False)

    op.create_table('sandbox_channel_calls',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('idempotency_key', sa.String(length=200), nullable=False),
    sa.Column('channel', sa.String(length=100), nullable=False),
    sa.Column('operation', sa.String(length=20), nullable=False),
    sa.Column('external_reference', sa.String(length=100), nullable=False),
    sa.Column('request', sa.JSON(), nullable=False),
    sa.Column('created_at', openoms.adapters.db.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sandbox_channel_calls')),
    sa.UniqueConstraint('idempotency_key', name=op.f('uq_sandbox_channel_calls_idempotency_key'))
    )
    with op.batch_alter_table('sandbox_channel_calls', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sandbox_channel_calls_channel'), ['channel'], unique=False)

    op.create_table('channel_adapters',
    sa.Column('channel', sa.String(length=100), nullable=False),
    sa.Column('type', sa.String(length=20), nullable=False),
    sa.Column('shop_domain', sa.String(length=255), nullable=False),
    sa.Column('webhook_secret', sa.Text(), nullable=False),
    sa.Column('connector', sa.String(length=20), nullable=False),
    sa.Column('connector_base_url', sa.String(length=500), nullable=True),
    sa.Column('connector_token', sa.Text(), nullable=True),
    sa.Column('created_at', openoms.adapters.db.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', openoms.adapters.db.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['channel'], ['channels.ref'], name=op.f('fk_channel_adapters_channel_channels')),
    sa.PrimaryKeyConstraint('channel', name=op.f('pk_channel_adapters'))
    )


def downgrade() -> None:
    op.drop_table('channel_adapters')
    with op.batch_alter_table('sandbox_channel_calls', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sandbox_channel_calls_channel'))

    op.drop_table('sandbox_channel_calls')
    with op.batch_alter_table('channel_inbox', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_channel_inbox_order_summary_id'))
        batch_op.drop_index(batch_op.f('ix_channel_inbox_order_name'))
        batch_op.drop_index(batch_op.f('ix_channel_inbox_external_reference'))

    op.drop_table('channel_inbox')
