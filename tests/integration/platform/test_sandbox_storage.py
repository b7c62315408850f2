"""The sandboxes keep what a remote gateway or carrier keeps in the database: every instance
over one database — the API's, each worker's, in any process, after a restart — is one
gateway and one carrier account, and a key moves money (or buys a label) once even when two
processes send it at the same moment."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import TypeVar

import pytest

from openoms.adapters.carriers.sandbox import SandboxCarrier
from openoms.adapters.db.session import Database
from openoms.adapters.payments.sandbox import SandboxGateway
from openoms.domain.ports import (
    AuthorizationLookup,
    AuthorizationState,
    GatewayRequest,
    GatewayResult,
    GatewayUnavailable,
    Label,
    LabelItem,
    LabelRequest,
    PostalAddress,
    TrackingState,
)

R = GatewayResult
T = TypeVar("T")
ON_POSTGRES = [pytest.param("postgres", marks=pytest.mark.postgres)]
THREADS = 8


@contextmanager
def another_process(db: Database) -> Iterator[Database]:
    """The same database through an engine of its own, as another process would have."""
    other = Database(db.url)
    try:
        yield other
    finally:
        other.dispose()


def req(key: str, amount: int, ref: str | None = None, token: str = "tok_visa") -> GatewayRequest:
    return GatewayRequest(key, token, amount, "GBP", ref)


def at_once(calls: list[Callable[[], T]]) -> list[T]:
    """Run the calls in threads released together."""
    start = threading.Barrier(len(calls))

    def run(call: Callable[[], T]) -> T:
        start.wait()
        return call()

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(run, calls))


# --- the gateway ----------------------------------------------------------------------------


def test_two_gateway_instances_over_one_database_are_one_gateway(db: Database) -> None:
    api = SandboxGateway(db)
    with another_process(db) as other:
        worker = SandboxGateway(other)
        auth = api.authorize(req("auth-1", 1000)).reference
        assert auth is not None
        charge = worker.capture(req("capture-1", 600, auth))
        assert (charge.result, charge.amount) == (R.SUCCESS, 600)
        assert api.capture(req("capture-1", 600, auth)) == charge  # the answer is remembered
        reused = api.capture(req("capture-1", 700, auth))
        refund = api.refund(req("refund-1", 200, charge.reference))
        too_much = worker.capture(req("capture-2", 401, auth))

        assert (reused.result, reused.message) == (
            R.PERMANENT_FAIL,
            "idempotency key capture-1 reused differently",
        )
        assert (refund.result, refund.amount) == (R.SUCCESS, 200)
        assert (too_much.result, too_much.message) == (
            R.PERMANENT_FAIL,
            "401 exceeds the 400 left on the authorization",
        )
        moved = [("authorize", 1000), ("capture", 600), ("refund", 200)]
        assert [(e.operation, e.amount) for e in api.ledger] == moved
        assert worker.ledger == api.ledger
        assert (api.captured_on(auth), worker.captured_on(auth)) == (600, 600)
        assert worker.get_authorization(auth) == AuthorizationLookup(
            auth, AuthorizationState.OPEN, 1000, "GBP", 400
        )
    # A restart (a new instance, a new engine) forgets nothing.
    with another_process(db) as restarted:
        assert SandboxGateway(restarted).ledger == api.ledger


def test_a_timeout_counts_the_calls_every_instance_made_with_the_key(db: Database) -> None:
    """tok_timeout loses the first answer: the retry from another process finds the charge."""
    api = SandboxGateway(db)
    auth = api.preauthorize("tok_timeout", 1000, "GBP", key="checkout")
    with another_process(db) as other:
        first = api.capture(req("c1", 400, auth, "tok_timeout"))
        retried = SandboxGateway(other).capture(req("c1", 400, auth, "tok_timeout"))

    assert (first.result, first.amount) == (R.INDETERMINATE, 0)
    assert (retried.result, retried.amount) == (R.SUCCESS, 400)
    assert [(e.operation, e.reference) for e in api.movements("capture")] == [
        ("capture", retried.reference)
    ]


def test_gateways_of_other_names_keep_their_own_ledgers(db: Database) -> None:
    one, two = SandboxGateway(db, "one"), SandboxGateway(db, "two")
    auth = one.preauthorize("tok_visa", 1000, "GBP", key="checkout")
    assert two.capture(req("c1", 100, auth)).message == f"no authorization {auth}"
    assert two.get_authorization(auth) == AuthorizationLookup(auth, AuthorizationState.UNKNOWN)
    assert (len(one.ledger), two.ledger) == (1, [])


def test_get_authorization_says_what_is_left(db: Database) -> None:
    gateway = SandboxGateway(db)
    auth = gateway.preauthorize("tok_visa", 1000, "GBP", key="checkout")
    gateway.capture(req("c1", 1000, auth))
    other = gateway.preauthorize("tok_visa", 500, "GBP", key="checkout-2")
    gateway.capture(req("c2", 200, other))
    gateway.reverse_authorization(req("v2", 300, other))
    gateway.fail_next(1, R.INDETERMINATE, operation="lookup")

    with pytest.raises(GatewayUnavailable):
        gateway.get_authorization(auth)
    assert gateway.get_authorization(auth) == AuthorizationLookup(
        auth, AuthorizationState.CAPTURED, 1000, "GBP", 0
    )
    assert gateway.get_authorization(other) == AuthorizationLookup(
        other, AuthorizationState.REVERSED, 500, "GBP", 0
    )


@pytest.mark.parametrize("db", ON_POSTGRES, indirect=True)
def test_one_key_sent_by_many_processes_at_once_moves_money_once(db: Database) -> None:
    auth = SandboxGateway(db).preauthorize("tok_visa", 1000, "GBP", key="checkout")
    engines = [Database(db.url) for _ in range(THREADS)]
    try:
        answers = at_once(
            [lambda e=e: SandboxGateway(e).capture(req("c1", 700, auth)) for e in engines]
        )
    finally:
        for engine in engines:
            engine.dispose()

    assert {(a.result, a.amount, a.reference) for a in answers} == {
        (R.SUCCESS, 700, answers[0].reference)
    }
    assert [e.amount for e in SandboxGateway(db).movements("capture")] == [700]
    assert SandboxGateway(db).captured_on(auth) == 700


@pytest.mark.parametrize("db", ON_POSTGRES, indirect=True)
def test_captures_racing_for_one_authorization_never_take_more_than_it_holds(
    db: Database,
) -> None:
    auth = SandboxGateway(db).preauthorize("tok_visa", 1000, "GBP", key="checkout")
    engines = [Database(db.url) for _ in range(THREADS)]
    try:
        answers = at_once(
            [
                lambda n=n, e=e: SandboxGateway(e).capture(req(f"c{n}", 300, auth))
                for n, e in enumerate(engines)
            ]
        )
    finally:
        for engine in engines:
            engine.dispose()

    assert sorted(a.result for a in answers) == [R.PERMANENT_FAIL] * 5 + [R.SUCCESS] * 3
    assert [e.amount for e in SandboxGateway(db).movements("capture")] == [300, 300, 300]
    assert SandboxGateway(db).captured_on(auth) == 900


# --- the carrier ----------------------------------------------------------------------------


def label_request(key: str) -> LabelRequest:
    return LabelRequest(
        idempotency_key=key,
        reference="shp_1",
        service="standard",
        ship_from=PostalAddress(country="GB", postal_code="M1 1AA"),
        ship_to=PostalAddress(country="GB", postal_code="EC1A 1BB"),
        items=(LabelItem("TEE-M", 1),),
    )


def test_one_label_per_key_whichever_instance_sells_it(db: Database) -> None:
    api = SandboxCarrier(db, "sandbox-domestic", prefix="SBD")
    with another_process(db) as other:
        worker = SandboxCarrier(other, "sandbox-domestic", prefix="SBD")
        label = api.create_label(label_request("label:shp_1"))
        again = worker.create_label(label_request("label:shp_1"))
        worker.advance(label.tracking_number, TrackingState.IN_TRANSIT)

        assert again == label
        assert api.ledger == worker.ledger == [label]
        assert api.track(label.tracking_number).state is TrackingState.IN_TRANSIT
        other_label = worker.create_label(label_request("label:shp_2"))
        api.cancel_label(other_label.tracking_number)
        assert worker.track(other_label.tracking_number).state is TrackingState.VOIDED
    # Another account knows none of these parcels.
    assert SandboxCarrier(db, "sandbox-international").ledger == []


@pytest.mark.parametrize("db", ON_POSTGRES, indirect=True)
def test_one_label_key_sent_by_many_processes_at_once_sells_one_label(db: Database) -> None:
    engines = [Database(db.url) for _ in range(THREADS)]
    try:
        labels: list[Label] = at_once(
            [
                lambda e=e: SandboxCarrier(e, "sandbox-domestic").create_label(
                    label_request("label:shp_1")
                )
                for e in engines
            ]
        )
    finally:
        for engine in engines:
            engine.dispose()

    assert len(set(labels)) == 1
    assert SandboxCarrier(db, "sandbox-domestic").ledger == [labels[0]]
