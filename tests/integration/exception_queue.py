"""The process exception queue the API and console tests share: three open exceptions raised
the way production raises them (the `queue` fixture), and the reads and actions both check
them with."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from openoms.adapters.carriers import Carriers
from openoms.adapters.db import models as m
from openoms.adapters.db.models import utcnow
from openoms.adapters.db.session import Database
from openoms.adapters.outbox import Outbox
from openoms.adapters.payments import Gateways
from openoms.services.orders import ChannelData, upsert_channel
from openoms.worker.consumers import default_registry
from tests.integration.conftest import Api
from tests.integration.helpers import bookkeeping, count
from tests.integration.worker import drain_db
from tests.network import stock_network
from tests.payloads import order_payload

BASE = "/api/v1/process-exceptions"


# Each no-route order's SKU is spread over two warehouses; once the orders are captured the
# channel ships from one location only: capture held the units, routing finds no single
# location for them.
STOCK = {
    ("WH-LDN", "TEE-M"): 2,
    ("WH-MAN", "TEE-M"): 1,
    ("WH-LDN", "MUG"): 2,
    ("WH-MAN", "MUG"): 1,
    ("WH-LDN", "CAP"): 10,
}


def outbox() -> Outbox:
    return Outbox(default_registry())


def drain(db: Database, gateways: Gateways | None = None, carriers: Carriers | None = None) -> None:
    """Run the worker (outbox relay and due jobs) until nothing is due."""
    drain_db(db, gateways=gateways, carriers=carriers)


def ship_from_one_location(db: Database) -> None:
    """The channel changed after capture: one location per delivery group."""
    with db.transaction() as session:
        upsert_channel(
            session, outbox(), "web-uk", ChannelData(location_group="online", max_splits=0)
        )


def place(api: Api, reference: str, sku: str, *, token: str = "tok_visa") -> str:
    """A one-group order of 3 × `sku` shipped to London (35.99 with delivery), captured
    through the API; returns its order summary id."""
    home = order_payload()["delivery_groups"][0]
    item = {"sku": sku, "quantity": 3, "unit_price": "10.00", "tax": "0.00"}
    payload = order_payload(
        external_reference=reference,
        delivery_groups=[home],
        items=[{**item, "delivery_group": "home"}],
        adjustments=[],
        payments=[{"gateway": "sandbox", "token": token, "amount": "35.99"}],
    )
    response = api.client.post("/api/v1/orders", json=payload, headers=api.headers())
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def summary(api: Api, summary_id: str) -> dict[str, Any]:
    response = api.client.get(f"/api/v1/order-summaries/{summary_id}", headers=api.headers())
    assert response.status_code == 200, response.text
    return dict(response.json())


def active_count(api: Api, summary_id: str) -> int:
    return int(summary(api, summary_id)["active_process_exception_count"])


def listed(api: Api, query: str = "") -> list[dict[str, Any]]:
    response = api.client.get(f"{BASE}?{query}", headers=api.headers("agent"))
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


def act(
    api: Api, exception_id: str, action: str, *, note: str | None = None, **headers: str
) -> Any:
    body = {} if note is None else {"note": note}
    return api.client.post(
        f"{BASE}/{exception_id}/actions/{action}",
        json=body,
        headers=api.headers("agent", **headers),
    )


def events(db: Database, prefix: str = "process_exception.") -> list[tuple[str, dict[str, Any]]]:
    with db.reading() as session:
        rows = session.scalars(
            select(m.Event).where(m.Event.name.startswith(prefix)).order_by(m.Event.id)
        ).all()
        return [(e.name, dict(e.payload)) for e in rows]


def route_jobs(db: Database) -> list[tuple[str, str, int]]:
    """(dedupe key, status, attempts) of every routing job."""
    with db.reading() as session:
        rows = session.scalars(select(m.Job).where(m.Job.kind == "route_group").order_by(m.Job.id))
        return [(j.dedupe_key, j.status, j.attempts) for j in rows]


def snapshot(db: Database) -> tuple[Any, ...]:
    """Everything a refused action must leave alone."""
    with db.reading() as session:
        exceptions = session.scalars(select(m.ProcessException).order_by(m.ProcessException.id))
        summaries = session.scalars(select(m.OrderSummary).order_by(m.OrderSummary.id))
        return (
            [(e.id, e.status, e.occurrences, e.updated_at) for e in exceptions],
            [(s.id, s.active_process_exception_count) for s in summaries],
            count(db, m.Event),
            bookkeeping(db),
        )


@pytest.fixture
def queue(api: Api) -> dict[str, str]:
    """Two orders routing cannot place (a routing exception each; the second one's card is
    refused as well: a payment exception) and one that routes: exception ids by name."""
    stock_network(api.db, stock=STOCK)
    tee = place(api, "PE-TEE", "TEE-M")
    mug = place(api, "PE-MUG", "MUG", token="tok_hard_decline")
    fine = place(api, "PE-CAP", "CAP")
    ship_from_one_location(api.db)
    drain(api.db)
    # The failed jobs back off for about two seconds: hold them all off for an hour, so a
    # slow run finds none due before a test retries one.
    with api.db.transaction() as session:
        session.execute(
            update(m.Job)
            .where(m.Job.status == "pending")
            .values(available_at=utcnow() + timedelta(hours=1))
        )
    by_order = {(e["order_summary_id"], e["category"]): e["id"] for e in listed(api, "limit=200")}
    assert sorted(by_order) == sorted([(tee, "routing"), (mug, "routing"), (mug, "payment")])
    return {
        "tee_order": tee,
        "mug_order": mug,
        "fine_order": fine,
        "tee_routing": by_order[(tee, "routing")],
        "mug_routing": by_order[(mug, "routing")],
        "mug_payment": by_order[(mug, "payment")],
    }
