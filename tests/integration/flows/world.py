"""What the flow tests share: orders of a chosen total, flows put through the API, and what
a run, a routing and an order's events look like afterwards."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from openoms.adapters.db import models as m
from openoms.adapters.db.session import Database
from openoms.adapters.outbox import Outbox
from openoms.worker.consumers import default_registry
from tests.integration.conftest import Api
from tests.integration.helpers import capture
from tests.payloads import order_payload


def priced_order(total: str, *, reference: str, channel: str = "web-uk") -> dict[str, Any]:
    """One TEE-M shipped from the online warehouses, priced `total` (no tax, no delivery)."""
    base = order_payload(external_reference=reference)
    group = base["delivery_groups"][0]
    group.pop("delivery_charge", None)
    return {
        **base,
        "channel": channel,
        "delivery_groups": [group],
        "items": [
            {
                "sku": "TEE-M",
                "quantity": 1,
                "unit_price": total,
                "tax": "0.00",
                "delivery_group": group["ref"],
            }
        ],
        "adjustments": [],
        "payments": [{"gateway": "sandbox", "token": "tok_visa", "amount": total}],
    }


def capture_total(db: Database, total: str, *, reference: str) -> str:
    return capture(db, Outbox(default_registry()), priced_order(total, reference=reference))


def put_flow(api: Api, ref: str, body: dict[str, Any]) -> Any:
    return api.client.put(f"/api/v1/flows/{ref}", json=body, headers=api.headers("admin"))


def note_flow(threshold: str = "100.00", *, enabled: bool = True) -> dict[str, Any]:
    """Notes every order over `threshold` on its creation."""
    return {
        "description": "note big orders",
        "trigger": "order_summary.created",
        "when": {"all": [{"field": "data.totals.grand_total", "op": "gt", "value": threshold}]},
        "actions": [{"type": "add_note", "note": f"over {threshold}"}],
        "enabled": enabled,
    }


def fulfillment_orders(db: Database, summary_id: str) -> int:
    with db.reading() as session:
        return (
            session.scalar(
                select(func.count()).where(m.FulfillmentOrder.order_summary_id == summary_id)
            )
            or 0
        )


def event_names(db: Database, summary_id: str, *names: str) -> list[str]:
    with db.reading() as session:
        query = select(m.Event.name).where(m.Event.order_summary_id == summary_id)
        if names:
            query = query.where(m.Event.name.in_(names))
        return list(session.scalars(query.order_by(m.Event.id)))


def runs(api: Api, ref: str) -> list[dict[str, Any]]:
    answer = api.client.get(f"/api/v1/flows/{ref}/runs", headers=api.headers("admin"))
    assert answer.status_code == 200, answer.text
    return list(answer.json()["items"])


def flow_tables(db: Database) -> dict[str, int]:
    with db.reading() as session:
        return {
            model.__tablename__: session.scalar(select(func.count()).select_from(model)) or 0
            for model in (m.Flow, m.FlowVersion, m.FlowRun)
        }
