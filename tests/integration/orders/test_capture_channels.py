"""An order must name a configured channel (issue 11, item 4), on SQLite and PostgreSQL:
through the API, for managed and unmanaged orders, and through the bulk order import."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import delete

from openoms.adapters.db import models as m
from openoms.adapters.db.session import Database
from openoms.adapters.outbox import Outbox
from openoms.domain.file_lines import LineError
from openoms.schemas.orders import read_order_lines
from openoms.services.orders import import_orders
from openoms.worker.consumers import default_registry
from tests.integration.conftest import Api
from tests.integration.helpers import ORDER_TABLES, row_counts, stock
from tests.network import configure_channel
from tests.payloads import order_payload

TABLES = [*ORDER_TABLES, m.Job]


@pytest.fixture(autouse=True)
def _network(stocked: Database) -> None:
    """The stocked test network: channel web-uk configured, routed to "online"."""


def capture(api: Api, payload: dict[str, Any]) -> Any:
    # Keyless: a capture needs no Idempotency-Key, so a repeat or a refusal stores nothing.
    return api.keyless.post("/api/v1/orders", json=payload, headers=api.headers())


@pytest.mark.parametrize("lifecycle", ["MANAGED", "UNMANAGED"])
def test_an_order_for_an_unconfigured_channel_is_refused_naming_the_known_ones(
    api: Api, lifecycle: str
) -> None:
    configure_channel(api.db, ref="b2b")
    before = (row_counts(api.db, TABLES), stock(api.db))

    response = capture(api, order_payload(channel="no-such-channel", lifecycle=lifecycle))

    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json() == {
        "type": "https://openoms.dev/problems/channel-unknown",
        "title": "Channel is not configured",
        "status": 400,
        "code": "channel_unknown",
        "detail": "channel 'no-such-channel' is not configured; configured channels: b2b, web-uk",
        "field": "channel",
        "channel": "no-such-channel",
        "known_channels": ["b2b", "web-uk"],
    }
    assert (row_counts(api.db, TABLES), stock(api.db)) == before  # nothing stored or held


def test_a_configured_channel_captures_and_an_unmanaged_order_holds_nothing(api: Api) -> None:
    configure_channel(api.db, ref="marketplace", location_group=None)
    held = stock(api.db)

    managed = capture(api, order_payload(channel="marketplace"))
    unmanaged = capture(api, order_payload(external_reference="U-1", lifecycle="UNMANAGED"))

    assert (managed.status_code, managed.json()["channel"]) == (201, "marketplace")
    assert (unmanaged.status_code, unmanaged.json()["lifecycle"]) == (201, "UNMANAGED")
    assert row_counts(api.db, [m.Reservation])["reservations"] == 2  # the managed order's
    assert stock(api.db) == {
        **held,
        ("WH-LDN", "TEE-M"): (10, 3),  # a channel with no group ships from any location
        ("STORE-LDN", "MUG"): (10, 1),
    }


def test_a_captured_reference_is_answered_even_once_its_channel_is_gone(api: Api) -> None:
    first = capture(api, order_payload())
    # An order captured before channels were required: its channel has no configuration.
    with api.db.transaction() as session:
        session.execute(delete(m.Channel).where(m.Channel.ref == "web-uk"))
    before = row_counts(api.db, TABLES)

    again = capture(api, order_payload())
    new = capture(api, order_payload(external_reference="WEB-10002"))

    assert (again.status_code, again.json()["id"]) == (200, first.json()["id"])
    assert (new.status_code, new.json()["code"], new.json()["known_channels"]) == (
        400,
        "channel_unknown",
        [],
    )
    assert row_counts(api.db, TABLES) == before


def test_the_order_import_rejects_a_line_for_an_unconfigured_channel(db: Database) -> None:
    lines = [
        json.dumps(order_payload(external_reference="IMP-1")),
        json.dumps(order_payload(external_reference="IMP-2", channel="web-fr")),
        json.dumps(order_payload(external_reference="IMP-3", lifecycle="UNMANAGED", channel="x")),
    ]

    report = import_orders(db, Outbox(default_registry()), read_order_lines(lines))

    assert (report.accepted, report.duplicates) == (1, 0)
    assert report.rejected == [
        LineError(
            2,
            "channel",
            "channel 'web-fr' is not configured; configured channels: web-uk",
            "channel_unknown",
        ),
        LineError(
            3,
            "channel",
            "channel 'x' is not configured; configured channels: web-uk",
            "channel_unknown",
        ),
    ]
    assert row_counts(db, [m.OrderSummary])["order_summaries"] == 1
