"""Exchange over the HTTP API, on SQLite and PostgreSQL: one TEE-M back, a TEE-L out.

The §12 order (76.59) is captured, routed, shipped, invoiced and captured by the worker.
Then the customer exchanges 1 TEE-M, worth 20.55 back (20.00 − 3.45 discount + 4.00 tax),
for a TEE-L: the return order, an ADD change order for the TEE-L (routed, reserved, shipped,
invoiced), and the return's credit memo paying the TEE-L's invoice. Even (20.55): no money
moves at the gateway. Dearer (24.00): exactly 3.45 captured. Cheaper (14.40): exactly 6.15
refunded. At the end Σ invoices − Σ credit memos = the summary's grand total."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.integration.conftest import Api
from tests.integration.exchange_world import MUG_INVOICE, exchange, exchange_body, shipped_shop
from tests.integration.service_shop import GRAND_TOTAL, Shop, minor, without_ids

RETURNED = 2055  # one TEE-M: 20.00 − 3.45 + 4.00


def charges(shop: Shop) -> list[tuple[str, int]]:
    """The sandbox's movements after the authorization (captures, refunds, reversals)."""
    return [(e.operation, e.amount) for e in shop.sandbox.ledger if e.operation != "authorize"]


def settled(shop: Shop) -> None:
    """Σ invoices − Σ credit memos = the grand total; nothing open anywhere."""
    money = shop.money()
    view = shop.view()
    memos = sum(total for total, _, _ in money["memos"])
    assert sum(money["invoices"]) - memos == minor(view["totals"]["grand_total"])
    assert all(i["balance"] == "0.00" for i in view["invoices"])
    assert all(c["balance"] == "0.00" for c in view["credit_memos"])
    assert view["process_exceptions"] == []


@pytest.mark.parametrize(
    ("unit_price", "tax", "total", "moved"),
    [
        ("16.55", "4.00", 2055, []),  # even: the credit pays the TEE-L exactly
        ("20.00", "4.00", 2400, [("capture", 345)]),  # dearer: 3.45 more captured
        ("12.00", "2.40", 1440, [("refund", 615)]),  # cheaper: 6.15 refunded
    ],
    ids=["even", "dearer", "cheaper"],
)
def test_the_return_credit_pays_the_new_items_and_only_the_difference_moves(
    stocked: Any, api: Api, unit_price: str, tax: str, total: int, moved: list[Any]
) -> None:
    shop = shipped_shop(api, ship_mug=False)
    before = charges(shop)
    tee_invoice = GRAND_TOTAL - MUG_INVOICE
    assert before == [("capture", tee_invoice)]

    body = exchange(shop, unit_price, tax)
    assert (body["returned_value"], body["new_items_total"]) == ("20.55", _money(total))
    assert minor(body["difference"]) == total - RETURNED
    assert charges(shop) == before + moved  # only the difference moved, if anything
    money = shop.money()
    assert money["invoices"] == [tee_invoice, total]  # the TEE-M's, then the TEE-L's
    memo_status = "REFUNDED" if moved and moved[0][0] == "refund" else "APPLIED"
    assert money["memos"] == [(RETURNED, 0, memo_status)]
    captured = tee_invoice + sum(a for op, a in moved if op == "capture")
    refunded = sum(a for op, a in moved if op == "refund")
    assert money["payment"] == (9000, captured, refunded)

    shop.ship("STORE-LDN")  # the MUG, captured as usual; then the order is settled
    shop.drain()
    unused = 9000 - captured - MUG_INVOICE  # what is left of the 90.00 is released
    assert charges(shop) == [*before, *moved, ("capture", MUG_INVOICE), ("reverse", unused)]
    view = shop.view()
    assert view["totals"]["grand_total"] == _money(GRAND_TOTAL - RETURNED + total)
    tee_l = shop.item("TEE-L")
    assert (tee_l["quantity_ordered"], tee_l["quantity_fulfilled"], tee_l["status"]) == (
        1,
        1,
        "FULFILLED",
    )
    tee_m = shop.item("TEE-M")
    assert (tee_m["quantity_returned"], tee_m["quantity"]) == (1, 2)
    assert view["status"] == "FULFILLED"
    assert shop.stock()[("WH-LDN", "TEE-L")] == (4, 0)
    assert shop.stock()[("WH-LDN", "TEE-M")] == (8, 0)  # 10 − 3 shipped + 1 back
    settled(shop)


def _money(minor_units: int) -> str:
    return f"{minor_units // 100}.{minor_units % 100:02d}"


def test_submit_records_the_return_and_the_add_and_routes_the_new_item(
    stocked: Any, api: Api
) -> None:
    shop = shipped_shop(api)
    answer = shop.action("submit-exchange", exchange_body(shop, "16.55", "4.00"))
    assert answer.status_code == 200, answer.text
    body = answer.json()
    (change,) = body["change_orders"]
    assert (change["kind"], change["grand_total"], change["credited"]) == ("add", "20.55", "0.00")
    assert [
        (ln["sku"], ln["quantity"], ln["total_price"], ln["tax"]) for ln in change["lines"]
    ] == [("TEE-L", 1, "16.55", "4.00")]
    (new,) = body["new_items"]
    assert (new["sku"], new["quantity"], new["delivery_group"]) == ("TEE-L", 1, "home")
    assert body["difference"] == "0.00"
    view = body["order_summary"]
    (ro,) = view["return_orders"]
    assert (ro["id"], ro["status"], ro["exchange_change_order_id"]) == (
        body["return_order_id"],
        "SUBMITTED",
        change["id"],
    )
    assert shop.item("TEE-M")["quantity_return_initiated"] == 1
    tee_l = shop.item("TEE-L")
    assert (tee_l["quantity_ordered"], tee_l["quantity_allocated"], tee_l["type"]) == (
        1,
        0,
        "product",
    )
    assert view["totals"]["grand_total"] == _money(GRAND_TOTAL + 2055)
    shop.drain()  # the routing job: a fresh hold and an FO for the TEE-L
    fos = [f for f in shop.fos() if any(ln[0] == "TEE-L" for ln in f[2])]
    assert fos == [("WH-LDN", "ALLOCATED", [("TEE-L", 1, 1, 0)])]
    assert shop.stock()[("WH-LDN", "TEE-L")] == (5, 1)
    assert shop.item("TEE-L")["quantity_allocated"] == 1
    assert shop.event_names().count("order_summary.exchanged") == 1
    # The agent's key is recorded on the exchange, its return and its ADD change order.
    events = shop.view()["events"]
    (exchanged,) = [e["payload"] for e in events if e["name"] == "order_summary.exchanged"]
    by = exchanged["requested_by"]
    assert re.fullmatch(r"api_key:key_\w+", by)
    assert {e["payload"]["by"] for e in events if e["name"].startswith("return_order.")} == {by}
    (added,) = [e["payload"] for e in events if e["name"] == "order_summary.changed"]
    assert added["requested_by"] == by


def test_preview_answers_as_submit_and_changes_nothing(stocked: Any, api: Api) -> None:
    shop = shipped_shop(api)
    before = shop.snapshot()
    preview = shop.action("preview-exchange", exchange_body(shop, "20.00", "4.00"))
    assert preview.status_code == 200, preview.text
    assert preview.json()["preview"] is True
    assert preview.json()["return_order_id"] is None
    assert shop.snapshot() == before
    submit = shop.action("submit-exchange", exchange_body(shop, "20.00", "4.00"))
    assert submit.status_code == 200, submit.text
    assert without_ids(preview.json()) == without_ids(submit.json())


def test_an_idempotency_key_retry_changes_nothing(stocked: Any, api: Api) -> None:
    shop = shipped_shop(api)
    body = exchange_body(shop, "16.55", "4.00")
    first = shop.action("submit-exchange", body, key="exchange-1")
    assert first.status_code == 200, first.text
    after = shop.snapshot()
    again = shop.action("submit-exchange", body, key="exchange-1")
    assert again.status_code == 200
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert again.json() == first.json()
    assert shop.snapshot() == after
    assert len(shop.view()["return_orders"]) == 1


def test_refusals_change_nothing(stocked: Any, api: Api) -> None:
    shop = shipped_shop(api)
    before = shop.snapshot()
    too_many = exchange_body(shop, "16.55", "4.00")
    too_many["return_items"][0]["quantity"] = 4
    answer = shop.action("submit-exchange", too_many)
    assert (answer.status_code, answer.json()["code"]) == (409, "return_exceeds_available")
    unknown_group = exchange_body(shop, "16.55", "4.00")
    unknown_group["new_items"][0]["delivery_group"] = "office"
    answer = shop.action("submit-exchange", unknown_group)
    assert (answer.status_code, answer.json()["code"]) == (400, "exchange_invalid")
    assert answer.json()["detail"] == "no delivery group 'office' on this order; one of home, store"
    zero = exchange_body(shop, "16.55", "4.00")
    zero["new_items"][0]["quantity"] = 0
    answer = shop.action("submit-exchange", zero)
    assert (answer.status_code, answer.json()["code"]) == (400, "quantity_invalid")
    # A new line whose total would overflow storage (93 × 999,999,999,999,999.00).
    huge = exchange_body(shop, "999999999999999", "0")
    huge["new_items"][0]["quantity"] = 93
    answer = shop.action("submit-exchange", huge)
    assert (answer.status_code, answer.json()["code"], answer.json()["field"]) == (
        400,
        "amount_too_large",
        "new_items[0]",
    )
    # Lines that fit, but not in the order's totals once added.
    dear = exchange_body(shop, "999999999999999.00", "0")
    answer = shop.action("submit-exchange", dear)
    assert (answer.status_code, answer.json()["code"], answer.json()["field"]) == (
        400,
        "amount_too_large",
        "totals.product",
    )
    assert shop.snapshot() == before
