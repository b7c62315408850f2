"""Invoicing on SQLite and PostgreSQL: each shipment of the §12 order is invoiced by the
`invoicing` consumer in its delivery's transaction; the invoices add up to the order's
grand total to the penny, and a retried delivery never invoices twice."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from openoms.adapters.db import models as m
from openoms.adapters.db.session import Database
from openoms.adapters.outbox import ConsumerRegistry, Outbox
from openoms.services.finance import invoice_shipment
from openoms.services.views import order_summary_view
from openoms.worker.consumers import default_registry
from openoms.worker.relay import process_batch, replay
from tests.integration.fulfillment_world import capture, make_fo, ship
from tests.integration.helpers import count


@pytest.fixture
def registry() -> ConsumerRegistry:
    return default_registry()


@pytest.fixture
def outbox(registry: ConsumerRegistry) -> Outbox:
    return Outbox(registry)


def drain(db: Database, registry: ConsumerRegistry) -> None:
    while process_batch(db, registry):
        pass


def invoices(db: Database, summary_id: str) -> list[tuple[str, int, list[tuple[Any, ...]]]]:
    """(source_key, grand_total, [(sku, quantity, total_price, adjustments, tax)]) in order."""
    with db.reading() as session:
        rows = session.scalars(
            select(m.Invoice)
            .where(m.Invoice.order_summary_id == summary_id)
            .order_by(m.Invoice.created_at, m.Invoice.id)
        ).all()
        result = []
        for invoice in rows:
            lines = session.scalars(
                select(m.InvoiceLine)
                .where(m.InvoiceLine.invoice_id == invoice.id)
                .order_by(m.InvoiceLine.id)
            ).all()
            assert invoice.status == "POSTED"
            assert invoice.balance == invoice.grand_total
            result.append(
                (
                    invoice.source_key,
                    invoice.grand_total,
                    [(ln.sku, ln.quantity, ln.total_price, ln.adjustments, ln.tax) for ln in lines],
                )
            )
        return result


def test_split_shipments_invoice_the_order_to_the_penny(
    stocked: Database, outbox: Outbox, registry: ConsumerRegistry
) -> None:
    db = stocked
    summary_id = capture(db, outbox)
    home = make_fo(db, outbox, summary_id=summary_id)
    store = make_fo(db, outbox, summary_id=summary_id, location="STORE-LDN", group="store")
    first = ship(db, outbox, home, items=[("TEE-M", 1)])
    second = ship(db, outbox, home, items=[("TEE-M", 2)])
    third = ship(db, outbox, store)
    drain(db, registry)

    assert invoices(db, summary_id) == [
        (
            f"shipment:{first.id}",
            2654,
            [("TEE-M", 1, 2000, -345, 400), ("DELIVERY", 1, 499, 0, 100)],
        ),
        (f"shipment:{second.id}", 4110, [("TEE-M", 2, 4000, -690, 800)]),
        (f"shipment:{third.id}", 895, [("MUG", 1, 800, -65, 160)]),
    ]
    assert sum(total for _, total, _ in invoices(db, summary_id)) == 7659  # 76.59
    with db.reading() as session:
        view = order_summary_view(session, summary_id)
    assert [i["grand_total"] for i in view["invoices"]] == ["26.54", "41.10", "8.95"]
    assert view["invoices"][0]["lines"][1]["type"] == "delivery_charge"
    assert view["credit_memos"] == []
    created = [e for e in view["events"] if e["name"] == "invoice.created"]
    assert [e["payload"]["grand_total"] for e in created] == ["26.54", "41.10", "8.95"]


def test_two_shipments_invoice_the_whole_order(
    stocked: Database, outbox: Outbox, registry: ConsumerRegistry
) -> None:
    db = stocked
    summary_id = capture(db, outbox)
    ship(db, outbox, make_fo(db, outbox, summary_id=summary_id))
    ship(
        db, outbox, make_fo(db, outbox, summary_id=summary_id, location="STORE-LDN", group="store")
    )
    drain(db, registry)
    assert [total for _, total, _ in invoices(db, summary_id)] == [6764, 895]  # 76.59


def test_a_retried_delivery_never_invoices_twice(
    stocked: Database, outbox: Outbox, registry: ConsumerRegistry
) -> None:
    db = stocked
    summary_id = capture(db, outbox)
    shipment = ship(db, outbox, make_fo(db, outbox, summary_id=summary_id))
    drain(db, registry)
    before = invoices(db, summary_id)
    events_before = count(db, m.Event, m.Event.name == "invoice.created")

    with db.reading() as session:
        event_id = session.scalars(
            select(m.Event.event_id).where(m.Event.name == "fulfillment_order.shipped")
        ).one()
    assert replay(db, consumer="invoicing", event_ids=[event_id], dead_only=False) == 1
    drain(db, registry)
    with db.transaction() as session:
        again = invoice_shipment(session, outbox, shipment.id)
        assert again is not None
        assert again.source_key == f"shipment:{shipment.id}"

    assert invoices(db, summary_id) == before
    assert len(before) == 1
    assert count(db, m.Invoice) == 1
    assert count(db, m.Event, m.Event.name == "invoice.created") == events_before == 1
