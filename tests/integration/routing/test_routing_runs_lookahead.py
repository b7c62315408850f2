"""A routing run's look-ahead (services/routing/lookahead.py) on SQLite and PostgreSQL: with
the channel's `routing_lookahead_days` set, a run weighs the orders the channel took in the
same hours of the last days, and leaves scarce stock where they would need it; the forecast
reads only that channel's past orders of those hours; the setting is the channel's."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select, update

from openoms.adapters.db import models as m
from openoms.adapters.db.session import Database
from openoms.adapters.outbox import Outbox
from openoms.domain.inventory import LocationType
from openoms.services.orders import ChannelData, channel_policy, upsert_channel
from openoms.services.routing import RunRequest, RunScope, run_routing
from openoms.services.routing.lookahead import forecast
from openoms.worker.consumers import default_registry
from tests.integration.conftest import Api
from tests.integration.helpers import capture
from tests.integration.worker import drain_db
from tests.network import stock_network
from tests.payloads import one_unit_each

# London holds one X and the only Y, Manchester one X; the past orders ship from York.
SITES = {
    "WH-LDN": (LocationType.WAREHOUSE, "London", 51.50, -0.12, True, False, "online"),
    "WH-MAN": (LocationType.WAREHOUSE, "Manchester", 53.48, -2.24, True, False, "online"),
    "WH-YRK": (LocationType.WAREHOUSE, "York", 53.96, -1.08, True, False, "online"),
}
NOW = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)


def outbox() -> Outbox:
    return Outbox(default_registry())


def order(ref: str, skus: list[str], at: datetime, channel: str = "web-uk") -> dict[str, Any]:
    return one_unit_each(ref, skus, channel=channel, ordered_at=at.isoformat())


def past(db: Database, orders: list[tuple[str, list[str], datetime, str]]) -> None:
    """Orders captured and routed (from York's stock), then taken by the warehouse: they
    hold no stock a run could move and are in no run."""
    for ref, skus, at, channel in orders:
        capture(db, outbox(), order(ref, skus, at, channel))
        drain_db(db)
    with db.transaction() as session:
        session.execute(update(m.FulfillmentOrder).values(status="ASSIGNED"))


def world(db: Database, lookahead_days: int | None, now: datetime = NOW) -> str:
    """Yesterday and the day before, an hour later than now, the channel took an order of X
    and Y. Now A (X) is routed to London's X: the one location that ships X and Y together."""
    york = {("WH-YRK", "X"): 2, ("WH-YRK", "Y"): 2}  # P1 and P2 take them
    stock_network(db, stock=york, locations=SITES)
    past(
        db,
        [
            ("P1", ["X", "Y"], now - timedelta(hours=23), "web-uk"),
            ("P2", ["X", "Y"], now - timedelta(hours=47), "web-uk"),
        ],
    )
    stock_network(
        db, stock={("WH-LDN", "X"): 1, ("WH-LDN", "Y"): 1, ("WH-MAN", "X"): 1}, locations=SITES
    )
    with db.transaction() as session:
        session.execute(update(m.Channel).values(routing_lookahead_days=lookahead_days))
    a = capture(db, outbox(), order("A", ["X"], now))
    drain_db(db)
    return a


def planned(db: Database, run_id: str) -> tuple[m.RoutingRun, list[list[dict[str, Any]]]]:
    with db.reading() as session:
        run = session.get(m.RoutingRun, run_id)
        assert run is not None
        groups = session.scalars(
            select(m.RoutingRunGroup).where(m.RoutingRunGroup.run_id == run_id)
        ).all()
        return run, [g.planned for g in groups]


def only_a(db: Database, a: str) -> None:
    with db.reading() as session:
        located = session.execute(
            select(m.Location.ref, m.FulfillmentOrderLineItem.sku)
            .join(m.FulfillmentOrder, m.FulfillmentOrder.location_id == m.Location.id)
            .join(m.FulfillmentOrderLineItem)
            .where(m.FulfillmentOrder.order_summary_id == a)
        ).all()
    assert [tuple(r) for r in located] == [("WH-LDN", "X")]


def test_without_look_ahead_a_run_leaves_the_single_line_order_on_the_last_unit(
    db: Database,
) -> None:
    a = world(db, lookahead_days=None)
    only_a(db, a)

    run_id = run_routing(db, outbox(), RunRequest("web-uk", RunScope.UNRELEASED), NOW)

    run, plans = planned(db, run_id)
    assert run.groups == 1
    assert [[(p["location"], p["sku"]) for p in plan] for plan in plans] == [[("WH-LDN", "X")]]
    assert "look_ahead" not in run.totals


def test_with_look_ahead_a_run_leaves_the_unit_for_the_expected_two_line_order(
    db: Database,
) -> None:
    a = world(db, lookahead_days=2)
    only_a(db, a)

    run_id = run_routing(db, outbox(), RunRequest("web-uk", RunScope.UNRELEASED), NOW)

    run, plans = planned(db, run_id)
    assert run.groups == 1  # the past orders are not among the run's groups
    assert [[(p["location"], p["sku"]) for p in plan] for plan in plans] == [[("WH-MAN", "X")]]
    look = run.totals["look_ahead"]
    assert (look["days"], look["past_groups"], look["expected_groups"]) == (2, 2, 2)
    assert look["windows"][0] == [
        (NOW - timedelta(days=1)).isoformat(),
        (NOW - timedelta(days=1, hours=-12)).isoformat(),
    ]
    assert len(look["windows"]) == 2


def test_the_forecast_reads_only_the_channels_past_orders_of_those_hours(db: Database) -> None:
    stock_network(
        db, stock={("WH-YRK", "X"): 20, ("WH-YRK", "Y"): 20, ("WH-YRK", "Z"): 20}, locations=SITES
    )
    with db.transaction() as session:
        upsert_channel(session, outbox(), "web-eu", ChannelData(location_group="online"))
    day = timedelta(days=1)
    past(
        db,
        [
            ("IN-1", ["X", "Y"], NOW - day + timedelta(hours=1), "web-uk"),  # yesterday 10:00
            ("IN-2", ["Y", "Z"], NOW - 2 * day + timedelta(hours=11), "web-uk"),  # 2 days, 20:00
            ("ONE", ["X"], NOW - day + timedelta(hours=2), "web-uk"),  # one line
            ("EARLY", ["X", "Z"], NOW - day - timedelta(minutes=1), "web-uk"),  # before the hours
            ("LATE", ["X", "Z"], NOW - day + timedelta(hours=12), "web-uk"),  # after them
            ("OLD", ["X", "Z"], NOW - 3 * day + timedelta(hours=1), "web-uk"),  # 3 days ago
            ("TODAY", ["X", "Z"], NOW - timedelta(hours=1), "web-uk"),  # today, before now
            ("FUTURE", ["X", "Z"], NOW + timedelta(hours=1), "web-uk"),  # ordered_at after now
            ("OTHER", ["X", "Z"], NOW - day + timedelta(hours=1), "web-eu"),  # another channel
        ],
    )
    with db.reading() as session:
        policy = channel_policy(session, "web-uk")
        locations = session.scalars(select(m.Location).order_by(m.Location.ref)).all()

        ahead = forecast(session, policy, locations, NOW, 2)

    assert ahead.past_groups == 2
    assert sorted(sorted(e.need.items()) for e in ahead.expected) == [
        [("X", 1), ("Y", 1)],
        [("Y", 1), ("Z", 1)],
    ]
    assert all(e.weight == 1 / 2 for e in ahead.expected)  # 2 groups over 2 days, both drawn
    assert all(e.max_locations == policy.max_splits + 1 for e in ahead.expected)


def test_the_forecast_draws_at_most_its_samples_weighted_by_what_each_stands_for(
    db: Database,
) -> None:
    stock_network(db, stock={("WH-YRK", "X"): 20, ("WH-YRK", "Y"): 20}, locations=SITES)
    at = NOW - timedelta(days=1)
    past(db, [(f"P{k}", ["X", "Y"], at + timedelta(minutes=k), "web-uk") for k in range(6)])
    with db.reading() as session:
        policy = channel_policy(session, "web-uk")
        locations = session.scalars(select(m.Location).order_by(m.Location.ref)).all()

        ahead = forecast(session, policy, locations, NOW, 3, samples=4)

    assert (ahead.past_groups, len(ahead.expected)) == (6, 4)
    assert all(e.weight == 6 / (3 * 4) for e in ahead.expected)
    assert ahead.record()["expected_per_day"] == 2.0


def test_a_channel_sets_its_look_ahead_and_its_runs_show_it(api: Api) -> None:
    world(api.db, None, datetime.now(UTC))
    admin = api.headers("admin")
    put = api.client.put(
        "/api/v1/channels/web-uk",
        json={"location_group": "online", "routing_lookahead_days": 2},
        headers=admin,
    )
    assert put.status_code in (200, 201), put.text
    got = api.client.get("/api/v1/channels/web-uk", headers=admin).json()
    assert got["routing_lookahead_days"] == 2
    for bad in (0, 29):
        refused = api.client.put(
            "/api/v1/channels/web-uk",
            json={"location_group": "online", "routing_lookahead_days": bad},
            headers=admin,
        )
        assert refused.status_code == 422
        assert refused.headers["content-type"].startswith("application/problem+json")
    with api.db.reading() as session:
        assert session.scalars(select(m.Channel.routing_lookahead_days)).all() == [2]
    ran = api.client.post(
        "/api/v1/routing/runs", json={"channel": "web-uk", "scope": "unreleased"}, headers=admin
    )
    assert ran.status_code == 201, ran.text
    body = ran.json()
    assert body["look_ahead"]["days"] == 2
    assert (body["look_ahead"]["past_groups"], body["look_ahead"]["expected_groups"]) == (2, 2)
    assert [[p["location"] for p in g["planned"]] for g in body["group_outcomes"]] == [
        ["WH-MAN"]
    ], str(body)
    got = api.client.get(f"/api/v1/routing/runs/{body['id']}", headers=admin).json()
    assert got["look_ahead"] == body["look_ahead"]
