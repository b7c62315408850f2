"""availability reads from one covering index

Replaces the index on inventory_records(sku) with one on (sku, location_id) that, on
PostgreSQL, also carries the figures availability reads (on_hand, reserved, safety_stock,
futures), so get-availability is answered by an index-only scan instead of visiting one
heap page per record. Building it locks the table against writes for the time it takes
(about a second per million records on the development machine): run it in a quiet
moment. Downgrading restores the plain index on sku.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07 12:00:00.000000
"""
from alembic import op


revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index('ix_inventory_records_sku', table_name='inventory_records')
    op.create_index(
        'ix_inventory_records_sku_location',
        'inventory_records',
        ['sku', 'location_id'],
        postgresql_include=['on_hand', 'reserved', 'safety_stock', 'futures'],
    )


def downgrade() -> None:
    op.drop_index('ix_inventory_records_sku_location', table_name='inventory_records')
    op.create_index('ix_inventory_records_sku', 'inventory_records', ['sku'])
