"""configure the channels orders already use: orders must name a configured channel now

Before 0007's release an order could name a channel nobody configured; it ran under the
default policy of that time (every active location, reject shortages, fewest splits with at
most 2, capture on shipment, no returnless refunds, no return fee, refunds when RECEIVED,
reported authorizations taken on trust). Such orders would now stop with channel_unknown in
routing, returns and payments, so each channel in use is configured with exactly that
policy. Downgrading leaves the rows: they are configuration, and harmless to older code.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07 05:40:00.000000
"""
from datetime import datetime, timezone

from alembic import op
import sqlalchemy as sa
import openoms.adapters.db.models


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    connection = op.get_bind()
    in_use = connection.execute(
        sa.text(
            "SELECT DISTINCT channel FROM order_summaries"
            " WHERE channel NOT IN (SELECT ref FROM channels) ORDER BY channel"
        )
    ).scalars().all()
    if not in_use:
        return
    channels = sa.table(
        'channels',
        sa.column('ref', sa.String),
        sa.column('location_group_id', sa.String),
        sa.column('shortage_policy', sa.String),
        sa.column('routing_strategy', sa.String),
        sa.column('max_splits', sa.Integer),
        sa.column('capture_policy', sa.String),
        sa.column('returnless_threshold', sa.JSON),
        sa.column('return_fee', sa.JSON),
        sa.column('refund_eligible_status', sa.String),
        sa.column('verify_authorizations', sa.Boolean),
        sa.column('updated_at', openoms.adapters.db.models.UTCDateTime()),
    )
    now = datetime.now(timezone.utc)
    op.bulk_insert(
        channels,
        [
            {
                'ref': ref,
                'location_group_id': None,
                'shortage_policy': 'reject',
                'routing_strategy': 'fewest_splits',
                'max_splits': 2,
                'capture_policy': 'on_shipment',
                'returnless_threshold': {},
                'return_fee': {},
                'refund_eligible_status': 'RECEIVED',
                'verify_authorizations': False,
                'updated_at': now,
            }
            for ref in in_use
        ],
    )


def downgrade() -> None:
    pass
