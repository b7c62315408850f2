"""open process exceptions name the job that retries them

From this release whoever raises a process exception records the job an agent's retry
queues (kind, key, payload) in its action, under "retry", so the exceptions area needs no
knowledge of the areas that raise them. Exceptions still open from before carry only the
failed action's kind and payload: each gets the retry job the release before rebuilt from
them at retry time. Kinds it could not retry get none and stay unretryable. Downgrading
leaves the key: older code reads only "kind" and "payload".

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07 07:00:00.000000
"""
from typing import Any

from alembic import op
import sqlalchemy as sa


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None

_ACTIVE = ('NEW', 'TRIAGED', 'PAUSED')


def _retry(kind: str, p: dict[str, Any], refund_memo: str | None) -> dict[str, Any] | None:
    """The retry job of an exception's action, as the release before rebuilt it."""
    retry: dict[str, Any] | None = None
    if kind == 'route_group':
        group, round = str(p['group_summary_id']), int(p['round'])
        job = {'group_summary_id': group, 'round': round}
        retry = {'key': f'route:{group}:{round}', 'payload': job}
    elif kind == 'route_reship':
        round = int(p.get('round', 1))
        key = f"reship:{p['reship_id']}:{p['group_summary_id']}"
        retry = {'key': key if round == 1 else f'{key}:{round}', 'payload': dict(p)}
    elif kind == 'create_label':
        shipment = str(p['shipment_id'])
        retry = {
            'key': f'label:{shipment}',
            'payload': {'shipment_id': shipment, 'agent_retry': True},
            'agent_payload': True,
        }
    elif kind == 'ensure_funds':
        invoice = p.get('invoice_id')
        job = {'order_summary_id': str(p['order_summary_id']), 'invoice_id': invoice}
        retry = {
            'key': f'ensure_funds:{invoice}' if invoice else None,
            'payload': job,
            'held_payload': {**job, 'retry_blocked': True},
        }
    elif kind == 'authorize_payments':
        summary = str(p['order_summary_id'])
        retry = {'key': f'authorize_payments:{summary}', 'payload': {'order_summary_id': summary}}
    elif kind == 'verify_authorizations':
        summary = str(p['order_summary_id'])
        job = {'order_summary_id': summary, 'references': list(p['references'])}
        retry = {'key': f'verify_authorizations:{summary}', 'payload': job}
    elif kind == 'ensure_refunds':
        summary = str(p['order_summary_id'])
        key = f'ensure_refunds:{summary}:{refund_memo}' if refund_memo else None
        retry = {'key': key, 'payload': {'order_summary_id': summary}}
    if retry is None:
        return None
    return {'kind': kind, 'agent_payload': False, **retry}


def upgrade() -> None:
    connection = op.get_bind()
    exceptions = sa.table(
        'process_exceptions',
        sa.column('id', sa.String),
        sa.column('status', sa.String),
        sa.column('dedupe_key', sa.String),
        sa.column('action', sa.JSON),
    )
    refunds = sa.table(
        'refunds', sa.column('idempotency_key', sa.String), sa.column('credit_memo_id', sa.String)
    )
    rows = connection.execute(
        sa.select(exceptions.c.id, exceptions.c.dedupe_key, exceptions.c.action).where(
            exceptions.c.status.in_(_ACTIVE)
        )
    ).all()
    for id, dedupe_key, action in rows:
        if not isinstance(action, dict) or 'retry' in action:
            continue
        kind, payload = action.get('kind'), action.get('payload')
        if not isinstance(kind, str) or not isinstance(payload, dict):
            continue
        memo = None
        if kind == 'ensure_refunds':
            memo = connection.execute(
                sa.select(refunds.c.credit_memo_id)
                .where(refunds.c.idempotency_key == dedupe_key)
                .limit(1)
            ).scalar()
        try:
            retry = _retry(kind, payload, memo)
        except (KeyError, TypeError, ValueError):
            continue  # a payload the release before could not retry either
        if retry is not None:
            connection.execute(
                exceptions.update()
                .where(exceptions.c.id == id)
                .values(action={**action, 'retry': retry})
            )


def downgrade() -> None:
    pass
