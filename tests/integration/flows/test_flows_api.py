"""The flows API on SQLite and PostgreSQL: each PUT a new version, invalid flows refused with
a 400 naming the path (and nothing stored), admin only, and the test action that changes
nothing."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from openoms.adapters.db import models as m
from openoms.adapters.db.session import Database
from tests.integration.conftest import Api
from tests.integration.flows.world import (
    capture_total,
    flow_tables,
    note_flow,
    put_flow,
)
from tests.integration.helpers import assert_problem, bookkeeping, count
from tests.integration.worker import drain_db
from tests.network import stock_network


def test_each_put_stores_a_new_version(api: Api) -> None:
    first = put_flow(api, "big-orders", note_flow("100.00"))
    assert first.status_code == 201, first.text
    assert (first.json()["version"], first.json()["ref"]) == (1, "big-orders")
    assert first.json()["actions"] == [{"type": "add_note", "note": "over 100.00"}]

    second = put_flow(api, "big-orders", note_flow("200.00", enabled=False))
    assert second.status_code == 200, second.text

    got = api.client.get("/api/v1/flows/big-orders", headers=api.headers("admin")).json()
    assert (got["version"], got["enabled"], got["id"]) == (2, False, first.json()["id"])
    assert [v["version"] for v in got["versions"]] == [2, 1]
    assert [v["when"]["all"][0]["value"] for v in got["versions"]] == ["200.00", "100.00"]
    assert [v["enabled"] for v in got["versions"]] == [False, True]
    listed = api.client.get("/api/v1/flows", headers=api.headers("admin")).json()["items"]
    assert [(f["ref"], f["version"]) for f in listed] == [("big-orders", 2)]
    with api.db.reading() as session:
        events = session.scalars(
            select(m.Event).where(m.Event.name == "flow.upserted").order_by(m.Event.id)
        ).all()
        assert [(e.payload["version"], e.payload["created"]) for e in events] == [
            (1, True),
            (2, False),
        ]


INVALID: list[tuple[str, dict[str, Any], str, str]] = [
    (
        "unknown field",
        {"when": {"all": [{"field": "data.totals.grand_totl", "op": "gt", "value": "1.00"}]}},
        "when.all[0].field",
        "no field 'data.totals.grand_totl'",
    ),
    (
        "a string compared with gt",
        {
            "when": {
                "any": [
                    {"field": "data.currency", "op": "eq", "value": "GBP"},
                    {"field": "data.channel", "op": "gt", "value": "web"},
                ]
            }
        },
        "when.any[1].op",
        "op gt does not fit 'data.channel', which is a string",
    ),
    ("unknown trigger", {"trigger": "order_summary.teleported"}, "trigger", "no event type"),
    (
        "unknown action type",
        {"actions": [{"type": "add_note", "note": "x"}, {"type": "launch"}]},
        "actions[1].type",
        "unknown action type 'launch'",
    ),
    ("missing parameter", {"actions": [{"type": "add_note"}]}, "actions[0].note", "required"),
    (
        "unknown parameter",
        {"actions": [{"type": "add_note", "note": "x", "colour": "red"}]},
        "actions[0].colour",
        "add_note takes no parameter 'colour'",
    ),
    (
        "unknown strategy",
        {"actions": [{"type": "set_routing_strategy", "strategy": "cheapest"}]},
        "actions[0].strategy",
        "'cheapest' is not one of fewest_splits",
    ),
    (
        "an order action on events of no order",
        {"trigger": "location.upserted", "when": None},
        "actions[0].type",
        "add_note acts on an order",
    ),
    (
        "a flow on its own events with no condition",
        {"trigger": "order_summary.note_added", "when": None},
        "actions[0].type",
        "the flow would run again on its own event without end",
    ),
    (
        "amount as a float",
        {"when": {"field": "data.totals.grand_total", "op": "ge", "value": 100.5}},
        "when.value",
        "amounts are decimal strings",
    ),
]


@pytest.mark.parametrize(("why", "change", "path", "words"), INVALID, ids=[i[0] for i in INVALID])
def test_an_invalid_flow_is_a_400_naming_the_path_and_stores_nothing(
    api: Api, why: str, change: dict[str, Any], path: str, words: str
) -> None:
    put_flow(api, "kept", note_flow())
    before = flow_tables(api.db), count(api.db, m.Event)

    body = {**note_flow(), **change}
    for ref in ("kept", "new-one"):  # a new flow, and a new version of a stored one
        problem = assert_problem(put_flow(api, ref, body), 400, "flow_invalid")
        assert problem["field"] == path
        assert words in problem["detail"]
    assert (flow_tables(api.db), count(api.db, m.Event)) == before
    got = api.client.get("/api/v1/flows/kept", headers=api.headers("admin")).json()
    assert got["version"] == 1


def test_the_issue_example_validates_verbatim(api: Api) -> None:
    body = {
        "description": "review big web orders",
        "trigger": "order_summary.created",
        "when": {
            "all": [
                {"field": "data.totals.grand_total", "op": "gt", "value": "1000.00"},
                {"field": "data.channel", "op": "in", "value": ["web-uk", "web-de"]},
            ]
        },
        "actions": [
            {
                "type": "raise_exception",
                "category": "review",
                "severity": "low",
                "message": "order over 1000",
            },
        ],
        "enabled": True,
    }
    answer = put_flow(api, "review", body)
    assert answer.status_code == 201, answer.text


def test_flows_need_the_admin_scope(api: Api) -> None:
    for scope in ("agent", "storefront", "warehouse"):
        assert_problem(put_flow_as(api, scope), 403, "forbidden")
        answer = api.client.get("/api/v1/flows", headers=api.headers(scope))
        assert answer.status_code == 403
    assert flow_tables(api.db)["flows"] == 0
    assert api.client.get("/api/v1/flows").status_code == 401


def put_flow_as(api: Api, scope: str) -> Any:
    return api.client.put("/api/v1/flows/x", json=note_flow(), headers=api.headers(scope))


def test_unknown_flow_is_404(api: Api) -> None:
    for path in ("/api/v1/flows/none", "/api/v1/flows/none/runs"):
        assert_problem(api.client.get(path, headers=api.headers("admin")), 404, "flow_not_found")


def test_the_test_action_answers_and_changes_nothing(api: Api, db: Database) -> None:
    stock_network(db)
    put_flow(api, "big", note_flow("100.00", enabled=False))
    big = capture_total(db, "150.00", reference="BIG")
    small = capture_total(db, "50.00", reference="SMALL")
    before = flow_tables(db), count(db, m.Event), bookkeeping(db)["jobs"]

    def test(body: dict[str, Any]) -> Any:
        return api.client.post(
            "/api/v1/flows/big/actions/test", json=body, headers=api.headers("admin")
        )

    matched = test({"order_summary_id": big, "trigger": "order_summary.created"}).json()
    assert (matched["matched"], matched["enabled"], matched["already_ran"]) == (True, False, False)
    assert matched["actions"] == [{"index": 0, "type": "add_note", "note": "over 100.00"}]
    assert matched["event"]["data"]["totals"]["grand_total"] == "150.00"
    assert set(matched["event"]) == {"id", "type", "version", "occurred_at", "data"}
    by_id = test({"event_id": matched["event"]["id"]}).json()
    assert (by_id["matched"], by_id["actions"]) == (True, matched["actions"])
    missed = test({"order_summary_id": small}).json()
    assert (missed["matched"], missed["actions"]) == (False, [])

    assert_problem(test({"event_id": "evt_nope"}), 404, "flow_event_not_found")
    other = test({"order_summary_id": big, "trigger": "reservation.created"})
    assert_problem(other, 400, "flow_trigger_mismatch")
    assert_problem(test({}), 400, "validation_failed")
    assert (flow_tables(db), count(db, m.Event), bookkeeping(db)["jobs"]) == before

    drain_db(db)  # disabled: runs on nothing
    assert flow_tables(db)["flow_runs"] == 0
