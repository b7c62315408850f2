"""Fulfillment without a database: the transition tables, walking the happy path, the
sandbox carrier (idempotent labels, injected outages) and carrier rules."""

from __future__ import annotations

import itertools

import pytest

from openoms.adapters.carriers import (
    DEFAULT_RULES,
    CarrierRule,
    CarrierRuleMissing,
    CarrierRules,
    CarrierRulesInvalid,
    Carriers,
    CarrierUnknown,
    default_carriers,
    parse_rules,
    rules_from_env,
)
from openoms.adapters.carriers.sandbox import SandboxCarrier
from openoms.adapters.db import models as m
from openoms.adapters.db.session import Database
from openoms.domain.errors import IllegalTransition
from openoms.domain.fulfillment import (
    CATEGORY,
    FULFILLMENT_ORDER_TRANSITIONS,
    SHIPMENT_TRANSITIONS,
    SHIPPABLE,
    FulfillmentOrderStatus,
    ShipmentStatus,
    StatusCategory,
    check_fulfillment_transition,
    check_shipment_transition,
)
from openoms.domain.ports import (
    CarrierChoice,
    CarrierRejected,
    CarrierUnavailable,
    LabelItem,
    LabelRequest,
    PostalAddress,
    ShipmentRoute,
    TrackingState,
)
from openoms.services.fulfillment import walk_status

S = FulfillmentOrderStatus
ALL_PAIRS = list(itertools.product(S, S))

# The fulfillment order lifecycle (DESIGN.md §4), written out here move by move rather than
# read from the code's table: (from, the action that makes the move, to). Routing
# allocates; a location assigns, picks, packs and ships (ship from an earlier step walks
# these in order), cancels the last lines or rejects (not once it is packed).
LEGAL = [
    (S.DRAFT, "allocate", S.ALLOCATED),
    (S.DRAFT, "cancel", S.CANCELED),
    (S.ALLOCATED, "assign", S.ASSIGNED),
    (S.ALLOCATED, "cancel", S.CANCELED),
    (S.ALLOCATED, "reject", S.REJECTED),
    (S.ASSIGNED, "pick-complete", S.PICK_COMPLETE),
    (S.ASSIGNED, "cancel", S.CANCELED),
    (S.ASSIGNED, "reject", S.REJECTED),
    (S.PICK_COMPLETE, "pack-complete", S.PACK_COMPLETE),
    (S.PICK_COMPLETE, "cancel", S.CANCELED),
    (S.PICK_COMPLETE, "reject", S.REJECTED),
    (S.PACK_COMPLETE, "ship", S.FULFILLED),
    (S.PACK_COMPLETE, "cancel", S.CANCELED),
]
LEGAL_PAIRS = {(current, target) for current, _, target in LEGAL}


# --- the fulfillment order table ----------------------------------------------------------


def test_the_table_holds_exactly_the_legal_moves() -> None:
    table = {(c, t) for c, targets in FULFILLMENT_ORDER_TRANSITIONS.items() for t in targets}
    assert sorted(table) == sorted(LEGAL_PAIRS)
    assert set(FULFILLMENT_ORDER_TRANSITIONS) == set(S)


@pytest.mark.parametrize(
    ("current", "action", "target"), LEGAL, ids=[f"{c}-{a}" for c, a, _ in LEGAL]
)
def test_every_legal_move_is_allowed(current: S, action: str, target: S) -> None:
    check_fulfillment_transition(current, target)


@pytest.mark.parametrize(
    ("current", "target"), [(c, t) for c, t in ALL_PAIRS if (c, t) not in LEGAL_PAIRS]
)
def test_every_other_move_is_an_illegal_transition(current: S, target: S) -> None:
    with pytest.raises(IllegalTransition) as caught:
        check_fulfillment_transition(current, target)
    assert caught.value.code == "illegal_transition"
    assert caught.value.status == 409
    assert caught.value.extra == {"current": current.value, "target": target.value}
    assert f"is {current.value} cannot become {target.value}" in caught.value.detail


def test_the_table_names_its_moves() -> None:
    assert len(LEGAL) == 13
    assert set(CATEGORY) == set(S)
    assert CATEGORY[S.PACK_COMPLETE] is StatusCategory.FULFILLING
    assert CATEGORY[S.FULFILLED] is StatusCategory.CLOSED
    # Shipping is legal exactly from the open, routed statuses; never after a rejection.
    assert frozenset({S.ALLOCATED, S.ASSIGNED, S.PICK_COMPLETE, S.PACK_COMPLETE}) == SHIPPABLE
    assert S.REJECTED not in FULFILLMENT_ORDER_TRANSITIONS[S.PACK_COMPLETE]


def test_the_message_lists_what_is_allowed() -> None:
    with pytest.raises(IllegalTransition) as caught:
        check_fulfillment_transition(S.ALLOCATED, S.PACK_COMPLETE)
    assert caught.value.detail == (
        "a fulfillment order that is ALLOCATED cannot become PACK_COMPLETE "
        "(allowed: ASSIGNED, CANCELED, REJECTED)"
    )
    with pytest.raises(IllegalTransition) as closed:
        check_fulfillment_transition(S.FULFILLED, S.CANCELED)
    assert closed.value.detail.endswith("(allowed: none)")


# --- walking to a later status (a shipment completes the steps before it) -----------------


def _fo(status: S) -> m.FulfillmentOrder:
    return m.FulfillmentOrder(
        id="fo_1", order_summary_id="os_1", location_id="loc_1", status=status.value
    )


@pytest.mark.parametrize("start", [S.ALLOCATED, S.ASSIGNED, S.PICK_COMPLETE, S.PACK_COMPLETE])
def test_walking_to_fulfilled_passes_every_step(start: S) -> None:
    fo = _fo(start)
    event = walk_status(fo, S.FULFILLED)
    assert fo.status == "FULFILLED"
    assert event is not None
    assert event.name == "fulfillment_order.status_changed"
    assert event.payload == {
        "fulfillment_order_id": "fo_1",
        "location_id": "loc_1",
        "from": start.value,
        "to": "FULFILLED",
    }


def test_walking_stays_put_when_already_there() -> None:
    fo = _fo(S.PACK_COMPLETE)
    assert walk_status(fo, S.PACK_COMPLETE) is None
    assert fo.status == "PACK_COMPLETE"


@pytest.mark.parametrize(
    ("start", "target"),
    [
        (S.CANCELED, S.FULFILLED),
        (S.REJECTED, S.PACK_COMPLETE),
        (S.FULFILLED, S.PACK_COMPLETE),
        (S.DRAFT, S.FULFILLED),
        (S.PACK_COMPLETE, S.ASSIGNED),
    ],
)
def test_walking_never_leaves_the_table(start: S, target: S) -> None:
    fo = _fo(start)
    with pytest.raises(IllegalTransition):
        walk_status(fo, target)
    assert fo.status == start.value


# --- the shipment table -------------------------------------------------------------------


def test_shipment_moves() -> None:
    legal = [
        (c, t)
        for c, t in itertools.product(ShipmentStatus, ShipmentStatus)
        if t in SHIPMENT_TRANSITIONS[c]
    ]
    assert len(legal) == 6
    for current, target in legal:
        check_shipment_transition(current, target)
    with pytest.raises(IllegalTransition) as caught:
        check_shipment_transition(ShipmentStatus.LABEL_PENDING, ShipmentStatus.IN_TRANSIT)
    assert caught.value.detail == "a shipment that is LABEL_PENDING cannot become IN_TRANSIT"


# --- the sandbox carrier ------------------------------------------------------------------

HOME = PostalAddress(
    name="Ada Lovelace", line1="1 Main St", city="London", postal_code="EC1A 1BB", country="GB"
)
WAREHOUSE = PostalAddress(name="WH-LDN", line1="1 Test St", city="London", country="GB")


def label_request(*, key: str = "label:shp_1", ship_to: PostalAddress = HOME) -> LabelRequest:
    return LabelRequest(
        idempotency_key=key,
        reference="shp_1",
        service="standard",
        ship_from=WAREHOUSE,
        ship_to=ship_to,
        items=(LabelItem("TEE-M", 3),),
    )


def test_the_same_key_gives_the_same_label_and_buys_one(sandbox_db: Database) -> None:
    carrier = SandboxCarrier(sandbox_db, "sandbox-domestic", prefix="SBD")
    first = carrier.create_label(label_request())
    again = carrier.create_label(label_request())
    assert first == again
    assert first.tracking_number == "SBD" + first.tracking_number[3:]
    assert len(first.tracking_number) == 19
    assert first.tracking_number == carrier.tracking_number_for("label:shp_1")
    assert first.label_url == (
        f"https://sandbox-carrier.openoms.invalid/sandbox-domestic/labels/"
        f"{first.tracking_number}.pdf"
    )
    assert (first.carrier, first.service) == ("sandbox-domestic", "standard")
    assert carrier.ledger == [first]
    assert carrier.calls == 2


def test_tracking_numbers_depend_on_the_key_only(sandbox_db: Database) -> None:
    one, other = (
        SandboxCarrier(sandbox_db, "sandbox-domestic"),
        SandboxCarrier(sandbox_db, "sandbox-domestic"),
    )
    a = one.create_label(label_request(key="label:shp_1"))
    b = one.create_label(label_request(key="label:shp_2"))
    assert a.tracking_number != b.tracking_number
    # Another instance (another process) over the database finds the same label.
    assert other.create_label(label_request(key="label:shp_1")) == a
    # Another carrier account does not.
    assert SandboxCarrier(sandbox_db, "sandbox-international").tracking_number_for(
        "label:shp_1"
    ) != (a.tracking_number)


def test_an_outage_refuses_every_call_until_it_ends(sandbox_db: Database) -> None:
    carrier = SandboxCarrier(sandbox_db)
    carrier.set_outage(True)
    for _ in range(3):
        with pytest.raises(CarrierUnavailable, match="sandbox is not answering"):
            carrier.create_label(label_request())
    assert carrier.ledger == []
    carrier.set_outage(False)
    label = carrier.create_label(label_request())
    assert carrier.ledger == [label]
    assert carrier.calls == 4


def test_fail_next_fails_that_many_calls_then_recovers(sandbox_db: Database) -> None:
    carrier = SandboxCarrier(sandbox_db)
    carrier.fail_next(2)
    for _ in range(2):
        with pytest.raises(CarrierUnavailable):
            carrier.create_label(label_request())
    label = carrier.create_label(label_request())
    assert carrier.ledger == [label]


def test_latency_is_waited_on_every_call(sandbox_db: Database) -> None:
    waits: list[float] = []
    carrier = SandboxCarrier(sandbox_db, latency=0.25, sleep=waits.append)
    carrier.create_label(label_request())
    carrier.set_latency(1.5)
    carrier.create_label(label_request())
    assert waits == [0.25, 1.5]


def test_an_address_without_postal_code_is_rejected(sandbox_db: Database) -> None:
    carrier = SandboxCarrier(sandbox_db)
    no_postcode = PostalAddress(name="Ada", line1="1 Main St", city="London", country="GB")
    with pytest.raises(CarrierRejected, match="without a postal code"):
        carrier.create_label(label_request(ship_to=no_postcode))
    with pytest.raises(CarrierRejected, match="without a country"):
        carrier.create_label(label_request(ship_to=PostalAddress(postal_code="EC1A 1BB")))
    assert carrier.ledger == []
    # A pickup counter needs no postal code.
    counter = SandboxCarrier(sandbox_db, "pickup", prefix="PU", require_postal_code=False)
    assert counter.create_label(label_request(ship_to=no_postcode)).tracking_number.startswith("PU")


def test_tracking_moves_only_when_told_and_voiding(sandbox_db: Database) -> None:
    carrier = SandboxCarrier(sandbox_db)
    label = carrier.create_label(label_request())
    assert carrier.track(label.tracking_number).state is TrackingState.PRE_TRANSIT
    carrier.advance(label.tracking_number, TrackingState.IN_TRANSIT)
    assert carrier.track(label.tracking_number).state is TrackingState.IN_TRANSIT
    with pytest.raises(CarrierRejected, match="cannot be voided: the parcel is in transit"):
        carrier.cancel_label(label.tracking_number)
    other = carrier.create_label(label_request(key="label:shp_2"))
    carrier.cancel_label(other.tracking_number)
    assert carrier.track(other.tracking_number).state is TrackingState.VOIDED
    with pytest.raises(CarrierRejected, match="knows no parcel NOPE"):
        carrier.track("NOPE")


# --- carrier rules ------------------------------------------------------------------------


def route(
    method: str = "ship", origin: str | None = "GB", dest: str | None = "GB"
) -> ShipmentRoute:
    return ShipmentRoute(
        method=method, origin_country=origin, destination_country=dest, service="standard"
    )


def test_default_rules() -> None:
    assert DEFAULT_RULES.choose(route()) == CarrierChoice("sandbox-domestic", "standard")
    assert DEFAULT_RULES.choose(route(dest="FR")) == CarrierChoice(
        "sandbox-international", "standard"
    )
    assert DEFAULT_RULES.choose(route("pickup")) == CarrierChoice("pickup", "standard")
    # An unknown country counts as domestic.
    assert DEFAULT_RULES.choose(route(origin=None, dest="FR")).carrier == "sandbox-domestic"


def test_rules_from_the_environment() -> None:
    text = (
        '[{"countries": ["fr", "DE"], "carrier": "sandbox-international", "service": "eu"},'
        ' {"carrier": "sandbox-domestic"}]'
    )
    rules = rules_from_env({"OPENOMS_CARRIER_RULES": text})
    assert rules == CarrierRules(
        (
            CarrierRule(carrier="sandbox-international", service="eu", countries=("FR", "DE")),
            CarrierRule(carrier="sandbox-domestic"),
        )
    )
    assert rules.choose(route(dest="DE")) == CarrierChoice("sandbox-international", "eu")
    assert rules.choose(route(dest="US")) == CarrierChoice("sandbox-domestic", "standard")
    assert rules_from_env({}) is DEFAULT_RULES


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("not json", "is not JSON"),
        ("[]", "non-empty JSON list"),
        ('[{"service": "x"}]', r"\[0\]\.carrier must name a carrier"),
        ('[{"carrier": "a", "speed": 1}]', r"unknown keys \['speed'\]"),
        ('[{"carrier": "a", "method": "fly"}]', "method must be 'ship' or 'pickup'"),
        ('[{"carrier": "a", "international": "yes"}]', "international must be true or false"),
        ('[{"carrier": "a", "countries": "GB"}]', "countries must be a list"),
    ],
)
def test_broken_rules_are_refused_with_the_reason(text: str, message: str) -> None:
    with pytest.raises(CarrierRulesInvalid, match=message):
        parse_rules(text)


def test_rules_must_name_registered_carriers_and_match_everything(sandbox_db: Database) -> None:
    env = {"OPENOMS_CARRIER_RULES": '[{"carrier": "dhl"}]'}
    with pytest.raises(CarrierRulesInvalid, match=r"unregistered carriers: \['dhl'\]"):
        default_carriers(sandbox_db, env=env)
    carriers = default_carriers(
        sandbox_db, env=env, extra={"dhl": SandboxCarrier(sandbox_db, "dhl")}
    )
    assert carriers.choose(route()).carrier == "dhl"
    assert carriers.names() == ["dhl", "pickup", "sandbox-domestic", "sandbox-international"]
    with pytest.raises(CarrierUnknown, match="no carrier 'ups' is registered"):
        carriers.get("ups")
    only_pickup = Carriers(
        {"pickup": SandboxCarrier(sandbox_db, "pickup")},
        parse_rules('[{"method": "pickup", "carrier": "pickup"}]'),
    )
    with pytest.raises(CarrierRuleMissing, match="no carrier rule matches a ship shipment"):
        only_pickup.choose(route())
