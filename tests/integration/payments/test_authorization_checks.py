"""Channel policy `verify_authorizations`: an authorization reported at capture is checked
with its gateway before the order is routed; one the gateway does not know (or in another
currency, for less, reversed) is a high-severity payment exception and the order waits
unrouted until a retry finds it verified."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from openoms.adapters.db import models as m
from openoms.adapters.db.models import utcnow
from openoms.adapters.payments import Gateways
from openoms.adapters.payments.sandbox import SandboxGateway
from openoms.domain.ports import GatewayResult
from openoms.worker.consumers import default_jobs, default_registry
from openoms.worker.runner import Worker
from tests.integration.conftest import Api
from tests.integration.helpers import count, stock
from tests.network import stock_network
from tests.payloads import order_payload

GRAND_TOTAL = 7659  # the §12 order
VERIFY = "verify_authorizations"
EXCEPTIONS = "/api/v1/process-exceptions"


@dataclass
class Shop:
    api: Api
    sandbox: SandboxGateway
    worker: Worker

    def capture(self, reference: str | None, *, ref: str = "WEB-1") -> str:
        payment: dict[str, Any] = {"gateway": "sandbox", "token": "tok_visa", "amount": "76.59"}
        if reference is not None:
            payment["authorization_reference"] = reference
        body = order_payload(external_reference=ref, payments=[payment])
        response = self.api.client.post("/api/v1/orders", json=body, headers=self.api.headers())
        assert response.status_code == 201, response.text
        return str(response.json()["id"])

    def drain(self) -> None:
        for _ in range(50):
            if self.worker.run_once() == 0:
                return
        raise AssertionError("the worker never went idle")

    def view(self, summary_id: str) -> dict[str, Any]:
        response = self.api.client.get(
            f"/api/v1/order-summaries/{summary_id}", headers=self.api.headers()
        )
        assert response.status_code == 200, response.text
        return dict(response.json())

    def exceptions(self, summary_id: str) -> list[tuple[str, str, str, str]]:
        return [
            (e["category"], e["severity"], e["status"], e["message"])
            for e in self.view(summary_id)["process_exceptions"]
        ]

    def verify_job(self) -> tuple[str, int]:
        with self.api.db.reading() as session:
            job = session.scalars(select(m.Job).where(m.Job.kind == VERIFY)).one()
            return job.status, job.attempts

    def routing(self, summary_id: str) -> tuple[int, int, list[str]]:
        """(routing attempts, fulfillment orders, routed events) of the order."""
        with self.api.db.reading() as session:
            summary = session.get(m.OrderSummary, summary_id)
            assert summary is not None
            routed = session.scalars(
                select(m.Event.name).where(
                    m.Event.order_summary_id == summary_id,
                    m.Event.name.startswith("order_summary.routed"),
                )
            ).all()
        fos = count(
            self.api.db, m.FulfillmentOrder, m.FulfillmentOrder.order_summary_id == summary_id
        )
        return summary.routing_attempts, fos, list(routed)

    def backoff_passes(self) -> None:
        with self.api.db.transaction() as session:
            session.execute(
                update(m.Job)
                .where(m.Job.status == "pending")
                .values(available_at=utcnow() - timedelta(seconds=1))
            )


@pytest.fixture
def shop(api: Api) -> Shop:
    """The stocked network, channel web-uk as a new channel configures it (it verifies), and
    a worker sharing the API's sandbox gateway."""
    stock_network(api.db)
    sandbox = SandboxGateway(api.db)
    gateways = Gateways({"sandbox": sandbox})
    api.client.app.state.gateways = gateways  # type: ignore[attr-defined]
    worker = Worker(api.db, default_registry(), jobs=default_jobs(api.db, gateways=gateways))
    return Shop(api, sandbox, worker)


def retry(shop: Shop, summary_id: str) -> int:
    [exception] = shop.view(summary_id)["process_exceptions"]
    response = shop.api.client.post(
        f"{EXCEPTIONS}/{exception['id']}/actions/retry", json={}, headers=shop.api.headers("agent")
    )
    return response.status_code


def test_an_authorization_the_gateway_does_not_know_holds_the_order_unrouted(
    shop: Shop,
) -> None:
    # What the storefront says checkout authorized, but the gateway has no record of yet.
    reference = shop.sandbox.reference_for("authorize", "checkout-1")
    summary_id = shop.capture(reference)
    held = stock(shop.api.db)

    shop.drain()

    message = (
        f"authorizations reported at capture not verified: sandbox knows no authorization "
        f"{reference}; the order waits unrouted. Check the payment with the channel, then retry"
    )
    assert shop.exceptions(summary_id) == [("payment", "high", "NEW", message)]
    assert shop.routing(summary_id) == (0, 0, [])
    assert stock(shop.api.db) == held  # still held at capture, nothing moved
    assert shop.view(summary_id)["status"] == "CREATED"
    assert shop.verify_job() == ("pending", 1)  # backing off
    assert shop.sandbox.ledger == []

    # The gateway knows it now (its record caught up): an agent's retry routes the order.
    assert shop.sandbox.preauthorize("tok_visa", GRAND_TOTAL, "GBP", key="checkout-1") == (
        reference
    )
    assert retry(shop, summary_id) == 202
    shop.drain()

    view = shop.view(summary_id)
    assert [(e["status"], e["occurrences"]) for e in view["process_exceptions"]] == [
        ("RESOLVED", 1)
    ]
    assert view["active_process_exception_count"] == 0
    assert sorted(fo["location"] for fo in view["fulfillment_orders"]) == ["STORE-LDN", "WH-LDN"]
    assert shop.routing(summary_id)[1:] == (2, ["order_summary.routed"] * 2)
    assert shop.verify_job() == ("done", 2)
    names = [e["name"] for e in view["events"]]
    assert names.count("payment.authorizations_verified") == 1


@pytest.mark.parametrize(
    ("amount", "currency", "problem"),
    [
        (5000, "GBP", "is for 50.00 at sandbox, less than the 76.59 reported"),
        (GRAND_TOTAL, "EUR", "is in EUR at sandbox, not GBP"),
    ],
)
def test_an_authorization_for_less_or_in_another_currency_holds_the_order(
    shop: Shop, amount: int, currency: str, problem: str
) -> None:
    reference = shop.sandbox.preauthorize("tok_visa", amount, currency, key="checkout-1")
    summary_id = shop.capture(reference)

    shop.drain()

    [(category, severity, status, message)] = shop.exceptions(summary_id)
    assert (category, severity, status) == ("payment", "high", "NEW")
    assert f"authorization {reference} {problem}" in message
    assert shop.routing(summary_id) == (0, 0, [])


def test_a_known_authorization_is_verified_once_and_the_order_routes(shop: Shop) -> None:
    reference = shop.sandbox.preauthorize("tok_visa", GRAND_TOTAL, "GBP", key="checkout-1")
    summary_id = shop.capture(reference)

    shop.drain()

    view = shop.view(summary_id)
    assert view["process_exceptions"] == []
    assert len(view["fulfillment_orders"]) == 2
    assert shop.verify_job() == ("done", 1)
    assert shop.sandbox.calls == 1  # one lookup, nothing else asked of the gateway
    [verified] = [e for e in view["events"] if e["name"] == "payment.authorizations_verified"]
    assert verified["payload"]["authorizations"] == [
        {"gateway": "sandbox", "reference": reference, "amount": "76.59", "currency": "GBP"}
    ]


def test_routing_that_runs_before_the_check_waits_for_it(shop: Shop) -> None:
    reference = shop.sandbox.preauthorize("tok_visa", GRAND_TOTAL, "GBP", key="checkout-1")
    summary_id = shop.capture(reference)
    with shop.api.db.transaction() as session:  # the check is slow: routing gets there first
        session.execute(
            update(m.Job)
            .where(m.Job.kind == VERIFY)
            .values(available_at=utcnow() + timedelta(hours=1))
        )
    shop.drain()
    assert shop.routing(summary_id) == (0, 0, [])
    with shop.api.db.reading() as session:
        routes = session.scalars(select(m.Job.status).where(m.Job.kind == "route_group")).all()
    assert routes == ["done", "done"]  # they waited: the check queues them again

    shop.backoff_passes()
    with shop.api.db.transaction() as session:
        session.execute(update(m.Job).where(m.Job.kind == VERIFY).values(available_at=utcnow()))
    shop.drain()

    assert shop.routing(summary_id)[1:] == (2, ["order_summary.routed"] * 2)
    assert shop.verify_job() == ("done", 1)


def test_a_gateway_that_does_not_answer_keeps_the_order_waiting_until_it_does(
    shop: Shop,
) -> None:
    reference = shop.sandbox.preauthorize("tok_visa", GRAND_TOTAL, "GBP", key="checkout-1")
    shop.sandbox.fail_next(1, GatewayResult.INDETERMINATE, operation="lookup")
    summary_id = shop.capture(reference)

    shop.drain()
    [(category, severity, status, message)] = shop.exceptions(summary_id)
    assert (category, severity, status) == ("payment", "medium", "NEW")
    assert f"sandbox did not answer for {reference}: sandbox: injected INDETERMINATE" in message
    assert shop.routing(summary_id) == (0, 0, [])

    shop.backoff_passes()
    shop.drain()
    assert [e[2] for e in shop.exceptions(summary_id)] == ["RESOLVED"]
    assert shop.routing(summary_id)[1] == 2
    assert shop.verify_job() == ("done", 2)


def test_bare_tokens_need_no_verification(shop: Shop) -> None:
    summary_id = shop.capture(None)
    shop.drain()
    assert count(shop.api.db, m.Job, m.Job.kind == VERIFY) == 0
    assert len(shop.view(summary_id)["fulfillment_orders"]) == 2
    assert [e.operation for e in shop.sandbox.ledger] == ["authorize"]  # by the worker


def test_a_channel_that_does_not_verify_takes_authorizations_on_trust(shop: Shop) -> None:
    put = shop.api.client.put(
        "/api/v1/channels/web-uk",
        json={"location_group": "online", "verify_authorizations": False},
        headers=shop.api.headers("admin"),
    )
    assert put.status_code == 200, put.text
    assert put.json()["verify_authorizations"] is False
    summary_id = shop.capture(shop.sandbox.reference_for("authorize", "never-made"))

    shop.drain()

    assert count(shop.api.db, m.Job, m.Job.kind == VERIFY) == 0
    assert shop.exceptions(summary_id) == []
    assert len(shop.view(summary_id)["fulfillment_orders"]) == 2
    assert shop.sandbox.calls == 0


def test_a_new_channel_verifies_by_default_and_says_so(api: Api) -> None:
    created = api.client.put("/api/v1/channels/app-uk", json={}, headers=api.headers("admin"))
    read = api.client.get("/api/v1/channels/app-uk", headers=api.headers())

    assert created.status_code == 201, created.text
    assert created.json()["verify_authorizations"] is True
    assert read.json()["verify_authorizations"] is True
    with api.db.reading() as session:
        event = session.scalars(select(m.Event).where(m.Event.name == "channel.upserted")).one()
    assert event.payload["verify_authorizations"] is True


def test_the_outbox_is_not_needed_to_queue_the_check(shop: Shop) -> None:
    """The check is queued by capture itself, in its transaction: before any event is
    delivered, routing already has something to wait for."""
    reference = shop.sandbox.preauthorize("tok_visa", GRAND_TOTAL, "GBP", key="checkout-1")
    summary_id = shop.capture(reference)
    with shop.api.db.reading() as session:
        job = session.scalars(select(m.Job).where(m.Job.kind == VERIFY)).one()
    assert (job.dedupe_key, job.status, job.payload) == (
        f"verify_authorizations:{summary_id}",
        "pending",
        {"order_summary_id": summary_id, "references": [reference]},
    )
    assert count(shop.api.db, m.Job, m.Job.kind == "route_group") == 0
