"""The process exception queue over HTTP (DESIGN.md §3, §4, §9) on SQLite and PostgreSQL:
exceptions raised the way production raises them (no route for a delivery group, a card the
gateway refuses), listed and filtered, moved through their lifecycle by an agent, and
retried — the failed job runs again and its success resolves the exception."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select, update

from openoms.adapters.carriers import Carriers, default_carriers
from openoms.adapters.carriers.sandbox import SandboxCarrier
from openoms.adapters.db import models as m
from openoms.adapters.db.models import utcnow
from openoms.adapters.db.session import Database
from openoms.adapters.jobs import run_due_jobs
from openoms.adapters.payments import Gateways
from openoms.adapters.payments.sandbox import SandboxGateway
from openoms.domain.ports import GatewayResult
from openoms.services.fulfillment import ship
from openoms.services.inventory import InventoryLine, apply_inventory_import
from openoms.worker.consumers import default_jobs
from tests.integration.conftest import Api
from tests.integration.exception_queue import (
    BASE,
    act,
    active_count,
    drain,
    events,
    listed,
    outbox,
    place,
    queue,
    route_jobs,
    snapshot,
    summary,
)
from tests.integration.helpers import count
from tests.integration.service_shop import make_shop
from tests.network import stock_network

__all__ = ["queue"]  # the fixture: three open exceptions (two routing, one payment)


# --- helpers ------------------------------------------------------------------------------


def jobs_due_now(db: Database, carriers: Carriers | None = None) -> int:
    """Run only the jobs due now (no outbox relay: stock events reach no consumer)."""
    return run_due_jobs(db, outbox(), default_jobs(db, carriers))


def label_job(db: Database) -> tuple[str, dict[str, Any]]:
    """(status, payload) of the one label job."""
    with db.reading() as session:
        job = session.scalars(select(m.Job).where(m.Job.kind == "create_label")).one()
        return job.status, dict(job.payload)


def back_off(db: Database, key: str) -> None:
    """Hold the job off for an hour, as a long backoff would: a slow run of the test must
    not find it due before the retry (its first backoff is about two seconds)."""
    with db.transaction() as session:
        session.execute(
            update(m.Job)
            .where(m.Job.dedupe_key == key)
            .values(available_at=utcnow() + timedelta(hours=1))
        )


# --- reading ------------------------------------------------------------------------------


def test_an_exception_reads_as_raised(api: Api, queue: dict[str, str]) -> None:
    response = api.client.get(f"{BASE}/{queue['tee_routing']}", headers=api.headers("agent"))
    assert response.status_code == 200
    body = response.json()
    group_id = summary(api, queue["tee_order"])["delivery_groups"][0]["id"]
    assert {k: v for k, v in body.items() if k not in ("message", "created_at", "updated_at")} == {
        "id": queue["tee_routing"],
        "order_summary_id": queue["tee_order"],
        "category": "routing",
        "severity": "medium",
        "priority": 3,
        "status": "NEW",
        "action": {"kind": "route_group", "payload": {"group_summary_id": group_id, "round": 1}},
        "occurrences": 1,
    }
    assert body["message"].startswith("Delivery group 'home' could not be routed")
    assert body["created_at"].endswith("Z")
    payment = api.client.get(f"{BASE}/{queue['mug_payment']}", headers=api.headers("agent"))
    assert {k: payment.json()[k] for k in ("category", "severity", "status")} == {
        "category": "payment",
        "severity": "high",
        "status": "NEW",
    }
    assert payment.json()["action"] == {
        "kind": "authorize_payments",
        "payload": {"order_summary_id": queue["mug_order"]},
    }
    assert [active_count(api, queue[o]) for o in ("tee_order", "mug_order", "fine_order")] == [
        1,
        2,
        0,
    ]


def test_the_queue_filters_by_category_severity_status_and_order(
    api: Api, queue: dict[str, str]
) -> None:
    assert act(api, queue["mug_routing"], "triage").status_code == 200

    def ids(query: str) -> list[str]:
        return [e["id"] for e in listed(api, query)]

    everything = [queue["tee_routing"], queue["mug_routing"], queue["mug_payment"]]
    assert sorted(ids("")) == sorted(everything)
    assert ids("") == sorted(ids(""))  # oldest first
    assert sorted(ids("category=routing")) == sorted([queue["tee_routing"], queue["mug_routing"]])
    assert ids("category=payment") == [queue["mug_payment"]]
    assert ids("category=carrier") == []
    assert ids("severity=high") == [queue["mug_payment"]]
    assert sorted(ids("severity=medium")) == sorted([queue["tee_routing"], queue["mug_routing"]])
    assert sorted(ids("status=NEW")) == sorted([queue["tee_routing"], queue["mug_payment"]])
    assert ids("status=TRIAGED") == [queue["mug_routing"]]
    assert sorted(ids("status=NEW&status=TRIAGED")) == sorted(everything)
    assert ids("status=RESOLVED") == []
    assert sorted(ids(f"order_summary_id={queue['mug_order']}")) == sorted(
        [queue["mug_routing"], queue["mug_payment"]]
    )
    assert ids(f"order_summary_id={queue['fine_order']}") == []
    assert ids(f"order_summary_id={queue['mug_order']}&category=routing&status=TRIAGED") == [
        queue["mug_routing"]
    ]
    bad = api.client.get(f"{BASE}?status=OPEN", headers=api.headers("agent"))
    assert (bad.status_code, bad.json()["code"]) == (422, "payload_invalid")
    bad = api.client.get(f"{BASE}?category=weather", headers=api.headers("agent"))
    assert (bad.status_code, bad.json()["code"]) == (422, "payload_invalid")


def test_the_queue_pages_with_a_cursor(api: Api, queue: dict[str, str]) -> None:
    everything = [e["id"] for e in listed(api)]
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        query = "limit=2" + (f"&cursor={cursor}" if cursor else "")
        response = api.client.get(f"{BASE}?{query}", headers=api.headers("agent"))
        assert response.status_code == 200
        body = response.json()
        seen += [e["id"] for e in body["items"]]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert (pages, seen) == (2, everything)
    bad = api.client.get(f"{BASE}?cursor=bm9wZQ", headers=api.headers("agent"))
    assert (bad.status_code, bad.json()["code"]) == (400, "validation_failed")


def test_only_agents_and_admins_work_the_queue(api: Api, queue: dict[str, str]) -> None:
    pe = queue["tee_routing"]
    assert api.client.get(BASE).status_code == 401
    assert api.client.post(f"{BASE}/{pe}/actions/triage").status_code == 401
    for scope in ("storefront", "warehouse"):
        response = api.client.get(BASE, headers=api.headers(scope))
        assert (response.status_code, response.json()["code"]) == (403, "forbidden")
        response = api.client.post(f"{BASE}/{pe}/actions/retry", headers=api.headers(scope))
        assert response.status_code == 403
    assert api.client.get(f"{BASE}/{pe}", headers=api.headers("admin")).status_code == 200
    assert [e["status"] for e in listed(api)] == ["NEW", "NEW", "NEW"]  # nothing moved


def test_an_unknown_exception_is_404(api: Api, queue: dict[str, str]) -> None:
    before = snapshot(api.db)
    response = api.client.get(f"{BASE}/pe_NOPE", headers=api.headers("agent"))
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "process_exception_not_found"
    for action in ("triage", "resolve", "retry"):
        response = act(api, "pe_NOPE", action)
        assert (response.status_code, response.json()["code"]) == (
            404,
            "process_exception_not_found",
        )
    assert act(api, queue["tee_routing"], "escalate").status_code == 422
    assert snapshot(api.db) == before


# --- a person's moves ---------------------------------------------------------------------


def test_moves_follow_the_lifecycle_and_the_count_follows_the_active_set(
    api: Api, queue: dict[str, str]
) -> None:
    pe, order = queue["mug_routing"], queue["mug_order"]
    steps = [
        ("triage", "TRIAGED", 2),
        ("pause", "PAUSED", 2),
        ("triage", "TRIAGED", 2),  # paused → triaged stays active
        ("resolve", "RESOLVED", 1),
    ]
    for action, status, active in steps:
        response = act(api, pe, action, note=f"{action} by Ada")
        assert response.status_code == 200, response.text
        assert (response.json()["id"], response.json()["status"]) == (pe, status)
        assert active_count(api, order) == active
    moves = events(api.db)[-4:]
    assert [(name, p["status"], p["previous_status"], p["note"]) for name, p in moves] == [
        ("process_exception.triaged", "TRIAGED", "NEW", "triage by Ada"),
        ("process_exception.paused", "PAUSED", "TRIAGED", "pause by Ada"),
        ("process_exception.triaged", "TRIAGED", "PAUSED", "triage by Ada"),
        ("process_exception.resolved", "RESOLVED", "TRIAGED", "resolve by Ada"),
    ]
    assert {p["process_exception_id"] for _, p in events(api.db)[-4:]} == {pe}
    with api.db.reading() as session:
        agent = session.scalars(select(m.ApiKey.id).where(m.ApiKey.name == "test agent")).one()
    assert {p["by"] for _, p in moves} == {f"api_key:{agent}"}
    timeline = [e["name"] for e in summary(api, order)["events"]]
    assert timeline[-1] == "process_exception.resolved"

    # The other two close straight from NEW.
    assert act(api, queue["mug_payment"], "ignore").json()["status"] == "IGNORED"
    assert active_count(api, order) == 0
    assert act(api, queue["tee_routing"], "void").json()["status"] == "VOIDED"
    assert active_count(api, queue["tee_order"]) == 0
    assert [n for n, _ in events(api.db)][-2:] == [
        "process_exception.ignored",
        "process_exception.voided",
    ]
    assert events(api.db)[-1][1]["note"] is None


def test_an_illegal_move_is_409_and_changes_nothing(api: Api, queue: dict[str, str]) -> None:
    pe = queue["tee_routing"]
    assert act(api, pe, "void").status_code == 200
    before = snapshot(api.db)
    for action in ("resolve", "triage", "pause", "ignore", "void"):
        response = act(api, pe, action)
        assert response.status_code == 409
        assert response.headers["content-type"] == "application/problem+json"
        body = response.json()
        assert (body["code"], body["current"], body["allowed_actions"]) == (
            "illegal_transition",
            "VOIDED",
            [],
        )
    assert response.json()["detail"] == (
        f"process exception {pe} is VOIDED: it cannot be voided (it is closed; nothing more "
        "can be done with it)"
    )
    retry = act(api, pe, "retry")
    assert (retry.status_code, retry.json()["code"]) == (409, "process_exception_not_active")
    assert snapshot(api.db) == before

    triaged = queue["mug_routing"]
    assert act(api, triaged, "triage").status_code == 200
    again = act(api, triaged, "triage")
    assert again.status_code == 409
    assert again.json()["detail"] == (
        f"process exception {triaged} is TRIAGED: it cannot be triaged (allowed now: ignore, "
        "pause, resolve, void)"
    )
    assert again.json()["target"] == "TRIAGED"


def test_a_move_with_an_idempotency_key_is_made_once(api: Api, queue: dict[str, str]) -> None:
    pe, order = queue["mug_payment"], queue["mug_order"]
    first = act(api, pe, "resolve", note="new card", **{"Idempotency-Key": "resolve-1"})
    again = act(api, pe, "resolve", note="new card", **{"Idempotency-Key": "resolve-1"})
    assert (first.status_code, again.status_code) == (200, 200)
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert active_count(api, order) == 1
    assert [n for n, _ in events(api.db)].count("process_exception.resolved") == 1
    other = act(api, pe, "void", **{"Idempotency-Key": "resolve-1"})
    assert (other.status_code, other.json()["code"]) == (409, "idempotency_key_reused")
    too_long = act(api, pe, "void", note="x" * 2001)
    assert too_long.status_code == 422


# --- retry --------------------------------------------------------------------------------


def test_retry_reruns_the_routing_job_which_resolves_the_exception(
    api: Api, queue: dict[str, str]
) -> None:
    pe, order = queue["tee_routing"], queue["tee_order"]
    group_id = summary(api, order)["delivery_groups"][0]["id"]
    key = f"route:{group_id}:1"
    assert (key, "pending", 0) in route_jobs(api.db)  # handed over by the order's job
    back_off(api.db, key)
    # Stock arrives, but nothing tells routing (the outbox is not relayed): the job waits.
    apply_inventory_import(
        api.db,
        outbox(),
        [InventoryLine(line=1, location="WH-LDN", sku="TEE-M", on_hand=10)],
        mode="delta",
    )
    assert jobs_due_now(api.db) == 0

    response = act(api, pe, "retry", note="stock is in")
    assert response.status_code == 202, response.text
    assert (response.json()["status"], response.json()["occurrences"]) == ("NEW", 1)
    assert active_count(api, order) == 1  # open until the job succeeds
    [(_, payload)] = [e for e in events(api.db) if e[0].endswith("retry_requested")]
    assert (payload["note"], payload["job_kind"], payload["status"]) == (
        "stock is in",
        "route_group",
        "NEW",
    )
    assert (key, "pending", 0) in route_jobs(api.db)

    # A second retry while the job waits to run changes nothing (sent without a key, which
    # the retry does not need, so it stores no answer either).
    before = snapshot(api.db)
    again = api.keyless.post(f"{BASE}/{pe}/actions/retry", json={}, headers=api.headers("agent"))
    assert (again.status_code, again.json()["status"]) == (202, "NEW")
    assert snapshot(api.db) == before

    assert jobs_due_now(api.db) == 1
    body = api.client.get(f"{BASE}/{pe}", headers=api.headers("agent")).json()
    assert (body["status"], body["occurrences"]) == ("RESOLVED", 1)
    view = summary(api, order)
    assert (view["active_process_exception_count"], view["status"]) == (0, "WAITING_TO_FULFILL")
    assert [(fo["location"], fo["status"]) for fo in view["fulfillment_orders"]] == [
        ("WH-LDN", "ALLOCATED")
    ]
    assert (key, "done", 1) in route_jobs(api.db)
    assert [n for n, _ in events(api.db)][-1] == "process_exception.resolved"


def test_a_failing_retry_refreshes_the_exception(api: Api, queue: dict[str, str]) -> None:
    pe, order = queue["tee_routing"], queue["tee_order"]
    assert act(api, pe, "pause").status_code == 200
    key = f"route:{summary(api, order)['delivery_groups'][0]['id']}:1"
    with api.db.transaction() as session:  # as if its retries had run out
        session.execute(
            m.Job.__table__.update().where(m.Job.dedupe_key == key).values(status="dead")
        )
    assert jobs_due_now(api.db) == 0

    response = act(api, pe, "retry")
    assert (response.status_code, response.json()["status"]) == (202, "PAUSED")
    assert (key, "pending", 0) in route_jobs(api.db)  # revived
    assert jobs_due_now(api.db) == 1  # still no single location for 3 units

    body = api.client.get(f"{BASE}/{pe}", headers=api.headers("agent")).json()
    assert (body["status"], body["occurrences"]) == ("PAUSED", 2)
    assert active_count(api, order) == 1
    assert (key, "pending", 1) in route_jobs(api.db)  # backing off again
    assert [n for n, _ in events(api.db)].count("process_exception.raised") == 3


def test_retry_of_a_refused_capture_runs_ensure_funds_once_more(api: Api) -> None:
    stock_network(api.db)
    sandbox = SandboxGateway(api.db)
    gateways = Gateways({"sandbox": sandbox})
    api.client.app.state.gateways = gateways  # the API and the worker share one account
    order = place(api, "PE-PAY", "TEE-M")
    drain(api.db, gateways)  # routed to WH-LDN, the card authorized
    sandbox.fail_next(1, GatewayResult.PERMANENT_FAIL, operation="capture")
    [fo] = summary(api, order)["fulfillment_orders"]
    with api.db.transaction() as session:
        ship(session, outbox(), fo["id"], carrier_choice=default_carriers(api.db, env={}))
    drain(api.db, gateways)  # invoiced; its capture refused for good
    [invoice] = summary(api, order)["invoices"]
    [pe] = listed(api, f"order_summary_id={order}")
    assert {k: pe[k] for k in ("category", "severity", "status", "occurrences")} == {
        "category": "payment",
        "severity": "high",
        "status": "NEW",
        "occurrences": 1,
    }
    assert pe["action"] == {
        "kind": "ensure_funds",
        "payload": {"order_summary_id": order, "invoice_id": invoice["id"]},
    }
    assert (sandbox.movements("capture"), active_count(api, order)) == ([], 1)

    # The worker leaves an invoice held for a person alone...
    drain(api.db, gateways)
    assert sandbox.movements("capture") == []
    # ...until an agent retries: that one run may capture it.
    response = act(api, pe["id"], "retry", note="card fixed")
    assert (response.status_code, response.json()["status"]) == (202, "NEW")
    assert sandbox.movements("capture") == []  # the job does it, not the request
    drain(api.db, gateways)

    body = api.client.get(f"{BASE}/{pe['id']}", headers=api.headers("agent")).json()
    assert (body["status"], body["occurrences"]) == ("RESOLVED", 1)
    view = summary(api, order)
    assert view["active_process_exception_count"] == 0
    assert [(i["id"], i["status"]) for i in view["invoices"]] == [(invoice["id"], "PAID")]
    assert [e.amount for e in sandbox.movements("capture")] == [3599]
    names = [n for n, _ in events(api.db)]
    assert names[-2:] == ["process_exception.retry_requested", "process_exception.resolved"]
    asked, resolved = events(api.db)[-2][1], events(api.db)[-1][1]
    assert (asked["by"].startswith("api_key:"), "by" in resolved) == (True, False)  # the job did
    # Nothing more is captured however often the worker runs; a closed one is not retried.
    drain(api.db, gateways)
    assert len(sandbox.movements("capture")) == 1
    again = act(api, pe["id"], "retry")
    assert (again.status_code, again.json()["code"]) == (409, "process_exception_not_active")


def test_retry_of_a_label_the_carrier_never_gave_asks_again(api: Api) -> None:
    stock_network(api.db)
    carriers = default_carriers(api.db, env={})
    sandboxes = [carriers.get(name) for name in carriers.names()]
    order = place(api, "PE-LABEL", "TEE-M")
    drain(api.db, carriers=carriers)
    [fo] = summary(api, order)["fulfillment_orders"]
    for carrier in sandboxes:
        assert isinstance(carrier, SandboxCarrier)
        carrier.set_outage(True)
    with api.db.transaction() as session:
        shipment = ship(session, outbox(), fo["id"], carrier_choice=carriers).id
        # as if the label job had failed 19 times already: the next failure is its last
        session.execute(
            m.Job.__table__.update().where(m.Job.kind == "create_label").values(attempts=19)
        )
    assert jobs_due_now(api.db, carriers) == 1  # the carrier is down: the job dies
    [pe] = listed(api, f"order_summary_id={order}&category=carrier")
    assert (pe["severity"], pe["status"], pe["action"]) == (
        "high",
        "NEW",
        {"kind": "create_label", "payload": {"shipment_id": shipment}},
    )
    assert active_count(api, order) == 1
    for carrier in sandboxes:
        assert isinstance(carrier, SandboxCarrier)
        carrier.set_outage(False)

    # The retry queues the job as the agent's: it asks the carrier though the exception is
    # open, which stays open until the label is stored.
    response = act(api, pe["id"], "retry")
    assert (response.status_code, response.json()["status"]) == (202, "NEW")
    assert active_count(api, order) == 1
    assert [n for n, _ in events(api.db)][-1] == "process_exception.retry_requested"
    assert label_job(api.db) == ("pending", {"shipment_id": shipment, "agent_retry": True})
    again = act(api, pe["id"], "retry")  # due to run already: nothing changes
    assert (again.status_code, again.json()["status"]) == (202, "NEW")
    assert [n for n, _ in events(api.db)].count("process_exception.retry_requested") == 1

    assert jobs_due_now(api.db, carriers) == 1
    label = api.client.get(f"/api/v1/shipments/{shipment}", headers=api.headers("warehouse"))
    assert label.json()["status"] == "SHIPPED"
    assert label.json()["tracking_number"]
    body = api.client.get(f"{BASE}/{pe['id']}", headers=api.headers("agent")).json()
    assert (body["status"], body["occurrences"]) == ("RESOLVED", 1)
    assert active_count(api, order) == 0
    assert [n for n, _ in events(api.db)][-1] == "process_exception.resolved"
    assert label_job(api.db)[0] == "done"
    assert count(api.db, m.ProcessException, m.ProcessException.category == "carrier") == 1


def test_a_label_retry_that_fails_again_refreshes_the_exception(api: Api) -> None:
    stock_network(api.db)
    carriers = default_carriers(api.db, env={})
    sandboxes = [carriers.get(name) for name in carriers.names()]
    order = place(api, "PE-LABEL-DOWN", "TEE-M")
    drain(api.db, carriers=carriers)
    [fo] = summary(api, order)["fulfillment_orders"]
    for carrier in sandboxes:
        assert isinstance(carrier, SandboxCarrier)
        carrier.set_outage(True)
    with api.db.transaction() as session:
        shipment = ship(session, outbox(), fo["id"], carrier_choice=carriers).id
        session.execute(  # the next failure is the job's last
            m.Job.__table__.update().where(m.Job.kind == "create_label").values(attempts=19)
        )
    assert jobs_due_now(api.db, carriers) == 1
    [pe] = listed(api, f"order_summary_id={order}&category=carrier")
    calls = [c.calls for c in sandboxes if isinstance(c, SandboxCarrier)]

    # Still down: the retried job asks, fails for good again, and refreshes the exception.
    response = act(api, pe["id"], "retry")
    assert (response.status_code, response.json()["status"]) == (202, "NEW")
    assert jobs_due_now(api.db, carriers) == 1
    assert [c.calls for c in sandboxes if isinstance(c, SandboxCarrier)] != calls
    body = api.client.get(f"{BASE}/{pe['id']}", headers=api.headers("agent")).json()
    assert (body["status"], body["occurrences"]) == ("NEW", 2)
    assert body["message"].startswith(f"no label for shipment {shipment} after 21 attempts")
    assert active_count(api, order) == 1
    assert label_job(api.db) == ("dead", {"shipment_id": shipment, "agent_retry": True})
    shipped = api.client.get(f"/api/v1/shipments/{shipment}", headers=api.headers("warehouse"))
    assert (shipped.json()["status"], shipped.json()["tracking_number"]) == ("LABEL_PENDING", None)
    assert count(api.db, m.ProcessException) == 1
    assert [n for n, _ in events(api.db)].count("process_exception.raised") == 1


def test_an_action_openoms_cannot_run_is_409(api: Api, queue: dict[str, str]) -> None:
    pe = queue["tee_routing"]
    with api.db.transaction() as session:  # no raiser writes one: an old or foreign row
        session.execute(
            m.ProcessException.__table__.update()
            .where(m.ProcessException.id == pe)
            .values(action={"kind": "teleport", "payload": {}})
        )
    before = snapshot(api.db)
    response = act(api, pe, "retry")
    assert response.status_code == 409
    body = response.json()
    assert (body["code"], body["action_kind"]) == ("process_exception_action_unknown", "teleport")
    assert body["detail"] == (
        f"process exception {pe} has action 'teleport', which openoms cannot run again; fix "
        "the cause, then resolve, ignore or void it"
    )
    assert snapshot(api.db) == before


def test_retry_of_a_reship_without_stock_routes_it_once_stock_arrives(
    stocked: Database, api: Api
) -> None:
    shop = make_shop(api)
    shop.capture()
    shop.drain()
    shop.ship("WH-LDN")
    shop.ship("STORE-LDN")
    shop.drain()
    empty = [
        InventoryLine(line=1, location="WH-LDN", sku="TEE-M", on_hand=0),
        InventoryLine(line=2, location="WH-MAN", sku="TEE-M", on_hand=0),
    ]
    apply_inventory_import(api.db, outbox(), empty, mode="delta")
    tee = shop.item_id("TEE-M")
    body = {"items": [{"order_item_summary_id": tee, "quantity": 1}], "reason": "damaged"}
    answer = shop.action("submit-reship", body)
    assert answer.status_code == 200, answer.text
    reship_id = answer.json()["reship_id"]
    shop.drain()
    [pe] = listed(api, f"order_summary_id={shop.summary_id}")
    group = pe["action"]["payload"]["group_summary_id"]
    assert {k: pe[k] for k in ("category", "severity", "status", "occurrences")} == {
        "category": "routing",
        "severity": "medium",
        "status": "NEW",
        "occurrences": 1,
    }
    assert pe["action"] == {
        "kind": "route_reship",
        "payload": {
            "reship_id": reship_id,
            "order_summary_id": shop.summary_id,
            "group_summary_id": group,
            "reason": "damaged",
            "lines": [{"order_item_summary_id": tee, "sku": "TEE-M", "quantity": 1}],
        },
    }
    key = f"reship:{reship_id}:{group}"
    assert reship_job(api.db, key) == ("pending", 1)  # backing off
    back_off(api.db, key)
    apply_inventory_import(
        api.db,
        outbox(),
        [InventoryLine(line=1, location="WH-MAN", sku="TEE-M", on_hand=4)],
        mode="delta",
    )
    assert jobs_due_now(api.db) == 0  # the backoff has not run out

    response = act(api, pe["id"], "retry", note="stock is in")
    assert (response.status_code, response.json()["status"]) == (202, "NEW")
    assert active_count(api, shop.summary_id) == 1  # open until the job succeeds
    assert reship_job(api.db, key) == ("pending", 1)
    assert jobs_due_now(api.db) == 1

    body = api.client.get(f"{BASE}/{pe['id']}", headers=api.headers("agent")).json()
    assert (body["status"], body["occurrences"]) == ("RESOLVED", 1)
    assert active_count(api, shop.summary_id) == 0
    assert reship_job(api.db, key) == ("done", 2)
    assert [
        (
            fo["type"],
            fo["location"],
            fo["status"],
            [(ln["sku"], ln["quantity"]) for ln in fo["lines"]],
        )
        for fo in shop.view()["fulfillment_orders"]
        if fo["type"] == "reship"
    ] == [("reship", "WH-MAN", "ALLOCATED", [("TEE-M", 1)])]
    assert shop.stock()[("WH-MAN", "TEE-M")] == (4, 1)
    assert [n for n, _ in events(api.db)][-2:] == [
        "process_exception.retry_requested",
        "process_exception.resolved",
    ]
    again = act(api, pe["id"], "retry")
    assert (again.status_code, again.json()["code"]) == (409, "process_exception_not_active")


def reship_job(db: Database, key: str) -> tuple[str, int]:
    with db.reading() as session:
        job = session.scalars(select(m.Job).where(m.Job.dedupe_key == key)).one()
        return job.status, job.attempts
