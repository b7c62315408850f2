"""The sandbox gateway: its ledger, idempotency and test tokens."""

from __future__ import annotations

import itertools

import pytest

from openoms.adapters.db.session import Database
from openoms.adapters.payments import GatewayUnknown, default_gateways
from openoms.adapters.payments.sandbox import SandboxGateway
from openoms.domain.ports import GatewayRequest, GatewayResult

R = GatewayResult


def req(
    key: str, token: str = "tok_visa", amount: int = 1000, ref: str | None = None
) -> GatewayRequest:
    return GatewayRequest(key, token, amount, "GBP", ref)


def authorized(gateway: SandboxGateway, token: str = "tok_visa", amount: int = 1000) -> str:
    answer = gateway.authorize(req(f"auth-{token}", token, amount))
    assert answer.result is R.SUCCESS
    assert answer.reference is not None
    return answer.reference


def test_visa_authorizes_captures_and_refunds_once_per_key(sandbox_db: Database) -> None:
    gateway = SandboxGateway(sandbox_db)
    auth = authorized(gateway)
    first = gateway.capture(req("c1", amount=600, ref=auth))
    again = gateway.capture(req("c1", amount=600, ref=auth))
    assert first == again
    assert (first.result, first.amount) == (R.SUCCESS, 600)
    refund = gateway.refund(req("r1", amount=200, ref=first.reference))
    assert (refund.result, refund.amount) == (R.SUCCESS, 200)
    assert [(e.operation, e.amount) for e in gateway.ledger] == [
        ("authorize", 1000),
        ("capture", 600),
        ("refund", 200),
    ]
    assert gateway.captured_on(auth) == 600


def test_a_reused_key_with_another_amount_is_refused_and_moves_nothing(
    sandbox_db: Database,
) -> None:
    gateway = SandboxGateway(sandbox_db)
    auth = authorized(gateway)
    gateway.capture(req("c1", amount=100, ref=auth))
    answer = gateway.capture(req("c1", amount=200, ref=auth))
    assert answer.result is R.PERMANENT_FAIL
    assert len(gateway.movements("capture")) == 1


def test_capture_cannot_exceed_what_is_left_on_the_authorization(sandbox_db: Database) -> None:
    gateway = SandboxGateway(sandbox_db)
    auth = authorized(gateway)
    assert gateway.capture(req("c1", amount=700, ref=auth)).result is R.SUCCESS
    answer = gateway.capture(req("c2", amount=301, ref=auth))
    assert (answer.result, answer.amount) == (R.PERMANENT_FAIL, 0)
    assert gateway.capture(req("c3", amount=300, ref=auth)).result is R.SUCCESS
    assert gateway.captured_on(auth) == 1000


def test_capture_against_an_unknown_authorization_or_another_currency_fails(
    sandbox_db: Database,
) -> None:
    gateway = SandboxGateway(sandbox_db)
    auth = authorized(gateway)
    assert gateway.capture(req("c1", ref="auth_nope")).result is R.PERMANENT_FAIL
    usd = GatewayRequest("c2", "tok_visa", 100, "USD", auth)
    assert gateway.capture(usd).result is R.PERMANENT_FAIL
    assert gateway.movements("capture") == []


def test_refund_cannot_exceed_captured_minus_refunded(sandbox_db: Database) -> None:
    gateway = SandboxGateway(sandbox_db)
    capture = gateway.capture(req("c1", amount=500, ref=authorized(gateway)))
    assert gateway.refund(req("r1", amount=400, ref=capture.reference)).result is R.SUCCESS
    assert gateway.refund(req("r2", amount=101, ref=capture.reference)).result is R.PERMANENT_FAIL
    assert [e.amount for e in gateway.movements("refund")] == [400]


def test_reversal_lowers_what_can_be_captured(sandbox_db: Database) -> None:
    gateway = SandboxGateway(sandbox_db)
    auth = authorized(gateway)
    assert gateway.reverse_authorization(req("v1", amount=800, ref=auth)).result is R.SUCCESS
    assert gateway.capture(req("c1", amount=201, ref=auth)).result is R.PERMANENT_FAIL
    assert gateway.capture(req("c2", amount=200, ref=auth)).result is R.SUCCESS


def test_soft_decline_until_recovered(sandbox_db: Database) -> None:
    gateway = SandboxGateway(sandbox_db)
    answer = gateway.authorize(req("a1", "tok_soft_decline"))
    assert (answer.result, answer.amount, answer.reference) == (R.DECLINE, 0, None)
    assert gateway.authorize(req("a1", "tok_soft_decline")).result is R.DECLINE
    gateway.recover("tok_soft_decline")
    assert gateway.authorize(req("a1", "tok_soft_decline")).result is R.SUCCESS
    assert len(gateway.movements("authorize")) == 1


def test_soft_decline_on_capture_of_a_preauthorized_token(sandbox_db: Database) -> None:
    gateway = SandboxGateway(sandbox_db)
    auth = gateway.preauthorize("tok_soft_decline", 1000, "GBP", key="checkout")
    assert gateway.capture(req("c1", "tok_soft_decline", 500, auth)).result is R.DECLINE
    assert gateway.movements("capture") == []


def test_hard_decline_is_permanent(sandbox_db: Database) -> None:
    gateway = SandboxGateway(sandbox_db)
    assert gateway.authorize(req("a1", "tok_hard_decline")).result is R.PERMANENT_FAIL
    auth = gateway.preauthorize("tok_hard_decline", 1000, "GBP", key="checkout")
    assert gateway.capture(req("c1", "tok_hard_decline", 500, auth)).result is R.PERMANENT_FAIL
    assert [e.operation for e in gateway.ledger] == ["authorize"]  # the preauthorization


def test_timeout_charges_but_loses_the_answer_then_the_same_key_finds_it(
    sandbox_db: Database,
) -> None:
    gateway = SandboxGateway(sandbox_db, timeout_calls=2)
    auth = gateway.preauthorize("tok_timeout", 1000, "GBP", key="checkout")
    request = req("c1", "tok_timeout", 400, auth)
    lost = [gateway.capture(request) for _ in range(2)]
    assert [a.result for a in lost] == [R.INDETERMINATE, R.INDETERMINATE]
    found = gateway.capture(request)
    assert (found.result, found.amount) == (R.SUCCESS, 400)
    captures = gateway.movements("capture")
    assert len(captures) == 1
    assert captures[0].reference == found.reference
    assert gateway.captured_on(auth) == 400


def test_timeout_without_moving_money(sandbox_db: Database) -> None:
    gateway = SandboxGateway(sandbox_db, timeout_moves_money=False)
    auth = gateway.preauthorize("tok_timeout", 1000, "GBP", key="checkout")
    assert gateway.capture(req("c1", "tok_timeout", 400, auth)).result is R.INDETERMINATE
    assert gateway.movements("capture") == []
    assert gateway.capture(req("c1", "tok_timeout", 400, auth)).result is R.SUCCESS


def test_flaky_is_intermittent_deterministic_and_never_double_charges(sandbox_db: Database) -> None:
    def run(*gateways: SandboxGateway) -> list[GatewayResult]:
        """Authorize 20 keys until each succeeds, each call by the next of `gateways`."""
        turns = itertools.cycle(gateways)
        results: list[GatewayResult] = []
        for n in range(20):
            request = req(f"a{n}", "tok_flaky", 100)
            answer = next(turns).authorize(request)
            while answer.result is R.INDETERMINATE:
                results.append(answer.result)
                answer = next(turns).authorize(request)
            results.append(answer.result)
        assert len(gateways[0].movements("authorize")) == 20
        return results

    alone = run(SandboxGateway(sandbox_db, "alone", seed=7))
    # Two processes taking turns draw what one process draws: the luck is in the database.
    shared = run(*(SandboxGateway(sandbox_db, "shared", seed=7) for _ in range(2)))
    assert alone == shared
    assert R.INDETERMINATE in alone
    assert alone.count(R.SUCCESS) == 20
    assert alone != run(SandboxGateway(sandbox_db, "other seed", seed=8))


def test_partial_approves_half(sandbox_db: Database) -> None:
    answer = SandboxGateway(sandbox_db).authorize(req("a1", "tok_partial", 1001))
    assert (answer.result, answer.amount) == (R.SUCCESS, 500)


def test_fail_next_injects_without_moving_money(sandbox_db: Database) -> None:
    gateway = SandboxGateway(sandbox_db)
    capture = gateway.capture(req("c1", amount=500, ref=authorized(gateway)))
    gateway.fail_next(1, R.DECLINE, operation="refund")
    assert gateway.refund(req("r1", amount=100, ref=capture.reference)).result is R.DECLINE
    assert gateway.refund(req("r1", amount=100, ref=capture.reference)).result is R.SUCCESS
    assert len(gateway.movements("refund")) == 1


def test_registry_knows_the_sandbox_and_refuses_unknown_names(sandbox_db: Database) -> None:
    gateways = default_gateways(sandbox_db)
    assert gateways.names() == ["sandbox", "shopify"]
    assert gateways.get("sandbox").name == "sandbox"
    assert gateways.get("shopify").name == "shopify"
    with pytest.raises(GatewayUnknown) as refused:
        gateways.get("stripe")
    assert refused.value.code == "gateway_unknown"
