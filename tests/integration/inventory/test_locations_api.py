"""Locations, location groups and channels through the HTTP API, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from sqlalchemy import select

from openoms.adapters.db import models as m
from openoms.adapters.db.session import Database
from openoms.domain.errors import ChannelUnknown
from openoms.services.orders import (
    CapturePolicy,
    ChannelPolicy,
    RoutingStrategy,
    ShortagePolicy,
    channel_policy,
)
from tests.integration.conftest import Api
from tests.integration.helpers import row_counts

TABLES = [m.Location, m.LocationGroup, m.LocationGroupMember, m.Channel, m.Event]


def events(db: Database) -> list[tuple[str, dict[str, Any]]]:
    with db.reading() as session:
        rows = session.scalars(select(m.Event).order_by(m.Event.id))
        return [(e.name, e.payload) for e in rows]


def location_payload(
    *,
    name: str = "London warehouse",
    type: str = "warehouse",
    country: str = "GB",
    lat: float | None = 51.5,
    lon: float | None = -0.12,
    can_ship: bool = True,
    can_pickup: bool = False,
    groups: list[str] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    address: dict[str, Any] = {"line1": "1 Dock Rd", "city": "London", "country": country}
    if lat is not None:
        address["lat"] = lat
    if lon is not None:
        address["lon"] = lon
    return {
        "name": name,
        "type": type,
        "address": address,
        "can_ship": can_ship,
        "can_pickup": can_pickup,
        "groups": ["online"] if groups is None else groups,
        **extra,
    }


def put(api: Api, path: str, body: dict[str, Any], scope: str = "admin") -> Any:
    return api.client.put(f"/api/v1/{path}", json=body, headers=api.headers(scope))


def get(api: Api, path: str, scope: str = "storefront", **params: Any) -> Any:
    return api.client.get(f"/api/v1/{path}", params=params, headers=api.headers(scope))


def refs(response: Any) -> list[str]:
    assert response.status_code == 200, response.text
    return [item["ref"] for item in response.json()["items"]]


# --- locations --------------------------------------------------------------------------


def test_put_creates_a_location_then_replaces_it(api: Api) -> None:
    costs = [
        {"country": "GB", "currency": "GBP", "per_shipment": "3.50", "per_unit": "0.25"},
        {"country": "*", "currency": "GBP", "per_shipment": "12"},
    ]
    created = put(api, "locations/WH-1", location_payload(daily_capacity=500, shipping_costs=costs))

    assert created.status_code == 201, created.text
    body = created.json()
    assert body.pop("created_at") == body.pop("updated_at")
    assert body == {
        "ref": "WH-1",
        "name": "London warehouse",
        "type": "warehouse",
        "address": {
            "line1": "1 Dock Rd",
            "city": "London",
            "region": None,
            "postal_code": None,
            "country": "GB",
            "lat": 51.5,
            "lon": -0.12,
        },
        "can_ship": True,
        "can_pickup": False,
        "active": True,
        "daily_capacity": 500,
        "shipping_costs": [
            {"country": "GB", "currency": "GBP", "per_shipment": "3.50", "per_unit": "0.25"},
            {"country": "*", "currency": "GBP", "per_shipment": "12.00", "per_unit": "0.00"},
        ],
        "groups": ["online"],
    }
    with api.db.reading() as session:
        row = session.scalars(select(m.Location)).one()
        assert row.shipping_costs == [
            {"country": "GB", "currency": "GBP", "per_shipment": 350, "per_unit": 25},
            {"country": "*", "currency": "GBP", "per_shipment": 1200, "per_unit": 0},
        ]

    replaced = put(api, "locations/WH-1", location_payload(name="WH One", active=False))

    assert replaced.status_code == 200
    body = replaced.json()
    assert (body["name"], body["active"], body["daily_capacity"], body["shipping_costs"]) == (
        "WH One",
        False,
        None,
        [],
    )
    assert get(api, "locations/WH-1").json() == body
    assert row_counts(api.db, TABLES) == {
        "locations": 1,
        "location_groups": 1,
        "location_group_members": 1,
        "channels": 0,
        "events": 3,  # location, its new group, the replacement
    }


def test_the_same_put_again_changes_nothing_and_records_no_event(api: Api) -> None:
    first = put(api, "locations/WH-1", location_payload())
    again = put(api, "locations/WH-1", location_payload())

    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == first.json()  # updated_at too
    assert [name for name, _ in events(api.db)] == [
        "location_group.upserted",
        "location.upserted",
    ]


def test_events_are_recorded_for_locations_and_the_groups_they_create(api: Api) -> None:
    put(api, "locations/STORE-LDN", location_payload(type="store", groups=["stores", "online"]))
    put(api, "locations/STORE-LDN", location_payload(type="store", groups=["online"]))

    assert events(api.db) == [
        (
            "location_group.upserted",
            {"ref": "online", "name": "online", "created": True, "locations": ["STORE-LDN"]},
        ),
        (
            "location_group.upserted",
            {"ref": "stores", "name": "stores", "created": True, "locations": ["STORE-LDN"]},
        ),
        (
            "location.upserted",
            {
                "ref": "STORE-LDN",
                "created": True,
                "type": "store",
                "active": True,
                "can_ship": True,
                "can_pickup": False,
                "groups": ["online", "stores"],
            },
        ),
        (
            "location.upserted",
            {
                "ref": "STORE-LDN",
                "created": False,
                "type": "store",
                "active": True,
                "can_ship": True,
                "can_pickup": False,
                "groups": ["online"],
            },
        ),
    ]


def test_membership_becomes_exactly_the_listed_groups(api: Api) -> None:
    put(api, "locations/WH-1", location_payload(groups=["a", "b"]))
    put(api, "locations/WH-2", location_payload(groups=["a"]))

    response = put(api, "locations/WH-1", location_payload(groups=["b", "c", "c"]))

    assert response.json()["groups"] == ["b", "c"]
    groups = get(api, "location-groups").json()["items"]
    assert [(g["ref"], g["locations"]) for g in groups] == [
        ("a", ["WH-2"]),
        ("b", ["WH-1"]),
        ("c", ["WH-1"]),
    ]
    emptied = put(api, "locations/WH-1", location_payload(groups=[]))
    assert emptied.json()["groups"] == []
    assert row_counts(api.db, TABLES)["location_group_members"] == 1


def test_list_filters_locations(api: Api) -> None:
    put(api, "locations/WH-1", location_payload(groups=["online"]))
    put(
        api,
        "locations/STORE-LDN",
        location_payload(type="store", can_pickup=True, groups=["online", "stores"]),
    )
    put(api, "locations/STORE-MAN", location_payload(type="store", can_ship=False, groups=[]))
    put(api, "locations/DS-1", location_payload(type="dropship", active=False))

    assert refs(get(api, "locations")) == ["DS-1", "STORE-LDN", "STORE-MAN", "WH-1"]
    assert refs(get(api, "locations", type="store")) == ["STORE-LDN", "STORE-MAN"]
    assert refs(get(api, "locations", group="online")) == ["DS-1", "STORE-LDN", "WH-1"]
    assert refs(get(api, "locations", group="online", active="true")) == ["STORE-LDN", "WH-1"]
    assert refs(get(api, "locations", active="false")) == ["DS-1"]
    assert refs(get(api, "locations", can_ship="false")) == ["STORE-MAN"]
    assert refs(get(api, "locations", can_pickup="true")) == ["STORE-LDN"]
    assert refs(get(api, "locations", group="nowhere")) == []
    listed = get(api, "locations", type="store", can_ship="true").json()["items"]
    assert listed == [get(api, "locations/STORE-LDN").json()]
    bad = get(api, "locations", type="depot")
    assert (bad.status_code, bad.json()["errors"][0]["field"]) == (422, "type")


@pytest.mark.parametrize("scope", ["admin", "agent", "warehouse", "storefront"])
def test_every_scope_reads_locations(api: Api, scope: str) -> None:
    put(api, "locations/WH-1", location_payload())
    put(api, "channels/web-uk", {})

    for path in ("locations", "locations/WH-1", "location-groups", "location-groups/online"):
        assert get(api, path, scope=scope).status_code == 200
    assert get(api, "channels", scope=scope).status_code == 200
    assert get(api, "channels/web-uk", scope=scope).status_code == 200


def test_only_admin_may_put(api: Api) -> None:
    for scope in ("storefront", "agent", "warehouse"):
        for path, body in (
            ("locations/WH-1", location_payload()),
            ("location-groups/online", {"name": "Online"}),
            ("channels/web-uk", {}),
        ):
            response = put(api, path, body, scope=scope)
            assert response.status_code == 403
            assert response.headers["content-type"] == "application/problem+json"
            assert response.json()["code"] == "forbidden"
    unauthenticated = api.client.put("/api/v1/locations/WH-1", json=location_payload())
    assert unauthenticated.status_code == 401
    assert row_counts(api.db, TABLES) == dict.fromkeys([t.__tablename__ for t in TABLES], 0)


def test_unknown_refs_are_404_with_stable_codes(api: Api) -> None:
    location = get(api, "locations/NOPE")
    group = get(api, "location-groups/NOPE")

    assert (location.status_code, location.json()["code"]) == (404, "location_not_found")
    assert (group.status_code, group.json()["code"]) == (404, "location_group_not_found")
    assert location.headers["content-type"] == "application/problem+json"


# --- bad input: problem+json naming the field, and nothing changed ---------------------

GBP_3DP = [{"country": "GB", "currency": "GBP", "per_shipment": "1.234"}]
BAD_REQUESTS = [
    # (path, body, status, code, field)
    ("locations/WH-9", location_payload(type="depot"), 422, "payload_invalid", "type"),
    (
        "locations/WH-9",
        location_payload(country="GBR"),
        422,
        "payload_invalid",
        "address.country",
    ),
    ("locations/WH-9", location_payload(lat=200), 422, "payload_invalid", "address.lat"),
    ("locations/WH-9", location_payload(lon=None), 422, "payload_invalid", "address"),
    (
        "locations/WH-9",
        location_payload(shipping_costs=GBP_3DP),
        400,
        "amount_invalid",
        "shipping_costs[0].per_shipment",
    ),
    (
        "locations/WH-9",
        location_payload(
            shipping_costs=[{"country": "GB", "currency": "XXQ", "per_shipment": "1"}]
        ),
        400,
        "currency_unknown",
        "shipping_costs[0].currency",
    ),
    ("locations/WH 9", location_payload(), 400, "ref_invalid", "ref"),
    ("locations/WH/9", location_payload(), 400, "ref_invalid", "ref"),
    ("locations/WH-9", location_payload(groups=["on line"]), 400, "ref_invalid", "groups[0]"),
    ("locations/WH-9", location_payload(colour="red"), 422, "payload_invalid", "colour"),
    (
        "location-groups/online",
        {"name": "Online", "locations": ["WH-1", "WH-404"]},
        400,
        "location_unknown",
        "locations[1]",
    ),
    (
        "channels/web-uk",
        {"location_group": "nowhere"},
        400,
        "location_group_unknown",
        "location_group",
    ),
    ("channels/web-uk", {"max_splits": -1}, 422, "payload_invalid", "max_splits"),
    ("channels/web-uk", {"routing_strategy": "random"}, 422, "payload_invalid", "routing_strategy"),
    (
        "channels/web-uk",
        {"returnless_threshold": {"JPY": "5.5"}},
        400,
        "amount_invalid",
        "returnless_threshold.JPY",
    ),
]


@pytest.mark.parametrize(
    ("path", "body", "status", "code", "field"),
    BAD_REQUESTS,
    ids=[f"{p}:{c}:{f}" for p, _, _, c, f in BAD_REQUESTS],
)
def test_bad_input_is_refused_and_changes_nothing(
    api: Api, path: str, body: dict[str, Any], status: int, code: str, field: str
) -> None:
    put(api, "locations/WH-1", location_payload())
    put(api, "channels/web-uk", {"location_group": "online", "max_splits": 1})
    before = row_counts(api.db, TABLES)
    state = [get(api, p).json() for p in ("locations", "location-groups", "channels")]

    response = put(api, path, body)

    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["code"] == code
    assert problem["status"] == status
    if status == 422:
        assert field in [e["field"] for e in problem["errors"]]
    else:
        assert problem["field"] == field
    assert row_counts(api.db, TABLES) == before
    assert [get(api, p).json() for p in ("locations", "location-groups", "channels")] == state


# --- groups -----------------------------------------------------------------------------


def test_group_put_sets_its_members_exactly(api: Api) -> None:
    for ref in ("WH-1", "WH-2", "WH-3"):
        put(api, f"locations/{ref}", location_payload(groups=[]))

    created = put(api, "location-groups/online", {"name": "Online", "locations": ["WH-2", "WH-1"]})
    replaced = put(api, "location-groups/online", {"name": "Web", "locations": ["WH-3", "WH-2"]})
    renamed = put(api, "location-groups/online", {"name": "Online"})

    assert (created.status_code, replaced.status_code, renamed.status_code) == (201, 200, 200)
    body = renamed.json()
    assert body.pop("created_at")
    assert body == {"ref": "online", "name": "Online", "locations": ["WH-2", "WH-3"]}
    assert get(api, "location-groups/online").json()["locations"] == ["WH-2", "WH-3"]
    assert get(api, "locations/WH-3").json()["groups"] == ["online"]
    assert refs(get(api, "locations", group="online")) == ["WH-2", "WH-3"]
    group_events = [p for name, p in events(api.db) if name == "location_group.upserted"]
    assert group_events == [
        {"ref": "online", "name": "Online", "created": True, "locations": ["WH-1", "WH-2"]},
        {"ref": "online", "name": "Web", "created": False, "locations": ["WH-2", "WH-3"]},
        {"ref": "online", "name": "Online", "created": False, "locations": ["WH-2", "WH-3"]},
    ]
    put(api, "location-groups/online", {"name": "Online"})
    assert len(events(api.db)) == 3 + 3  # three locations, three group changes; not a 4th


# --- channels ---------------------------------------------------------------------------

DEFAULT_CHANNEL = {
    "configured": True,
    "location_group": None,
    "shortage_policy": "reject",
    "routing_strategy": "fewest_splits",
    "max_splits": 2,
    "capture_policy": "on_shipment",
    "returnless_threshold": {},
    "return_fee": {},
    "refund_eligible_status": "RECEIVED",
    "verify_authorizations": True,
    "routing_run_every": None,
    "routing_lookahead_days": None,
    "updated_at": None,
    "adapter": None,
}


def test_channel_put_and_get(api: Api) -> None:
    put(api, "locations/WH-1", location_payload())
    body = {
        "location_group": "online",
        "shortage_policy": "backorder",
        "routing_strategy": "rank_by_distance",
        "max_splits": 0,
        "capture_policy": "on_order",
        "returnless_threshold": {"GBP": "5", "JPY": "500"},
        "return_fee": {"GBP": "2.95"},
        "refund_eligible_status": "IN_TRANSIT",
        "verify_authorizations": False,
        "routing_run_every": 300,
        "routing_lookahead_days": 7,
    }

    created = put(api, "channels/web-uk", body)
    replaced = put(api, "channels/web-uk", {"shortage_policy": "backorder"})

    assert created.status_code == 201, created.text
    got = created.json()
    got_updated_at = got.pop("updated_at")
    assert got == {
        **body,
        "ref": "web-uk",
        "configured": True,
        "returnless_threshold": {"GBP": "5.00", "JPY": "500"},
        "adapter": None,
    }
    assert replaced.status_code == 200
    assert get(api, "channels/web-uk").json() == replaced.json()
    assert replaced.json()["updated_at"] >= got_updated_at
    assert {**replaced.json(), "updated_at": None} == {
        **DEFAULT_CHANNEL,
        "ref": "web-uk",
        "configured": True,
        "shortage_policy": "backorder",
    }
    assert refs(get(api, "channels")) == ["web-uk"]
    assert [p for name, p in events(api.db) if name == "channel.upserted"] == [
        {
            "ref": "web-uk",
            "created": True,
            "location_group": "online",
            "shortage_policy": "backorder",
            "routing_strategy": "rank_by_distance",
            "max_splits": 0,
            "capture_policy": "on_order",
            "returnless_threshold": {"GBP": 500, "JPY": 500},
            "return_fee": {"GBP": 295},
            "refund_eligible_status": "IN_TRANSIT",
            "verify_authorizations": False,
        },
        {
            "ref": "web-uk",
            "created": False,
            "location_group": None,
            "shortage_policy": "backorder",
            "routing_strategy": "fewest_splits",
            "max_splits": 2,
            "capture_policy": "on_shipment",
            "returnless_threshold": {},
            "return_fee": {},
            "refund_eligible_status": "RECEIVED",
            "verify_authorizations": True,
        },
    ]


def test_an_unconfigured_channel_is_not_found_and_names_the_configured_ones(api: Api) -> None:
    before = row_counts(api.db, TABLES)
    nothing = get(api, "channels/web-fr")
    put(api, "channels/web-uk", {})
    put(api, "channels/b2b", {})
    two = get(api, "channels/web-fr")

    assert (nothing.status_code, nothing.json()["code"]) == (404, "channel_not_found")
    assert nothing.json()["known_channels"] == []
    assert nothing.json()["detail"] == (
        "channel 'web-fr' is not configured; configured channels: none yet "
        "(PUT /api/v1/channels/{ref} adds one)"
    )
    assert before["channels"] == 0
    assert (two.status_code, two.json()["known_channels"]) == (404, ["b2b", "web-uk"])
    assert two.json()["detail"] == (
        "channel 'web-fr' is not configured; configured channels: b2b, web-uk"
    )
    assert refs(get(api, "channels")) == ["b2b", "web-uk"]


def test_channel_policy(api: Api) -> None:
    put(api, "locations/WH-1", location_payload(groups=["online"]))
    put(api, "channels/web-uk", {"location_group": "online", "returnless_threshold": {"GBP": "2"}})
    put(api, "channels/b2b", {})

    with api.db.reading() as session:
        configured = channel_policy(session, "web-uk")
        anywhere = channel_policy(session, "b2b")
        group_id = session.scalar(select(m.LocationGroup.id).where(m.LocationGroup.ref == "online"))
        with pytest.raises(ChannelUnknown) as unknown:
            channel_policy(session, "web-fr")

    assert (configured.location_group_id, configured.location_group) == (group_id, "online")
    assert dict(configured.returnless_threshold) == {"GBP": 200}
    assert configured.configured is True
    assert anywhere == ChannelPolicy(channel="b2b")  # what a PUT leaves out: the defaults
    assert (
        anywhere.location_group_id,
        anywhere.shortage_policy,
        anywhere.routing_strategy,
        anywhere.max_splits,
        anywhere.capture_policy,
        dict(anywhere.returnless_threshold),
    ) == (
        None,
        ShortagePolicy.REJECT,
        RoutingStrategy.FEWEST_SPLITS,
        2,
        CapturePolicy.ON_SHIPMENT,
        {},
    )
    assert (unknown.value.code, unknown.value.status, unknown.value.field) == (
        "channel_unknown",
        400,
        "channel",
    )
    assert unknown.value.extra == {"channel": "web-fr", "known_channels": ["b2b", "web-uk"]}


def test_racing_puts_end_with_one_row_each_and_no_error(api: Api) -> None:
    refs_ = ["WH-RACE"] * 4 + [f"WH-{n}" for n in range(4)]
    results: list[tuple[str, int]] = []
    lock = threading.Lock()
    start = threading.Barrier(len(refs_))

    def worker(ref: str) -> None:
        start.wait()
        response = put(api, f"locations/{ref}", location_payload(groups=["online", "north"]))
        with lock:
            results.append((ref, response.status_code))

    threads = [threading.Thread(target=worker, args=(ref,)) for ref in refs_]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert sorted(s for r, s in results if r == "WH-RACE") == [200, 200, 200, 201]
    assert sorted(s for r, s in results if r != "WH-RACE") == [201] * 4
    assert row_counts(api.db, TABLES) == {
        "locations": 5,
        "location_groups": 2,
        "location_group_members": 10,
        "channels": 0,
        "events": 5 + 2,  # one per location (the repeats changed nothing), one per group
    }


def test_racing_location_and_group_puts_do_not_deadlock(api: Api) -> None:
    refs_ = [f"WH-{n}" for n in range(4)]
    for ref in refs_:
        put(api, f"locations/{ref}", location_payload(groups=[]))
    statuses: list[int] = []
    lock = threading.Lock()
    start = threading.Barrier(8)

    def worker(path: str, body: dict[str, Any]) -> None:
        start.wait()
        response = put(api, path, body)
        with lock:
            statuses.append(response.status_code)

    jobs = [(f"locations/{ref}", location_payload(groups=["online", "north"])) for ref in refs_]
    jobs += [("location-groups/online", {"name": "Online", "locations": refs_})] * 2
    jobs += [("location-groups/north", {"name": "North", "locations": refs_})] * 2
    threads = [threading.Thread(target=worker, args=job) for job in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    # A group is created by whichever PUT comes first (a location PUT creates its groups).
    assert len(statuses) == 8
    assert set(statuses) <= {200, 201}
    groups = get(api, "location-groups").json()["items"]
    assert [(g["ref"], g["locations"]) for g in groups] == [
        ("north", refs_),
        ("online", refs_),
    ]
