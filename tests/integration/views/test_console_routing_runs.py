"""The console's routing runs page (console/routing_runs.py) on SQLite and PostgreSQL: an
admin starts a dry run and sees its saving, an agent sees runs but may not start one, a
warehouse user may not open the page, and a refused start says why and changes nothing."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import func, select

from openoms.adapters.db import models as m
from openoms.adapters.outbox import Outbox
from openoms.domain.inventory import LocationType
from openoms.worker.consumers import default_registry
from tests.integration.conftest import Api
from tests.integration.console_client import Browser, add_user
from tests.integration.helpers import capture
from tests.integration.worker import drain_db
from tests.network import stock_network
from tests.payloads import one_unit_each

Browsers = Callable[[], Browser]
SITES = {
    "WH-LDN": (LocationType.WAREHOUSE, "London", 51.50, -0.12, True, False, "online"),
    "WH-MAN": (LocationType.WAREHOUSE, "Manchester", 53.48, -2.24, True, False, "online"),
}


def signed_in(api: Api, console: Browsers, role: str) -> Browser:
    add_user(api.db, f"{role}@example.com", role)
    browser = console()
    assert browser.sign_in(f"{role}@example.com").status_code == 303
    return browser


def split_world(api: Api) -> None:
    stock = {("WH-LDN", "X"): 1, ("WH-LDN", "Y"): 1, ("WH-MAN", "X"): 1}
    stock_network(api.db, stock=stock, locations=SITES)
    outbox = Outbox(default_registry())
    capture(api.db, outbox, one_unit_each("A", ["X"]))
    drain_db(api.db)
    capture(api.db, outbox, one_unit_each("B", ["X", "Y"]))
    drain_db(api.db)


def runs(api: Api) -> int:
    with api.db.reading() as session:
        return session.scalar(select(func.count()).select_from(m.RoutingRun)) or 0


def test_an_admin_starts_a_dry_run_and_sees_its_saving(api: Api, console: Browsers) -> None:
    split_world(api)
    admin = signed_in(api, console, "admin")

    started = admin.client.post(
        "/console/routing-runs",
        data={
            "csrf_token": admin.csrf(),
            "channel": "web-uk",
            "scope": "unreleased",
            "mode": "dry",
        },
    )

    assert started.status_code == 303
    page = admin.client.get(started.headers["location"])
    assert page.status_code == 200
    assert 'id="run-groups"' in page.text
    assert "2 → 1" in page.text  # B: two shipments now, one planned
    listing = admin.client.get("/console/routing-runs").text
    with api.db.reading() as session:
        totals = session.scalars(select(m.RoutingRun.totals)).one()
    alone = totals["one_at_a_time"]["shipments"] - totals["plan"]["shipments"]
    assert f"<td>1 / {alone}</td>" in listing  # one shipment saved against now
    assert runs(api) == 1


def test_an_agent_sees_runs_but_cannot_start_one(api: Api, console: Browsers) -> None:
    split_world(api)
    agent = signed_in(api, console, "agent")

    page = agent.client.get("/console/routing-runs")
    refused = agent.client.post(
        "/console/routing-runs", data={"csrf_token": agent.csrf(), "channel": "web-uk"}
    )

    assert page.status_code == 200
    assert 'data-action="start-run"' not in page.text
    assert refused.status_code == 403
    assert runs(api) == 0


def test_a_warehouse_user_cannot_open_the_page(api: Api, console: Browsers) -> None:
    split_world(api)
    warehouse = signed_in(api, console, "warehouse")
    assert warehouse.client.get("/console/routing-runs").status_code == 403


def test_a_refused_start_says_why_and_changes_nothing(api: Api, console: Browsers) -> None:
    split_world(api)
    admin = signed_in(api, console, "admin")
    csrf = admin.csrf()

    unknown = admin.client.post(
        "/console/routing-runs", data={"csrf_token": csrf, "channel": "nowhere"}
    )
    bad_scope = admin.client.post(
        "/console/routing-runs", data={"csrf_token": csrf, "channel": "web-uk", "scope": "all"}
    )
    no_csrf = admin.client.post("/console/routing-runs", data={"channel": "web-uk"})
    missing = admin.client.get("/console/routing-runs?run=rrun_nope")

    assert unknown.status_code == 400
    assert "channel &#39;nowhere&#39; is not configured" in unknown.text
    assert bad_scope.status_code == 400
    assert "scope is waiting or unreleased" in bad_scope.text
    assert no_csrf.status_code == 403
    assert "no routing run" in missing.text
    assert runs(api) == 0
