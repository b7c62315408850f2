"""A new managed order's first authorization is made by its `route_order` job, on SQLite and
PostgreSQL: the same answers, exceptions and retries as the `authorize_payments` job, which
is queued only to retry (counting that first attempt) and is never needed to route."""

from __future__ import annotations

from sqlalchemy import select

from openoms.adapters.db import models as m
from openoms.adapters.db.session import Database
from tests.integration.conftest import Api
from tests.integration.service_shop import GRAND_TOTAL, Shop, make_shop


def shop_paid_with(api: Api, token: str) -> Shop:
    """The §12 order (MANAGED) paid with a bare `token`, and the worker run until idle."""
    shop = make_shop(api)
    shop.capture(payments=[{"gateway": "sandbox", "token": token, "amount": "76.59"}])
    shop.drain()
    return shop


def jobs(shop: Shop) -> dict[str, tuple[str, int, str | None]]:
    """Kind → (status, attempts, last error) of the order's jobs."""
    with shop.api.db.reading() as session:
        rows = session.scalars(select(m.Job).where(m.Job.kind != "create_label")).all()
        return {j.kind: (j.status, j.attempts, j.last_error) for j in rows}


def authorization(shop: Shop) -> tuple[str, int]:
    with shop.api.db.reading() as session:
        auth = session.scalars(select(m.PaymentAuthorization)).one()
        return auth.status, auth.amount


def payment_exceptions(shop: Shop) -> list[tuple[str, str]]:
    with shop.api.db.reading() as session:
        rows = session.scalars(
            select(m.ProcessException).where(m.ProcessException.category == "payment")
        )
        return [(e.severity, e.status) for e in rows]


def asked(shop: Shop) -> list[tuple[str, str]]:
    """(idempotency key, result) of every authorize call logged, in order."""
    with shop.api.db.reading() as session:
        rows = session.execute(
            select(m.PaymentGatewayLog.idempotency_key, m.PaymentGatewayLog.result)
            .where(m.PaymentGatewayLog.operation == "authorize")
            .order_by(m.PaymentGatewayLog.id)
        ).all()
        return [(str(key), str(result)) for key, result in rows]


def test_the_routing_job_authorizes_and_no_payment_job_runs(stocked: Database, api: Api) -> None:
    shop = shop_paid_with(api, "tok_visa")
    assert authorization(shop) == ("AUTHORIZED", GRAND_TOTAL)
    assert jobs(shop) == {"route_order": ("done", 1, None)}
    assert len(shop.fos()) == 2
    assert shop.money()["payment"][0] == GRAND_TOTAL  # authorized on the payment summary
    assert "payment.authorized" in shop.event_names()
    assert [result for _, result in asked(shop)] == ["SUCCESS"]  # asked once


def test_a_soft_decline_hands_the_retries_to_the_payment_job(stocked: Database, api: Api) -> None:
    shop = shop_paid_with(api, "tok_soft_decline")
    assert len(shop.fos()) == 2  # routing does not wait for the money
    assert authorization(shop) == ("PENDING", GRAND_TOTAL)
    assert payment_exceptions(shop) == [("medium", "NEW")]
    status, attempts, error = jobs(shop)["authorize_payments"]
    assert (status, attempts) == ("pending", 1)  # the routing job's attempt counts
    assert str(error).startswith("DECLINE")
    assert jobs(shop)["route_order"][0] == "done"

    shop.sandbox.recover("tok_soft_decline")
    shop.let_backoffs_run_out()
    shop.drain()
    assert authorization(shop) == ("AUTHORIZED", GRAND_TOTAL)
    assert payment_exceptions(shop) == [("medium", "RESOLVED")]
    assert jobs(shop)["authorize_payments"][:2] == ("done", 2)
    first, second = asked(shop)
    assert (first[1], second[1]) == ("DECLINE", "SUCCESS")
    assert first[0] != second[0]  # a decline is final for its key


def test_a_hard_decline_is_not_retried(stocked: Database, api: Api) -> None:
    shop = shop_paid_with(api, "tok_hard_decline")
    assert authorization(shop) == ("DECLINED", GRAND_TOTAL)
    assert payment_exceptions(shop) == [("high", "NEW")]
    assert "authorize_payments" not in jobs(shop)
    assert len(shop.fos()) == 2


def test_an_unknown_answer_is_asked_again_with_the_same_key(stocked: Database, api: Api) -> None:
    shop = shop_paid_with(api, "tok_timeout")
    shop.let_backoffs_run_out()
    shop.drain()
    assert authorization(shop) == ("AUTHORIZED", GRAND_TOTAL)
    [(first_key, first), (second_key, second)] = asked(shop)
    assert (first, second, first_key == second_key) == ("INDETERMINATE", "SUCCESS", True)
    assert jobs(shop)["authorize_payments"][:2] == ("done", 2)
