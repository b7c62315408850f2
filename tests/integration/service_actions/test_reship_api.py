"""Reship over the HTTP API, on SQLite and PostgreSQL: replacement units sent at no charge.

The §12 order (3× TEE-M shipped home from WH-LDN, 1× MUG picked up at STORE-LDN, 76.59)
is captured, routed, shipped, invoiced and captured by the worker; then one TEE-M is
reported lost. The reship raises quantity_reshipped at once and queues its routing job,
which reserves a fresh unit and makes a fulfillment order of type reship; shipping it takes
the unit off on hand and bills nothing: no invoice, no capture, no refund."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import select, update

from openoms.adapters.db import models as m
from openoms.adapters.outbox import Outbox
from openoms.services.inventory import InventoryLine, apply_inventory_import
from openoms.worker.consumers import default_registry
from tests.integration.conftest import Api
from tests.integration.service_shop import GRAND_TOTAL, Shop, make_shop, without_ids


def shipped_shop(api: Api) -> Shop:
    """The §12 order captured, routed, both groups shipped, invoiced and captured."""
    shop = make_shop(api)
    shop.capture()
    shop.drain()
    shop.ship("WH-LDN")
    shop.ship("STORE-LDN")
    shop.drain()
    return shop


def reship_body(shop: Shop, units: int = 1, sku: str = "TEE-M", **extra: Any) -> dict[str, Any]:
    return {
        "items": [{"order_item_summary_id": shop.item_id(sku), "quantity": units}],
        "reason": "lost_in_transit",
        **extra,
    }


def quantities(item: dict[str, Any]) -> tuple[int, int, int, int, int]:
    """(allocated, fulfilled, reshipped, return initiated, available to reship)."""
    return (
        item["quantity_allocated"],
        item["quantity_fulfilled"],
        item["quantity_reshipped"],
        item["quantity_return_initiated"],
        item["quantity_available_to_reship"],
    )


def reship_fos(shop: Shop) -> list[tuple[str, str, str, list[tuple[str, int, int]]]]:
    """(type, location, status, [(sku, quantity, shipped)]) of the reship FOs."""
    return [
        (
            fo["type"],
            fo["location"],
            fo["status"],
            [(ln["sku"], ln["quantity"], ln["shipped"]) for ln in fo["lines"]],
        )
        for fo in shop.view()["fulfillment_orders"]
        if fo["type"] == "reship"
    ]


def jobs(shop: Shop) -> list[tuple[str, str]]:
    with shop.api.db.reading() as session:
        rows = session.execute(select(m.Job.kind, m.Job.status).order_by(m.Job.id)).all()
    return [(k, s) for k, s in rows if k == "route_reship"]


def test_a_lost_unit_is_reshipped_routed_and_shipped_at_no_charge(stocked: Any, api: Api) -> None:
    shop = shipped_shop(api)
    before = shop.money()
    assert before["invoices"]
    assert sum(before["invoices"]) == GRAND_TOTAL
    assert shop.stock()[("WH-LDN", "TEE-M")] == (7, 0)

    answer = shop.action("submit-reship", reship_body(shop, note="parcel lost by carrier"))
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["preview"] is False
    assert body["reship_id"]
    assert (body["reason"], body["note"]) == ("lost_in_transit", "parcel lost by carrier")
    assert [(i["sku"], i["quantity"]) for i in body["items"]] == [("TEE-M", 1)]
    tee = next(i for i in body["order_summary"]["items"] if i["sku"] == "TEE-M")
    assert quantities(tee) == (3, 3, 1, 0, 2)
    assert tee["status"] == "RESHIPPED"
    assert body["order_summary"]["status"] == "FULFILLED"
    assert jobs(shop) == [("route_reship", "pending")]

    shop.drain()
    assert reship_fos(shop) == [("reship", "WH-LDN", "ALLOCATED", [("TEE-M", 1, 0)])]
    assert shop.stock()[("WH-LDN", "TEE-M")] == (7, 1)  # a fresh hold for the replacement
    assert quantities(shop.item("TEE-M")) == (3, 3, 1, 0, 2)  # allocated counts originals

    shop.ship("WH-LDN")
    shop.drain()
    assert reship_fos(shop) == [("reship", "WH-LDN", "FULFILLED", [("TEE-M", 1, 1)])]
    assert shop.stock()[("WH-LDN", "TEE-M")] == (6, 0)  # the unit left the warehouse
    assert quantities(shop.item("TEE-M")) == (3, 3, 1, 0, 2)  # fulfilled counts originals
    after = shop.money()
    assert after == before  # no invoice, no capture, no refund; the sandbox saw nothing new
    assert sum(after["invoices"]) - sum(t for t, _, _ in after["memos"]) == GRAND_TOTAL
    view = shop.view()
    assert view["status"] == "FULFILLED"
    assert view["totals"]["grand_total"] == "76.59"
    names = shop.event_names()
    assert names.count("order_summary.reshipped") == 1
    assert names.count("order_summary.reship_routed") == 1
    assert names.count("invoice.created") == 2  # the two original shipments only


def test_reship_payload_in_the_event(stocked: Any, api: Api) -> None:
    shop = shipped_shop(api)
    body = reship_body(shop)
    body["items"][0]["reason"] = "box crushed"
    answer = shop.action("submit-reship", {**body, "reason": "damaged"})
    assert answer.status_code == 200, answer.text
    with api.db.reading() as session:
        (payload,) = session.scalars(
            select(m.Event.payload).where(m.Event.name == "order_summary.reshipped")
        ).all()
    assert re.fullmatch(r"api_key:key_\w+", payload.pop("requested_by"))  # the agent's key
    assert payload == {
        "order_summary_id": shop.summary_id,
        "reship_id": answer.json()["reship_id"],
        "reason": "damaged",
        "note": None,
        "items": [
            {
                "order_item_summary_id": shop.item_id("TEE-M"),
                "sku": "TEE-M",
                "quantity": 1,
                "reason": "box crushed",
            }
        ],
    }


def test_more_than_available_is_refused_and_nothing_changes(stocked: Any, api: Api) -> None:
    shop = shipped_shop(api)
    before = shop.snapshot()
    answer = shop.action("submit-reship", reship_body(shop, 4))
    assert answer.status_code == 409, answer.text
    problem = answer.json()
    assert problem["code"] == "reship_exceeds_available"
    assert problem["detail"] == (
        "cannot reship 4 TEE-M: 3 of 3 shipped, so 3 are available to reship; reship at most 3"
    )
    assert problem["shortfall"] == [
        {
            "order_item_summary_id": shop.item_id("TEE-M"),
            "sku": "TEE-M",
            "requested": 4,
            "available": 3,
        }
    ]
    preview = shop.action("preview-reship", reship_body(shop, 4))
    assert (preview.status_code, preview.json()["code"]) == (409, "reship_exceeds_available")
    assert shop.snapshot() == before
    assert jobs(shop) == []


def test_an_unshipped_item_has_nothing_to_reship(stocked: Any, api: Api) -> None:
    shop = make_shop(api)
    shop.capture()
    shop.drain()  # routed, nothing shipped
    before = shop.snapshot()
    answer = shop.action("submit-reship", reship_body(shop, 1, "MUG"))
    assert answer.status_code == 409, answer.text
    assert answer.json()["detail"] == (
        "cannot reship 1 MUG: 0 of 1 shipped, so 0 are available to reship; "
        "nothing else can be reshipped"
    )
    unknown = shop.action(
        "submit-reship",
        {"items": [{"order_item_summary_id": "ois_nope", "quantity": 1}], "reason": "damaged"},
    )
    assert (unknown.status_code, unknown.json()["code"]) == (400, "order_item_summary_unknown")
    charge = shop.action(
        "submit-reship",
        {"items": [{"order_item_summary_id": shop.charge_id(), "quantity": 1}], "reason": "other"},
    )
    assert (charge.status_code, charge.json()["code"]) == (409, "reship_not_allowed")
    bad_reason = shop.action("submit-reship", {**reship_body(shop), "reason": "because"})
    assert bad_reason.status_code == 422
    assert shop.snapshot() == before


def test_reship_after_part_is_being_returned(stocked: Any, api: Api) -> None:
    """2 of the 3 TEE-M are on their way back (return initiated): 1 is left to reship."""
    shop = shipped_shop(api)
    with api.db.transaction() as session:  # a return in flight, as the returns service holds it
        session.execute(
            update(m.OrderItemSummary)
            .where(m.OrderItemSummary.id == shop.item_id("TEE-M"))
            .values(quantity_return_initiated=2)
        )
    before = shop.snapshot()
    refused = shop.action("submit-reship", reship_body(shop, 2))
    assert refused.status_code == 409
    assert refused.json()["detail"] == (
        "cannot reship 2 TEE-M: 3 of 3 shipped, 2 being returned, so 1 is available to "
        "reship; reship at most 1"
    )
    assert shop.snapshot() == before
    answer = shop.action("submit-reship", reship_body(shop, 1))
    assert answer.status_code == 200, answer.text
    assert quantities(shop.item("TEE-M")) == (3, 3, 1, 2, 0)
    again = shop.action("submit-reship", reship_body(shop, 1))
    assert again.status_code == 409
    assert again.json()["detail"] == (
        "cannot reship 1 TEE-M: 3 of 3 shipped, 2 being returned, 1 reshipped already, so 0 "
        "are available to reship; nothing else can be reshipped"
    )


def test_preview_answers_as_submit_and_changes_nothing(stocked: Any, api: Api) -> None:
    shop = shipped_shop(api)
    before = shop.snapshot()
    preview = shop.action("preview-reship", reship_body(shop, 2))
    assert preview.status_code == 200, preview.text
    assert preview.json()["preview"] is True
    assert preview.json()["reship_id"] is None
    assert shop.snapshot() == before
    assert jobs(shop) == []
    submit = shop.action("submit-reship", reship_body(shop, 2))
    assert submit.status_code == 200, submit.text
    assert without_ids(preview.json()) == without_ids(submit.json())


def test_an_idempotency_key_retry_changes_nothing(stocked: Any, api: Api) -> None:
    shop = shipped_shop(api)
    first = shop.action("submit-reship", reship_body(shop), key="reship-1")
    assert first.status_code == 200, first.text
    after_first = shop.snapshot()
    again = shop.action("submit-reship", reship_body(shop), key="reship-1")
    assert again.status_code == 200
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert again.json() == first.json()
    assert shop.snapshot() == after_first
    assert quantities(shop.item("TEE-M"))[2] == 1
    assert jobs(shop) == [("route_reship", "pending")]


def test_no_stock_raises_a_routing_exception_until_stock_arrives(stocked: Any, api: Api) -> None:
    shop = shipped_shop(api)
    outbox = Outbox(default_registry())
    apply_inventory_import(
        api.db,
        outbox,
        [
            InventoryLine(line=1, location="WH-LDN", sku="TEE-M", on_hand=0),
            InventoryLine(line=2, location="WH-MAN", sku="TEE-M", on_hand=0),
        ],
        mode="delta",
    )
    shop.drain()
    answer = shop.action("submit-reship", reship_body(shop))
    assert answer.status_code == 200, answer.text
    reship_id = answer.json()["reship_id"]
    shop.drain()
    assert reship_fos(shop) == []
    (exception,) = shop.view()["process_exceptions"]
    assert (exception["category"], exception["status"]) == ("routing", "NEW")
    assert exception["message"].startswith(f"Reship {reship_id} of delivery group 'home'")
    assert jobs(shop) == [("route_reship", "pending")]  # retried with backoff

    apply_inventory_import(
        api.db,
        outbox,
        [InventoryLine(line=1, location="WH-MAN", sku="TEE-M", on_hand=2)],
        mode="delta",
    )
    shop.let_backoffs_run_out()
    shop.drain()
    assert reship_fos(shop) == [("reship", "WH-MAN", "ALLOCATED", [("TEE-M", 1, 0)])]
    assert shop.stock()[("WH-MAN", "TEE-M")] == (2, 1)
    assert jobs(shop) == [("route_reship", "done")]
    assert [e["status"] for e in shop.view()["process_exceptions"]] == ["RESOLVED"]


# --- canceling and rejecting a reship fulfillment order -----------------------------------


def reship_fo_id(shop: Shop, status: str = "ALLOCATED") -> str:
    (fo,) = [
        f
        for f in shop.view()["fulfillment_orders"]
        if f["type"] == "reship" and f["status"] == status
    ]
    return str(fo["id"])


def fo_action(shop: Shop, fo_id: str, name: str, body: dict[str, Any]) -> Any:
    return shop.api.client.post(
        f"/api/v1/fulfillment-orders/{fo_id}/actions/{name}",
        json=body,
        headers=shop.api.headers("warehouse"),
    )


def test_canceling_a_reship_line_lowers_reshipped_and_releases_its_unit(
    stocked: Any, api: Api
) -> None:
    shop = shipped_shop(api)
    before = shop.money()
    answer = shop.action("submit-reship", reship_body(shop, 2))
    assert answer.status_code == 200, answer.text
    shop.drain()
    fo_id = reship_fo_id(shop)
    assert reship_fos(shop) == [("reship", "WH-LDN", "ALLOCATED", [("TEE-M", 2, 0)])]
    assert shop.stock()[("WH-LDN", "TEE-M")] == (7, 2)
    assert quantities(shop.item("TEE-M")) == (3, 3, 2, 0, 1)

    canceled = fo_action(shop, fo_id, "cancel-lines", {"items": [{"sku": "TEE-M", "quantity": 1}]})
    assert canceled.status_code == 200, canceled.text
    assert [
        (ln["quantity"], ln["canceled"], ln["unshipped"]) for ln in canceled.json()["lines"]
    ] == [(1, 1, 1)]
    assert reship_fos(shop) == [("reship", "WH-LDN", "ALLOCATED", [("TEE-M", 1, 0)])]
    assert shop.stock()[("WH-LDN", "TEE-M")] == (7, 1)  # the canceled replacement is free
    tee = shop.item("TEE-M")
    assert quantities(tee) == (3, 3, 1, 0, 2)  # allocated untouched; it may be reshipped again
    assert tee["status"] == "RESHIPPED"

    shop.ship_fo(fo_id)
    shop.drain()
    assert reship_fos(shop) == [("reship", "WH-LDN", "FULFILLED", [("TEE-M", 1, 1)])]
    assert shop.stock()[("WH-LDN", "TEE-M")] == (6, 0)
    assert quantities(shop.item("TEE-M")) == (3, 3, 1, 0, 2)
    assert shop.money() == before  # nothing invoiced, captured or refunded
    assert shop.view()["status"] == "FULFILLED"


def test_canceling_a_whole_reship_fo_gives_the_item_back_its_reship(stocked: Any, api: Api) -> None:
    shop = shipped_shop(api)
    before = shop.money()
    assert shop.action("submit-reship", reship_body(shop, 1)).status_code == 200
    shop.drain()
    fo_id = reship_fo_id(shop)
    canceled = fo_action(shop, fo_id, "cancel-lines", {"items": [{"sku": "TEE-M", "quantity": 1}]})
    assert canceled.status_code == 200, canceled.text
    assert canceled.json()["status"] == "CANCELED"
    assert shop.stock()[("WH-LDN", "TEE-M")] == (7, 0)
    tee = shop.item("TEE-M")
    assert quantities(tee) == (3, 3, 0, 0, 3)
    assert tee["status"] == "FULFILLED"
    refused = fo_action(shop, fo_id, "cancel-lines", {"items": [{"sku": "TEE-M", "quantity": 1}]})
    assert (refused.status_code, refused.json()["code"]) == (409, "illegal_transition")
    assert shop.money() == before
    # The agent can reship the unit again.
    assert shop.action("submit-reship", reship_body(shop, 3)).status_code == 200
    assert quantities(shop.item("TEE-M")) == (3, 3, 3, 0, 0)


def test_a_rejected_reship_is_routed_to_another_warehouse_and_shipped(
    stocked: Any, api: Api
) -> None:
    shop = shipped_shop(api)
    before = shop.money()
    answer = shop.action("submit-reship", reship_body(shop, 2))
    assert answer.status_code == 200, answer.text
    reship_id = answer.json()["reship_id"]
    shop.drain()
    first = reship_fo_id(shop)
    assert shop.stock()[("WH-LDN", "TEE-M")] == (7, 2)

    rejected = fo_action(shop, first, "reject", {"reason": "flooded aisle"})
    assert rejected.status_code == 200, rejected.text
    assert (rejected.json()["status"], rejected.json()["reason"]) == ("REJECTED", "flooded aisle")
    assert shop.stock()[("WH-LDN", "TEE-M")] == (7, 0)  # its hold given back at once
    assert quantities(shop.item("TEE-M")) == (3, 3, 2, 0, 1)  # still being reshipped
    # Reships' consumer of `fulfillment_order.rejected` queues the next round.
    assert jobs(shop) == [("route_reship", "done")]

    shop.drain()
    assert reship_fos(shop) == [
        ("reship", "WH-LDN", "REJECTED", [("TEE-M", 2, 0)]),
        ("reship", "WH-MAN", "ALLOCATED", [("TEE-M", 2, 0)]),
    ]
    assert (shop.stock()[("WH-LDN", "TEE-M")], shop.stock()[("WH-MAN", "TEE-M")]) == (
        (7, 0),
        (5, 2),
    )
    assert jobs(shop) == [("route_reship", "done"), ("route_reship", "done")]
    with api.db.reading() as session:
        keys = sorted(
            session.scalars(
                select(m.Reservation.idempotency_key).where(
                    m.Reservation.idempotency_key.startswith(f"reship:{reship_id}:")
                )
            )
        )
        wh = {ref: id_ for ref, id_ in session.execute(select(m.Location.ref, m.Location.id))}
    assert keys == sorted(
        [f"reship:{reship_id}:{wh['WH-LDN']}", f"reship:{reship_id}:{wh['WH-MAN']}:2"]
    )

    shop.ship("WH-MAN")
    shop.drain()
    assert reship_fos(shop) == [
        ("reship", "WH-LDN", "REJECTED", [("TEE-M", 2, 0)]),
        ("reship", "WH-MAN", "FULFILLED", [("TEE-M", 2, 2)]),
    ]
    assert (shop.stock()[("WH-LDN", "TEE-M")], shop.stock()[("WH-MAN", "TEE-M")]) == (
        (7, 0),
        (3, 0),
    )
    assert quantities(shop.item("TEE-M")) == (3, 3, 2, 0, 1)
    assert shop.money() == before  # nothing invoiced, captured or refunded
    view = shop.view()
    assert (view["status"], view["active_process_exception_count"]) == ("FULFILLED", 0)
    names = shop.event_names()
    assert names.count("order_summary.reship_reroute_requested") == 1
    assert names.count("order_summary.reship_routed") == 2
    assert names.count("invoice.created") == 2  # the two original shipments only


def test_a_rejected_reship_with_nowhere_else_to_go_raises_its_own_exception(
    stocked: Any, api: Api
) -> None:
    shop = shipped_shop(api)
    apply_inventory_import(
        api.db,
        Outbox(default_registry()),
        [InventoryLine(line=1, location="WH-MAN", sku="TEE-M", on_hand=0)],
        mode="delta",
    )
    answer = shop.action("submit-reship", reship_body(shop))
    assert answer.status_code == 200, answer.text
    reship_id = answer.json()["reship_id"]
    shop.drain()
    assert fo_action(shop, reship_fo_id(shop), "reject", {"reason": "no"}).status_code == 200
    shop.drain()
    # WH-LDN rejected it and WH-MAN has none: round 2 waits, with an exception of its own.
    assert reship_fos(shop) == [("reship", "WH-LDN", "REJECTED", [("TEE-M", 1, 0)])]
    assert shop.stock()[("WH-LDN", "TEE-M")] == (7, 0)
    (exception,) = shop.view()["process_exceptions"]
    assert (exception["category"], exception["status"]) == ("routing", "NEW")
    with api.db.reading() as session:
        key, action = session.execute(
            select(m.ProcessException.dedupe_key, m.ProcessException.action)
        ).one()
    group = action["payload"]["group_summary_id"]
    assert (key, action["kind"], action["payload"]["round"]) == (
        f"routing:{group}:reship:{reship_id}:2",
        "route_reship",
        2,
    )
    assert jobs(shop) == [("route_reship", "done"), ("route_reship", "pending")]
