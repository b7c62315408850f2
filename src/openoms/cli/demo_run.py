"""`openoms demo`: a scripted run over the demo network (openoms.demo) that shows the whole
life of an order — capture, retry, refusal, routing, shipping — and then what an agent does
after: cancel, a refusal that says why, a return through an RMA, a discount, a reshipment,
and a reconciliation of every order's money against its documents."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from openoms.adapters.payments.sandbox import SandboxGateway
from openoms.cli.tables import print_table
from openoms.domain.errors import DomainError
from openoms.domain.fulfillment import RESHIP
from openoms.domain.money import format_minor
from openoms.schemas.orders import OrderCreate
from openoms.services.finance import Ledger, reconcile
from openoms.services.inventory import list_inventory_records
from openoms.services.orders import capture_order
from openoms.services.returns import (
    ReceiptRequest,
    ReturnLineRequest,
    approve_return_order,
    create_return_order,
    mark_return_in_transit,
    receive,
)
from openoms.services.service_actions import (
    AdjustItems,
    CancelItems,
    ItemAdjustment,
    ItemCancel,
    ReshipReason,
    ReshipRequest,
    cancel_with_messages,
    submit_adjustments,
    submit_reship,
)
from openoms.services.views import (
    action_result,
    get_return_order,
    order_summary_view,
    refund_baseline,
)

if TYPE_CHECKING:
    from rich.console import Console
    from sqlalchemy.orm import Session

    from openoms.adapters.carriers import Carriers
    from openoms.adapters.db.session import Database
    from openoms.adapters.outbox import Outbox
    from openoms.services.returns import ReturnOutcome
    from openoms.worker.runner import Worker

from openoms.adapters.carriers import default_carriers
from openoms.adapters.payments import default_gateways
from openoms.demo import SITES, demo_orders, restock_demo_network, seed_demo_network
from openoms.services.fulfillment import request_label, ship
from openoms.worker.consumers import default_jobs, default_registry
from openoms.worker.runner import Worker


def service_ready_orders(seed: int, *, prefix: str) -> list[dict[str, Any]]:
    """Four demo orders from the first seed, counting up from `seed`, whose first two orders
    each have an item of two or more units: the scripted demo returns one unit of the first
    order's and reships another, and cancels one of the second order's while one stays."""
    while True:
        payloads = demo_orders(4, seed=seed, prefix=prefix)
        if all(any(i["quantity"] >= 2 for i in p["items"]) for p in payloads[:2]):
            return payloads
        seed += 1


def receiving_location(channel: str, shipped_from: str) -> str:
    """Where the demo's return arrives: a location of the channel's group other than the one
    the unit shipped from, a store first (customers bring returns to a shop)."""
    group = "online-" + channel.removeprefix("web-")
    others = [s for s in SITES if s.group == group and s.ref != shipped_from]
    return min(others, key=lambda s: not s.is_store).ref


@dataclass(slots=True)
class _Run:
    """What every step of the scripted demo uses. Each step runs in its own transaction,
    then the worker runs until idle (routing, invoices, captures, refunds)."""

    db: Database
    outbox: Outbox
    console: Console
    carriers: Carriers
    worker: Worker
    sandbox: SandboxGateway

    def settle(self) -> int:
        return sum(iter(self.worker.run_once, 0))

    def view(self, summary_id: str) -> dict[str, Any]:
        with self.db.reading() as session:
            return order_summary_view(session, summary_id)

    def ship(self, fo_ids: list[str]) -> None:

        for fo_id in fo_ids:
            with self.db.transaction() as session:
                shipment = ship(session, self.outbox, fo_id, carrier_choice=self.carriers)
            label = request_label(self.db, self.outbox, self.carriers, shipment.id)
            self.console.print(f"shipped {fo_id}: label {label.outcome.value.lower()}")


def run_demo(db: Database, outbox: Outbox, console: Console) -> None:
    """Capture a few orders end to end, then act on them as an agent would (cancel, a
    refusal, return, discount, reship) through the services the API calls, printing what
    happened at each step, and reconcile the money with the documents."""

    carriers, gateways = default_carriers(db), default_gateways(db)
    worker = Worker(db, default_registry(), jobs=default_jobs(db, carriers, gateways))
    sandbox = gateways.get("sandbox")
    assert isinstance(sandbox, SandboxGateway)
    run = _Run(db, outbox, console, carriers, worker, sandbox)
    seed_demo_network(db, outbox)
    restock_demo_network(db, outbox)  # earlier runs' unshipped orders still hold stock
    stamp = datetime.now(UTC).strftime("%Y%m%d%H%M%S%f")
    payloads = service_ready_orders(int(stamp[-8:]), prefix=f"RUN{stamp}")
    ids = _capture(run, payloads, stamp)

    console.rule("4. the worker routes every delivery group to fulfillment orders")
    console.print(f"{run.settle()} events and jobs handled")

    console.rule("5. the warehouse ships the first order")
    run.ship([fo["id"] for fo in run.view(ids[0])["fulfillment_orders"]])
    handled = run.settle()  # invoices for the shipments, then captures
    console.print(f"{handled} events and jobs handled: invoiced and captured what shipped")

    _cancel_one_unit(run, ids[1])
    _refuse_cancel_of_shipped(run, ids[0])
    _return_one_unit(run, ids[0])
    _discount(run, ids[0])
    _reship_one_unit(run, ids[0])
    _summaries(run, ids)


def _capture(run: _Run, payloads: list[dict[str, Any]], stamp: str) -> list[str]:
    """Steps 1–3: capture the orders, a storefront's retry, a broken order refused."""
    db, outbox, console = run.db, run.outbox, run.console
    console.rule("1. capture four orders from three storefronts")
    ids = []
    for payload in payloads:
        draft = OrderCreate.model_validate(payload).to_draft()
        with db.transaction() as session:
            result = capture_order(session, outbox, draft)
        ids.append(result.order_summary_id)
        console.print(
            f"captured {payload['channel']} {payload['external_reference']}"
            f" → {result.order_summary_id}"
        )

    console.rule("2. the storefront retries the first order (network blip)")
    with db.transaction() as session:
        retry = capture_order(session, outbox, OrderCreate.model_validate(payloads[0]).to_draft())
    console.print(f"created again? {retry.created} — same summary {retry.order_summary_id}")

    console.rule("3. a broken order is refused and stores nothing")
    broken = dict(payloads[1], external_reference=f"RUN{stamp}-BROKEN", grand_total="1.00")
    try:
        with db.transaction() as session:
            capture_order(session, outbox, OrderCreate.model_validate(broken).to_draft())
    except DomainError as exc:
        console.print(f"refused: [bold]{exc.code}[/bold] — {exc.detail}")
    return ids


# --- the service actions, each through the service the API calls ----------------------------


def _multi_unit_item(view: dict[str, Any]) -> dict[str, Any]:
    """The order's first product of two or more units (`service_ready_orders` made sure)."""
    return next(i for i in view["items"] if i["type"] == "product" and i["quantity_ordered"] >= 2)


def _fo_line(view: dict[str, Any], item_id: str) -> tuple[str, str, int]:
    """(FO id, location, units) of the item's line on its first fulfillment order (not a
    reship's)."""
    return next(
        (fo["id"], fo["location"], line["quantity"])
        for fo in view["fulfillment_orders"]
        if fo["type"] != RESHIP
        for line in fo["lines"]
        if line["order_item_summary_id"] == item_id
    )


def _one_unit(item_id: str, reason: str) -> CancelItems:
    return CancelItems((ItemCancel(item_id, 1),), reason)


def _refunded(view: dict[str, Any]) -> Decimal:
    return sum((Decimal(p["refunded"]) for p in view["payment_summaries"]), Decimal(0))


def _cancel_one_unit(run: _Run, summary_id: str) -> None:
    run.console.rule("6. an agent cancels one unit of the second order before it ships")
    before = run.view(summary_id)
    item = _multi_unit_item(before)
    fo_id, location, units = _fo_line(before, item["id"])
    with run.db.transaction() as session:
        request = _one_unit(item["id"], "customer changed their mind")
        baseline = refund_baseline(session, summary_id)
        recorded, messages = cancel_with_messages(session, run.outbox, summary_id, request)
        result = action_result(
            session,
            summary_id,
            recorded,
            preview=False,
            refunds_before=baseline,
            messages=messages,
        )
    run.settle()
    after = run.view(summary_id)
    currency = after["currency"]
    change = result["change_orders"][0]
    run.console.print(
        f"canceled 1× {item['sku']}: change order {change['kind']} {change['grand_total']}"
        f" {currency}; grand total {before['totals']['grand_total']}"
        f" → {after['totals']['grand_total']} {currency}"
    )
    left = _fo_line(after, item["id"])[2]
    run.console.print(f"fulfillment order {fo_id} at {location}: {item['sku']} {units} → {left}")
    for message in result["messages"]:
        run.console.print(f"note: {message}")


def _refuse_cancel_of_shipped(run: _Run, summary_id: str) -> None:
    run.console.rule("7. an action that cannot be done is refused, saying why")
    item = _multi_unit_item(run.view(summary_id))
    try:
        with run.db.transaction() as session:
            request = _one_unit(item["id"], "arrived too late")
            cancel_with_messages(session, run.outbox, summary_id, request)
    except DomainError as exc:
        run.console.print(f"refused: [bold]{exc.code}[/bold] — {exc.detail}")


def _return_one_unit(run: _Run, summary_id: str) -> None:
    """An RMA of one unit: submitted, approved, in transit, received and restocked at
    another location of the order's group than the one it shipped from."""
    run.console.rule("8. one unit of the first order comes back, to another location (RMA)")
    before = run.view(summary_id)
    item = _multi_unit_item(before)
    shipped_from = _fo_line(before, item["id"])[1]
    where = receiving_location(before["channel"], shipped_from)
    stock_before = _on_hand(run, where, item["sku"])
    with run.db.transaction() as session:
        line = ReturnLineRequest(item["id"], 1, "too small")
        outcome = create_return_order(
            session, run.outbox, summary_id, [line], expected_location=where
        )
        rma = get_return_order(session, outcome.return_order_id)
    run.settle()
    statuses, recorded = [rma["status"]], list(outcome.recorded)
    receipt = ReceiptRequest(rma["lines"][0]["id"], 1)  # restocked where it is expected
    steps: list[Callable[[Session], ReturnOutcome]] = [
        lambda s: approve_return_order(s, run.outbox, rma["id"]),
        lambda s: mark_return_in_transit(s, run.outbox, rma["id"]),
        lambda s: receive(s, run.outbox, rma["id"], [receipt]),
    ]
    for step in steps:
        with run.db.transaction() as session:
            recorded += step(session).recorded
            statuses.append(get_return_order(session, rma["id"])["status"])
        run.settle()
    after = run.view(summary_id)
    currency, credited = after["currency"], recorded[-1]
    run.console.print(
        f"return {rma['id']} of 1× {item['sku']}: {' → '.join(statuses)}; shipped from "
        f"{shipped_from}, received and restocked at {where}"
    )
    run.console.print(
        f"credit memo {credited.credit_memo_id} "
        f"{format_minor(credited.credited, currency)} {currency}; refunded "
        f"{_refunded(after) - _refunded(before)} {currency}"
    )
    run.console.print(
        f"{item['sku']} on hand at {where}: {stock_before} → {_on_hand(run, where, item['sku'])}"
    )


def _on_hand(run: _Run, location: str, sku: str) -> int:
    with run.db.reading() as session:
        records, _ = list_inventory_records(
            session, location=location, sku=sku, today=datetime.now(UTC).date()
        )
    return int(records[0]["on_hand"]) if records else 0


def _discount(run: _Run, summary_id: str) -> None:
    run.console.rule("9. a goodwill discount on an item of the first order")
    before = run.view(summary_id)
    item = _multi_unit_item(before)
    adjustment = ItemAdjustment(item["id"], "percentage", "10")
    with run.db.transaction() as session:
        request = AdjustItems((adjustment,), "goodwill: late delivery")
        baseline = refund_baseline(session, summary_id)
        recorded = submit_adjustments(session, run.outbox, summary_id, request)
        result = action_result(
            session, summary_id, recorded, preview=False, refunds_before=baseline
        )
    run.settle()
    after = run.view(summary_id)
    currency = after["currency"]
    stages = ", ".join(f"{c['stage']} {c['grand_total']}" for c in result["change_orders"])
    run.console.print(
        f"10% off {item['sku']}: change orders {stages} {currency}; credit memo "
        f"{result['to_refund']} {currency}, refunded {_refunded(after) - _refunded(before)}"
        f" {currency}"
    )


def _reship_one_unit(run: _Run, summary_id: str) -> None:
    run.console.rule("10. a unit of the first order lost in transit is reshipped, free")
    before = run.view(summary_id)
    item = _multi_unit_item(before)
    with run.db.transaction() as session:
        reship = submit_reship(
            session,
            run.outbox,
            summary_id,
            [ReshipRequest(item["id"], 1)],
            reason=ReshipReason.LOST_IN_TRANSIT,
            note="the carrier lost the parcel",
        )
    run.settle()  # the routing job makes the reship fulfillment order
    fos = [
        fo
        for fo in run.view(summary_id)["fulfillment_orders"]
        if fo["type"] == RESHIP and fo["status"] != "FULFILLED"
    ]
    run.console.print(
        f"reship {reship.reship_id} of 1× {item['sku']}: "
        + "; ".join(
            f"fulfillment order {fo['id']} ({fo['type']}) at {fo['location']}" for fo in fos
        )
    )
    run.ship([fo["id"] for fo in fos])
    run.settle()
    after = run.view(summary_id)
    currency = after["currency"]
    run.console.print(
        f"no invoice, no charge: invoices {len(before['invoices'])} → {len(after['invoices'])}, "
        f"captured {_captured(before)} → {_captured(after)} {currency}"
    )


def _captured(view: dict[str, Any]) -> Decimal:
    return sum((Decimal(p["captured"]) for p in view["payment_summaries"]), Decimal(0))


# --- the result ---------------------------------------------------------------------------

SUMMARY_COLUMNS = (
    "order summary",
    "channel",
    "status",
    "items",
    "grand total",
    "captured",
    "refunded",
    "changes",
    "fulfillment",
)


def _summaries(run: _Run, ids: list[str]) -> None:
    run.console.rule("11. the order summaries, and does the money agree with the documents?")
    with run.db.reading() as session:
        views = [order_summary_view(session, summary_id) for summary_id in ids]
        ledgers = {ledger.order_summary_id: ledger for ledger in reconcile(session).orders}
    rows = [
        (
            view["id"],
            view["channel"],
            view["status"],
            ", ".join(_item_cell(i) for i in view["items"] if i["type"] == "product"),
            f"{view['totals']['grand_total']} {view['currency']}",
            ", ".join(p["captured"] for p in view["payment_summaries"]) or "-",
            ", ".join(p["refunded"] for p in view["payment_summaries"]) or "-",
            str(len(view["change_orders"])),
            "; ".join(_fulfillment_line(fo) for fo in view["fulfillment_orders"]),
        )
        for view in views
    ]
    print_table(run.console, SUMMARY_COLUMNS, rows, keep=("order summary", "channel", "status"))
    for view in views:
        run.console.print(_reconciliation_line(view, ledgers[view["id"]]))
    run.console.print(_gateway_line(ledgers.values(), run.sandbox))


def _item_cell(item: dict[str, Any]) -> str:
    """E.g. "3× TEE-M (1 returned, 1 reshipped)"."""
    moved = [
        f"{item[f'quantity_{counter}']} {counter}"
        for counter in ("canceled", "returned", "reshipped")
        if item[f"quantity_{counter}"]
    ]
    text = f"{item['quantity_ordered']}× {item['sku']}"
    return text + (f" ({', '.join(moved)})" if moved else "")


def _reconciliation_line(view: dict[str, Any], ledger: Ledger) -> str:
    """Σ invoices − Σ credit memos against the grand total, captured − refunded against it."""
    figures = ledger.view()
    currency = ledger.currency
    net = format_minor(ledger.invoiced - ledger.credited, currency)
    kept = format_minor(ledger.captured - ledger.refunded, currency)
    verdict = "; ".join(ledger.mismatches) or "no mismatch"
    return (
        f"{view['id']}: invoiced {figures['invoiced']} − credited {figures['credited']} = {net}"
        f" of grand total {view['totals']['grand_total']} {currency}; captured "
        f"{figures['captured']} − refunded {figures['refunded']} = {kept}; {verdict}"
    )


def _gateway_line(ledgers: Iterable[Ledger], sandbox: SandboxGateway) -> str:
    """The sandbox gateway's own ledger (its tables, every process's movements) against
    openoms' captured and refunded: a sandbox behaves like the remote service, so the two
    must tell the same story."""
    ours: dict[tuple[str, str], int] = defaultdict(int)
    for ledger in ledgers:
        ours["captured", ledger.currency] += ledger.captured
        ours["refunded", ledger.currency] += ledger.refunded
    theirs: dict[tuple[str, str], int] = defaultdict(int)
    for operation, figure in (("capture", "captured"), ("refund", "refunded")):
        for entry in sandbox.movements(operation):
            theirs[figure, entry.currency] += entry.amount
    shown = ", ".join(
        f"{figure} {format_minor(amount, currency)} {currency}"
        for (figure, currency), amount in sorted(theirs.items())
    )
    same = {k: v for k, v in ours.items() if v} == {k: v for k, v in theirs.items() if v}
    verdict = "the same as openoms'" if same else "NOT the same as openoms'"
    return f"sandbox gateway ledger: {shown or 'nothing moved'}; {verdict}"


def _fulfillment_line(fo: dict[str, Any]) -> str:
    tracking = [s["tracking_number"] for s in fo["shipments"] if s.get("tracking_number")]
    units = sum(line["quantity"] for line in fo["lines"])
    kind = f" {fo['type']}" if fo["type"] == RESHIP else ""
    text = f"{fo['location']}{kind} {units}u {fo['status']}"
    return text + (f" {tracking[0]}" if tracking else "")
