"""Reservations through the service and the HTTP API, on SQLite and PostgreSQL: every unit
held sits on an inventory record; failures leave every record exactly as it was."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from openoms.adapters.db import models as m
from openoms.adapters.db.session import Database
from openoms.adapters.outbox import ConsumerRegistry, Outbox
from openoms.domain.errors import (
    IdempotencyKeyReused,
    IllegalTransition,
    QuantityInvalid,
    QuantityInvariantViolated,
)
from openoms.domain.inventory import InsufficientStock, Shortfall
from openoms.services import inventory as svc
from openoms.services.inventory import LocationGroupNotFound, LocationNotFound
from tests.integration.conftest import Api
from tests.integration.helpers import count, stock_by_id

T0 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
WH1, WH2, WH3 = "loc_wh1", "loc_wh2", "loc_wh3"  # WH-3 is inactive
GROUP = "lg_online"


# --- factories and helpers ----------------------------------------------------------------


@pytest.fixture
def network(db: Database) -> Database:
    """Locations WH-1, WH-2, WH-3 (inactive), all three in the group "online"."""
    with db.transaction() as session:
        for location_id, ref, active in (
            (WH1, "WH-1", True),
            (WH2, "WH-2", True),
            (WH3, "WH-3", False),
        ):
            session.add(
                m.Location(id=location_id, ref=ref, name=ref, type="warehouse", active=active)
            )
        session.add(m.LocationGroup(id=GROUP, ref="online", name="Online"))
        session.flush()
        for location_id in (WH1, WH2, WH3):
            session.add(m.LocationGroupMember(group_id=GROUP, location_id=location_id))
    return db


def add_stock(db: Database, *, records: Mapping[tuple[str, str], tuple[int, int]]) -> None:
    """records: (location_id, sku) → (on_hand, safety_stock)."""
    with db.transaction() as session:
        for (location_id, sku), (on_hand, safety) in records.items():
            session.add(
                m.InventoryRecord(
                    location_id=location_id, sku=sku, on_hand=on_hand, safety_stock=safety
                )
            )


def events(db: Database) -> list[tuple[str, dict[str, Any]]]:
    with db.reading() as session:
        return [(e.name, e.payload) for e in session.scalars(select(m.Event).order_by(m.Event.id))]


def lines_of(reservation: m.Reservation) -> list[tuple[str, str, int, int, int]]:
    return [
        (li.sku, li.location_id, li.quantity, li.fulfilled, li.released) for li in reservation.lines
    ]


@pytest.fixture
def outbox() -> Outbox:
    return Outbox(ConsumerRegistry())


def reserve(
    db: Database, outbox: Outbox, key: str, items: Mapping[str, int], **kwargs: Any
) -> svc.ReserveResult:
    with db.transaction() as session:
        return svc.reserve(
            session,
            outbox,
            owner="test",
            idempotency_key=key,
            request_hash=f"h-{key}",
            items=items,
            **kwargs,
        )


def run(db: Database, fn: Any, *args: Any, **kwargs: Any) -> m.Reservation:
    with db.transaction() as session:
        result: m.Reservation = fn(session, *args, **kwargs)
        return result


def post(api: Api, body: dict[str, Any], key: str | None = "k-1", scope: str = "storefront") -> Any:
    """POST /reservations with `key`; None: with no Idempotency-Key at all."""
    if key is None:
        return api.keyless.post("/api/v1/reservations", json=body, headers=api.headers(scope))
    headers = api.headers(scope, **{"Idempotency-Key": key})
    return api.client.post("/api/v1/reservations", json=body, headers=headers)


def action(
    api: Api,
    reservation_id: str,
    name: str,
    body: dict[str, Any] | None = None,
    scope: str = "agent",
) -> Any:
    return api.client.post(
        f"/api/v1/reservations/{reservation_id}/actions/{name}",
        json=body,
        headers=api.headers(scope),
    )


def item(
    sku: str, location: str, quantity: int, fulfilled: int = 0, released: int = 0
) -> dict[str, Any]:
    return {
        "sku": sku,
        "location": location,
        "quantity": quantity,
        "fulfilled": fulfilled,
        "released": released,
    }


# --- reserve ------------------------------------------------------------------------------


def test_group_reservation_spreads_over_active_members_deepest_first(
    network: Database, api: Api
) -> None:
    add_stock(
        network, records={(WH1, "TEE"): (10, 0), (WH2, "TEE"): (25, 5), (WH3, "TEE"): (100, 0)}
    )

    response = post(api, {"location_group": "online", "items": [{"sku": "TEE", "quantity": 25}]})

    assert response.status_code == 201, response.text
    body = response.json()
    assert body["status"] == "ACTIVE"
    assert (body["location_group"], body["location"], body["expires_at"]) == ("online", None, None)
    assert body["items"] == [item("TEE", "WH-2", 20), item("TEE", "WH-1", 5)]
    assert stock_by_id(network) == {
        (WH1, "TEE"): (10, 5),
        (WH2, "TEE"): (25, 20),
        (WH3, "TEE"): (100, 0),
    }
    [(name, payload)] = events(network)
    assert name == "reservation.created"
    assert payload["lines"] == [
        {"sku": "TEE", "location_id": WH2, "quantity": 20},
        {"sku": "TEE", "location_id": WH1, "quantity": 5},
    ]
    got = api.client.get(f"/api/v1/reservations/{body['id']}", headers=api.headers("warehouse"))
    assert got.status_code == 200
    assert got.json() == body


def test_location_reservation_holds_at_that_location(network: Database, api: Api) -> None:
    add_stock(network, records={(WH1, "TEE"): (10, 0), (WH1, "MUG"): (3, 1), (WH2, "TEE"): (50, 0)})
    before = datetime.now(UTC)

    response = post(
        api,
        {
            "location": "WH-1",
            "items": [{"sku": "TEE", "quantity": 4}, {"sku": "MUG", "quantity": 2}],
            "expires_in_seconds": 600,
        },
    )

    assert response.status_code == 201, response.text
    body = response.json()
    assert (body["location_group"], body["location"]) == (None, "WH-1")
    assert body["items"] == [item("MUG", "WH-1", 2), item("TEE", "WH-1", 4)]
    expires_at = datetime.fromisoformat(body["expires_at"])
    assert (
        before + timedelta(seconds=600) <= expires_at <= datetime.now(UTC) + timedelta(seconds=600)
    )
    assert stock_by_id(network) == {
        (WH1, "TEE"): (10, 4),
        (WH1, "MUG"): (3, 2),
        (WH2, "TEE"): (50, 0),
    }


@pytest.mark.parametrize(
    ("scope", "shortfall"),
    [
        (
            {"location_group": "online"},
            [
                {"sku": "MUG", "requested": 5, "available": 4},
                {"sku": "GHOST", "requested": 1, "available": 0},
            ],
        ),
        (
            {"location": "WH-1"},
            [
                {"sku": "MUG", "requested": 5, "available": 3},
                {"sku": "GHOST", "requested": 1, "available": 0},
            ],
        ),
    ],
)
def test_a_shortage_reserves_nothing(
    network: Database, api: Api, scope: dict[str, str], shortfall: list[dict[str, Any]]
) -> None:
    add_stock(
        network,
        records={
            (WH1, "TEE"): (10, 0),
            (WH1, "MUG"): (3, 0),
            (WH2, "MUG"): (2, 1),
            (WH3, "MUG"): (9, 0),
        },
    )
    before = stock_by_id(network)
    items = [
        {"sku": "TEE", "quantity": 5},
        {"sku": "MUG", "quantity": 5},
        {"sku": "GHOST", "quantity": 1},
    ]

    response = post(api, {**scope, "items": items})

    assert response.status_code == 409
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["code"] == "insufficient_stock"
    assert problem["shortfall"] == shortfall
    assert stock_by_id(network) == before
    assert (
        count(network, m.Reservation),
        count(network, m.ReservationLine),
        count(network, m.Event),
    ) == (0, 0, 0)
    assert count(network, m.IdempotencyRecord) == 0  # a retry runs again


def test_lean_path_shortage_after_an_earlier_sku_was_held(
    network: Database, outbox: Outbox
) -> None:
    add_stock(network, records={(WH1, "A-TEE"): (10, 0), (WH1, "Z-MUG"): (3, 1)})
    before = stock_by_id(network)

    with pytest.raises(InsufficientStock) as raised:
        reserve(network, outbox, "k", {"A-TEE": 10, "Z-MUG": 3}, location_id=WH1)

    assert raised.value.shortfall == (Shortfall("Z-MUG", 3, 2),)
    assert stock_by_id(network) == before
    assert count(network, m.Reservation) == 0


def test_inactive_location_offers_nothing(network: Database, outbox: Outbox) -> None:
    add_stock(network, records={(WH3, "TEE"): (100, 0)})
    with pytest.raises(InsufficientStock) as raised:
        reserve(network, outbox, "k", {"TEE": 1}, location_id=WH3)
    assert raised.value.shortfall == (Shortfall("TEE", 1, 0),)

    partial = reserve(network, outbox, "k", {"TEE": 1}, location_id=WH3, allow_partial=True)

    assert (partial.shortfall, lines_of(partial.reservation)) == ((Shortfall("TEE", 1, 0),), [])
    assert stock_by_id(network) == {(WH3, "TEE"): (100, 0)}


def test_allow_partial_holds_what_is_available_and_reports_the_rest(
    network: Database, outbox: Outbox
) -> None:
    add_stock(network, records={(WH1, "TEE"): (10, 0), (WH1, "MUG"): (3, 0), (WH2, "MUG"): (2, 1)})

    result = reserve(
        network,
        outbox,
        "k",
        {"TEE": 4, "MUG": 6, "GHOST": 2},
        location_group_id=GROUP,
        allow_partial=True,
    )

    assert result.shortfall == (Shortfall("MUG", 6, 4), Shortfall("GHOST", 2, 0))
    assert lines_of(result.reservation) == [
        ("TEE", WH1, 4, 0, 0),
        ("MUG", WH1, 3, 0, 0),
        ("MUG", WH2, 1, 0, 0),
    ]
    assert stock_by_id(network) == {
        (WH1, "TEE"): (10, 4),
        (WH1, "MUG"): (3, 3),
        (WH2, "MUG"): (2, 1),
    }
    replay = reserve(
        network,
        outbox,
        "k",
        {"TEE": 4, "MUG": 6, "GHOST": 2},
        location_group_id=GROUP,
        allow_partial=True,
    )
    assert (replay.replayed, replay.reservation.id, replay.shortfall) == (
        True,
        result.reservation.id,
        result.shortfall,
    )


def test_the_same_key_returns_the_same_reservation(network: Database, outbox: Outbox) -> None:
    add_stock(network, records={(WH1, "TEE"): (10, 0), (WH2, "TEE"): (10, 0)})
    for scope in ({"location_id": WH1}, {"location_group_id": GROUP}):
        first = reserve(network, outbox, f"k{scope}", {"TEE": 3}, **scope)
        after_first = stock_by_id(network)
        again = reserve(network, outbox, f"k{scope}", {"TEE": 3}, **scope)
        assert (again.replayed, first.replayed) == (True, False)
        assert again.reservation.id == first.reservation.id
        assert lines_of(again.reservation) == lines_of(first.reservation)
        assert stock_by_id(network) == after_first
    assert stock_by_id(network) == {
        (WH1, "TEE"): (10, 3),
        (WH2, "TEE"): (10, 3),
    }  # the deeper
    assert count(network, m.Reservation) == 2
    assert [name for name, _ in events(network)] == ["reservation.created"] * 2


def test_the_same_key_with_another_request_is_refused(network: Database, outbox: Outbox) -> None:
    add_stock(network, records={(WH1, "TEE"): (10, 0)})
    reserve(network, outbox, "k", {"TEE": 3}, location_id=WH1)
    before = stock_by_id(network)
    for scope in ({"location_id": WH1}, {"location_group_id": GROUP}):
        with pytest.raises(IdempotencyKeyReused), network.transaction() as session:
            svc.reserve(
                session,
                outbox,
                owner="test",
                idempotency_key="k",
                request_hash="other",
                items={"TEE": 4},
                **scope,
            )  # type: ignore[arg-type]
    assert stock_by_id(network) == before
    assert count(network, m.Reservation) == 1


def test_api_retry_replays_and_another_body_conflicts(network: Database, api: Api) -> None:
    add_stock(network, records={(WH1, "TEE"): (10, 0)})
    body = {"location": "WH-1", "items": [{"sku": "TEE", "quantity": 3}]}
    first = post(api, body, key="cart-1")
    again = post(api, body, key="cart-1")
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert stock_by_id(network) == {(WH1, "TEE"): (10, 3)}

    other = post(api, {**body, "items": [{"sku": "TEE", "quantity": 4}]}, key="cart-1")

    assert other.status_code == 409
    assert other.json()["code"] == "idempotency_key_reused"
    assert stock_by_id(network) == {(WH1, "TEE"): (10, 3)}
    assert count(network, m.Reservation) == 1


@pytest.mark.parametrize(
    ("body", "key", "scope", "status", "code"),
    [
        (
            {"location": "WH-1", "items": [{"sku": "TEE", "quantity": 1}]},
            None,
            "storefront",
            400,
            "idempotency_key_required",
        ),
        (
            {"location": "WH-9", "items": [{"sku": "TEE", "quantity": 1}]},
            "k",
            "storefront",
            404,
            "location_not_found",
        ),
        (
            {"location_group": "nope", "items": [{"sku": "TEE", "quantity": 1}]},
            "k",
            "agent",
            404,
            "location_group_not_found",
        ),
        (
            {"location": "WH-1", "items": [{"sku": "TEE", "quantity": 0}]},
            "k",
            "storefront",
            400,
            "quantity_invalid",
        ),
        (
            {
                "location": "WH-1",
                "location_group": "online",
                "items": [{"sku": "TEE", "quantity": 1}],
            },
            "k",
            "storefront",
            422,
            "payload_invalid",
        ),
        ({"items": [{"sku": "TEE", "quantity": 1}]}, "k", "storefront", 422, "payload_invalid"),
        (
            {
                "location": "WH-1",
                "items": [{"sku": "TEE", "quantity": 1}, {"sku": "TEE", "quantity": 1}],
            },
            "k",
            "storefront",
            422,
            "payload_invalid",
        ),
        ({"location": "WH-1", "items": []}, "k", "storefront", 422, "payload_invalid"),
        (
            {"location": "WH-1", "items": [{"sku": "TEE", "quantity": 1}]},
            "k",
            "warehouse",
            403,
            "forbidden",
        ),
    ],
)
def test_bad_reservation_requests(
    network: Database,
    api: Api,
    body: dict[str, Any],
    key: str | None,
    scope: str,
    status: int,
    code: str,
) -> None:
    add_stock(network, records={(WH1, "TEE"): (10, 0)})
    response = post(api, body, key=key, scope=scope)
    assert response.status_code == status, response.text
    assert response.json()["code"] == code
    assert stock_by_id(network) == {(WH1, "TEE"): (10, 0)}
    assert count(network, m.Reservation) == 0


def test_service_validation(network: Database, outbox: Outbox) -> None:
    with pytest.raises(QuantityInvalid):
        reserve(network, outbox, "k", {"TEE": -1}, location_id=WH1)
    with pytest.raises(svc.ReservationInvalid):
        reserve(network, outbox, "k", {"TEE": 1}, location_id=WH1, location_group_id=GROUP)
    with pytest.raises(svc.ReservationInvalid):
        reserve(network, outbox, "k", {}, location_id=WH1)
    with pytest.raises(LocationNotFound):
        reserve(network, outbox, "k", {"TEE": 1}, location_id="loc_nope")
    with pytest.raises(LocationGroupNotFound):
        reserve(network, outbox, "k", {"TEE": 1}, location_group_id="lg_nope")
    assert count(network, m.Reservation) == 0


# --- transfer -----------------------------------------------------------------------------


def test_transfer_group_hold_to_one_location(network: Database, api: Api) -> None:
    add_stock(network, records={(WH1, "TEE"): (10, 0), (WH2, "TEE"): (25, 5)})
    reservation_id = post(
        api, {"location_group": "online", "items": [{"sku": "TEE", "quantity": 25}]}
    ).json()["id"]
    assert stock_by_id(network) == {(WH1, "TEE"): (10, 5), (WH2, "TEE"): (25, 20)}

    # WH-2 has nothing left: the 5 units moving there cannot be held.
    short = action(api, reservation_id, "transfer", {"to_location": "WH-2"})
    assert short.status_code == 409
    assert (short.json()["code"], short.json()["shortfall"]) == (
        "insufficient_stock",
        [{"sku": "TEE", "requested": 5, "available": 0}],
    )
    assert stock_by_id(network) == {(WH1, "TEE"): (10, 5), (WH2, "TEE"): (25, 20)}

    # Five more arrive: enough for the units moved, though not for the 25 it will hold.
    with network.transaction() as session:
        session.execute(
            update(m.InventoryRecord).where(m.InventoryRecord.location_id == WH2).values(on_hand=30)
        )
    moved = action(api, reservation_id, "transfer", {"to_location": "WH-2"})

    assert moved.status_code == 200, moved.text
    assert moved.json()["items"] == [item("TEE", "WH-2", 25)]
    assert stock_by_id(network) == {(WH1, "TEE"): (10, 0), (WH2, "TEE"): (30, 25)}
    name, payload = events(network)[-1]
    assert name == "reservation.transferred"
    assert payload["moves"] == [{"sku": "TEE", "from_location_id": WH1, "quantity": 5}]


def test_transfer_between_locations(network: Database, outbox: Outbox) -> None:
    add_stock(network, records={(WH1, "TEE"): (10, 0), (WH1, "MUG"): (5, 0), (WH2, "TEE"): (4, 1)})
    reservation = reserve(network, outbox, "k", {"TEE": 6, "MUG": 2}, location_id=WH1).reservation

    moved = run(network, svc.transfer, outbox, reservation.id, to_location_id=WH2, items={"TEE": 3})

    assert lines_of(moved) == [("MUG", WH1, 2, 0, 0), ("TEE", WH1, 3, 0, 0), ("TEE", WH2, 3, 0, 0)]
    assert stock_by_id(network) == {
        (WH1, "TEE"): (10, 3),
        (WH1, "MUG"): (5, 2),
        (WH2, "TEE"): (4, 3),
    }
    again = run(
        network, svc.transfer, outbox, reservation.id, to_location_id=WH1, from_location_id=WH2
    )
    assert lines_of(again) == [("MUG", WH1, 2, 0, 0), ("TEE", WH1, 6, 0, 0), ("TEE", WH2, 0, 0, 0)]
    assert stock_by_id(network) == {
        (WH1, "TEE"): (10, 6),
        (WH1, "MUG"): (5, 2),
        (WH2, "TEE"): (4, 0),
    }


def test_transfer_more_than_held_moves_nothing(network: Database, api: Api) -> None:
    add_stock(network, records={(WH1, "TEE"): (10, 0), (WH2, "TEE"): (10, 0)})
    reservation_id = post(
        api, {"location": "WH-1", "items": [{"sku": "TEE", "quantity": 4}]}
    ).json()["id"]
    before = stock_by_id(network)

    for body, status, code in (
        (
            {"to_location": "WH-2", "items": [{"sku": "TEE", "quantity": 5}]},
            409,
            "transfer_exceeds_reserved",
        ),
        (
            {"to_location": "WH-2", "items": [{"sku": "MUG", "quantity": 1}]},
            409,
            "transfer_exceeds_reserved",
        ),
        (
            {"to_location": "WH-1", "items": [{"sku": "TEE", "quantity": 1}]},
            409,
            "transfer_exceeds_reserved",
        ),
        ({"to_location": "WH-9"}, 404, "location_not_found"),
    ):
        response = action(api, reservation_id, "transfer", body)
        assert (response.status_code, response.json()["code"]) == (status, code), response.text
        assert stock_by_id(network) == before
    exceeds = action(
        api,
        reservation_id,
        "transfer",
        {"to_location": "WH-2", "items": [{"sku": "TEE", "quantity": 5}]},
    )
    assert {k: exceeds.json()[k] for k in ("sku", "requested", "held")} == {
        "sku": "TEE",
        "requested": 5,
        "held": 4,
    }
    assert [name for name, _ in events(network)] == ["reservation.created"]


# --- fulfill, release, expire -------------------------------------------------------------


def test_fulfill_ships_on_hand_and_reserved(network: Database, api: Api) -> None:
    add_stock(network, records={(WH1, "TEE"): (10, 0), (WH1, "MUG"): (5, 0)})
    reservation_id = post(
        api,
        {
            "location": "WH-1",
            "items": [{"sku": "TEE", "quantity": 4}, {"sku": "MUG", "quantity": 1}],
        },
    ).json()["id"]

    part = action(
        api,
        reservation_id,
        "fulfill",
        {"items": [{"sku": "TEE", "location": "WH-1", "quantity": 1}]},
        scope="warehouse",
    )

    assert part.status_code == 200, part.text
    assert part.json()["status"] == "ACTIVE"
    assert part.json()["items"] == [item("MUG", "WH-1", 1), item("TEE", "WH-1", 3, fulfilled=1)]
    assert stock_by_id(network) == {(WH1, "TEE"): (9, 3), (WH1, "MUG"): (5, 1)}

    too_many = action(
        api,
        reservation_id,
        "fulfill",
        {"items": [{"sku": "TEE", "location": "WH-1", "quantity": 4}]},
        scope="warehouse",
    )
    assert too_many.status_code == 409
    assert too_many.json()["code"] == "fulfill_exceeds_reserved"
    assert stock_by_id(network) == {(WH1, "TEE"): (9, 3), (WH1, "MUG"): (5, 1)}
    assert action(api, reservation_id, "fulfill", scope="storefront").status_code == 403

    rest = action(api, reservation_id, "fulfill", scope="warehouse")

    assert rest.json()["status"] == "FULFILLED"
    assert rest.json()["items"] == [
        item("MUG", "WH-1", 0, fulfilled=1),
        item("TEE", "WH-1", 0, fulfilled=4),
    ]
    assert stock_by_id(network) == {(WH1, "TEE"): (6, 0), (WH1, "MUG"): (4, 0)}
    assert [name for name, _ in events(network)] == ["reservation.created"] + [
        "reservation.fulfilled"
    ] * 2


def test_fulfill_refuses_to_ship_more_than_on_hand(network: Database, outbox: Outbox) -> None:
    add_stock(network, records={(WH1, "TEE"): (10, 0)})
    reservation = reserve(network, outbox, "k", {"TEE": 4}, location_id=WH1).reservation
    with network.transaction() as session:  # a stock count found fewer than are reserved
        session.execute(update(m.InventoryRecord).values(on_hand=2))

    with pytest.raises(QuantityInvariantViolated):
        run(network, svc.fulfill, outbox, reservation.id)

    assert stock_by_id(network) == {(WH1, "TEE"): (2, 4)}


def test_release_gives_units_back(network: Database, outbox: Outbox) -> None:
    add_stock(network, records={(WH1, "TEE"): (10, 0), (WH2, "TEE"): (10, 2)})
    reservation = reserve(network, outbox, "k", {"TEE": 15}, location_group_id=GROUP).reservation
    assert lines_of(reservation) == [("TEE", WH1, 10, 0, 0), ("TEE", WH2, 5, 0, 0)]

    part = run(network, svc.release, outbox, reservation.id, items={"TEE": 2}, location_id=WH2)
    assert (part.status, lines_of(part)) == (
        "ACTIVE",
        [("TEE", WH1, 10, 0, 0), ("TEE", WH2, 3, 0, 2)],
    )
    assert stock_by_id(network) == {(WH1, "TEE"): (10, 10), (WH2, "TEE"): (10, 3)}
    with pytest.raises(svc.ReleaseExceedsReserved):
        run(network, svc.release, outbox, reservation.id, items={"TEE": 14})
    assert stock_by_id(network) == {(WH1, "TEE"): (10, 10), (WH2, "TEE"): (10, 3)}

    done = run(network, svc.release, outbox, reservation.id)

    assert (done.status, lines_of(done)) == (
        "RELEASED",
        [("TEE", WH1, 0, 0, 10), ("TEE", WH2, 0, 0, 5)],
    )
    assert stock_by_id(network) == {(WH1, "TEE"): (10, 0), (WH2, "TEE"): (10, 0)}
    assert [name for name, _ in events(network)] == ["reservation.created"] + [
        "reservation.released"
    ] * 2


def test_release_through_the_api(network: Database, api: Api) -> None:
    add_stock(network, records={(WH1, "TEE"): (10, 0)})
    reservation_id = post(
        api, {"location": "WH-1", "items": [{"sku": "TEE", "quantity": 4}]}
    ).json()["id"]
    assert action(api, reservation_id, "release", scope="storefront").status_code == 403

    response = action(api, reservation_id, "release", {"items": [{"sku": "TEE", "quantity": 4}]})

    assert response.status_code == 200, response.text
    assert response.json()["status"] == "RELEASED"
    assert response.json()["items"] == [item("TEE", "WH-1", 0, released=4)]
    assert stock_by_id(network) == {(WH1, "TEE"): (10, 0)}
    missing = api.client.get("/api/v1/reservations/res_nope", headers=api.headers())
    assert (missing.status_code, missing.json()["code"]) == (404, "reservation_not_found")


def test_expire_due_releases_what_is_past_its_time(network: Database, outbox: Outbox) -> None:
    add_stock(network, records={(WH1, "TEE"): (10, 0)})
    soon = reserve(
        network, outbox, "soon", {"TEE": 2}, location_id=WH1, expires_at=T0 + timedelta(seconds=10)
    )
    later = reserve(
        network,
        outbox,
        "later",
        {"TEE": 3},
        location_id=WH1,
        expires_at=T0 + timedelta(seconds=100),
    )
    never = reserve(network, outbox, "never", {"TEE": 1}, location_id=WH1)
    shipped = reserve(network, outbox, "shipped", {"TEE": 1}, location_id=WH1, expires_at=T0)
    run(network, svc.fulfill, outbox, shipped.reservation.id)
    assert stock_by_id(network) == {(WH1, "TEE"): (9, 6)}

    assert svc.expire_due(network, outbox, T0 + timedelta(seconds=50)) == 1
    assert svc.expire_due(network, outbox, T0 + timedelta(seconds=50)) == 0

    with network.reading() as session:
        statuses = {r.id: r.status for r in session.scalars(select(m.Reservation))}
    assert statuses == {
        soon.reservation.id: "EXPIRED",
        later.reservation.id: "ACTIVE",
        never.reservation.id: "ACTIVE",
        shipped.reservation.id: "FULFILLED",
    }
    assert stock_by_id(network) == {(WH1, "TEE"): (9, 4)}
    name, payload = events(network)[-1]
    assert (name, payload["lines"]) == (
        "reservation.expired",
        [{"sku": "TEE", "location_id": WH1, "quantity": 2}],
    )
    assert svc.expire_due(network, outbox, T0 + timedelta(seconds=100), batch=1) == 1
    assert stock_by_id(network) == {(WH1, "TEE"): (9, 1)}


def test_illegal_transitions_change_nothing(network: Database, outbox: Outbox, api: Api) -> None:
    add_stock(network, records={(WH1, "TEE"): (10, 0), (WH2, "TEE"): (10, 0)})
    released = reserve(network, outbox, "r", {"TEE": 2}, location_id=WH1).reservation
    run(network, svc.release, outbox, released.id)
    fulfilled = reserve(network, outbox, "f", {"TEE": 3}, location_id=WH1).reservation
    run(network, svc.fulfill, outbox, fulfilled.id)
    before, events_before = stock_by_id(network), len(events(network))

    for reservation_id in (released.id, fulfilled.id):
        for fn, kwargs in (
            (svc.fulfill, {}),
            (svc.release, {}),
            (svc.transfer, {"to_location_id": WH2}),
        ):
            with pytest.raises(IllegalTransition):
                run(network, fn, outbox, reservation_id, **kwargs)
        response = action(api, reservation_id, "release")
        assert (response.status_code, response.json()["code"]) == (409, "illegal_transition")

    assert stock_by_id(network) == before
    assert len(events(network)) == events_before
    assert stock_by_id(network) == {(WH1, "TEE"): (7, 0), (WH2, "TEE"): (10, 0)}


def test_reserve_and_transfer_in_one_unit_of_work(network: Database, outbox: Outbox) -> None:
    """A caller (capture, routing) may reserve and act on the reservation in one transaction."""
    add_stock(network, records={(WH1, "TEE"): (10, 0), (WH2, "TEE"): (10, 0)})
    with network.transaction() as session:
        result = svc.reserve(
            session,
            outbox,
            owner="system",
            idempotency_key="os_1",
            request_hash="h",
            items={"TEE": 12},
            location_group_id=GROUP,
        )
        moved = svc.transfer(
            session, outbox, result.reservation.id, to_location_id=WH2, items={"TEE": 2}
        )
        assert moved is result.reservation
        assert svc.get_reservation(session, moved.id) is moved
        assert lines_of(moved) == [("TEE", WH1, 8, 0, 0), ("TEE", WH2, 4, 0, 0)]
    assert stock_by_id(network) == {(WH1, "TEE"): (10, 8), (WH2, "TEE"): (10, 4)}
