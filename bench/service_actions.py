"""Service actions through the HTTP API: cancel, discount, return (RMA), reship, and the
worker settling the refunds they cause, on SQLite and PostgreSQL.

    .venv/bin/python bench/service_actions.py [--backend sqlite|postgres|both] [--orders N]

Every run starts from a freshly migrated database (a temporary SQLite file, or the scratch
PostgreSQL database `openoms_bench_service_actions`, dropped at the end) holding the demo
network with 10,000,000 units of every SKU everywhere (`stocked_demo_database`), plus one
"-prepaid" copy of each demo channel with capture_policy on_order.

Untimed preparation: N MANAGED demo orders (`demo_orders`, those with two units or more;
default 200) are captured through the service. Half come from the prepaid channels and stay
unshipped: the worker routes them and captures their whole total at once, so a cancel has
money to give back. The other half come from the ordinary channels; the worker routes them,
every fulfillment order is shipped (`services/shipping.ship`), and the worker makes the
labels, invoices and captures. The app and the worker share one in-memory sandbox gateway
and one set of sandbox carriers.

Timed, one request at a time through the app in this process (FastAPI `TestClient`: no
socket, but routing, the API key, payload validation, Idempotency-Key, one transaction,
the response model and JSON, all as `openoms serve` does), each phase over every order of
its half:
- unshipped half: `preview-cancel`, then `submit-cancel`, of one unit of the first item;
- shipped half: `adjust-item-submit` (10 % off the first item), then an RMA of one unit of
  the first item (`POST /return-orders`, `approve`, `receive` restocking it where it
  shipped from), then `submit-reship` of one unit of the last item.
The first WARM_UP orders of each half go through every phase untimed. Latency is request
sent to whole body read; CPU per request is this process (client, app and, on SQLite, the
database engine) over the phase ÷ requests, plus the PostgreSQL backends of the scratch
database (from /proc, a local server only). Between phases the worker (one, in this
thread, `run_once` until idle) is timed settling what the phase caused: refund jobs that
claim credit memo balances or excess funds and call the sandbox gateway (`ensure_refunds`),
the reship's routing and the events.

At the end: every refund PROCESSED and made once at the gateway (one ledger movement per
refund, same amounts), the refunds per phase as expected (one per order for cancel,
discount and receive; none for the rest), the item counters moved by exactly the units
asked for, every return RECEIVED, no job or delivery left undone, no process exception
open, and `reconcile` finding no mismatch on any order.

DESIGN.md §11 sets no target for service actions; these figures are for reading.
"""

from __future__ import annotations

import argparse
import secrets
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from common import (
    DEFAULT_POSTGRES_URL,
    Backend,
    PostgresBackend,
    SqliteBackend,
    load,
    machine,
    percentile,
    postgres_cpu,
    stocked_demo_database,
)
from openoms.adapters.carriers import default_carriers
from openoms.adapters.db.session import Database
from openoms.adapters.outbox import Outbox
from openoms.adapters.payments import Gateways, SandboxGateway
from openoms.api.app import create_app
from openoms.demo import MARKETS, demo_orders
from openoms.schemas.orders import OrderCreate
from openoms.services.access import Scope, create_api_key
from openoms.services.finance import reconcile
from openoms.services.fulfillment import ship
from openoms.services.orders import CapturePolicy, ChannelData, capture_order, upsert_channel
from openoms.worker.consumers import default_jobs, default_registry
from openoms.worker.runner import Worker

SCRATCH_DATABASE = "openoms_bench_service_actions"
WARM_UP = 5  # orders of each half through every phase, untimed
PREPAID = "-prepaid"  # suffix of the on_order copies of the demo channels


@dataclass(slots=True)
class Phase:
    """One action over one half of the orders, and the worker settling after it."""

    action: str
    orders: str  # which half
    latencies: list[float] = field(default_factory=list)
    app_cpu: float = 0.0  # seconds, this process, timed requests only
    db_cpu: float | None = None
    settle_seconds: float = 0.0
    settle_cpu: float = 0.0
    settle_db_cpu: float | None = None
    handled: int = 0  # deliveries and jobs the worker ran settling
    refunds: int = 0  # refunds PROCESSED while settling
    refunded: dict[str, int] = field(default_factory=dict)  # currency → minor units


@dataclass(slots=True)
class Run:
    backend: str
    orders: int = 0
    prepare_seconds: float = 0.0
    phases: list[Phase] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Order:
    summary_id: str
    first_item: str
    last_item: str
    shipped_from: str  # location ref of the first item's fulfillment order


# --- the shop -----------------------------------------------------------------------------


class Shop:
    """The app and a worker over one database, sharing one sandbox gateway and carriers."""

    def __init__(self, url: str, backend: Backend) -> None:
        self.backend = backend
        self.db = Database(url)
        self.outbox = Outbox(default_registry())
        self.sandbox = SandboxGateway(self.db, "sandbox")
        gateways = Gateways({"sandbox": self.sandbox})
        self.carriers = default_carriers(self.db, env={})
        jobs = default_jobs(self.db, self.carriers, gateways)
        self.worker = Worker(self.db, default_registry(), jobs=jobs)
        app = create_app(self.db, self.outbox, carriers=self.carriers, gateways=gateways)
        with self.db.transaction() as session:
            _, key = create_api_key(session, name="bench", scopes=[Scope.AGENT])
        self.client = TestClient(app).__enter__()  # runs the app's lifespan, as serve does
        self.client.headers["Authorization"] = f"Bearer {key}"

    def close(self) -> None:
        self.client.__exit__(None, None, None)
        self.db.dispose()

    def db_cpu(self) -> float | None:
        return postgres_cpu(SCRATCH_DATABASE) if self.backend.name == "postgres" else None

    def settle(self) -> int:
        """Run the worker until it finds nothing due; the deliveries and jobs it ran."""
        handled = 0
        for _ in range(1000):
            done = self.worker.run_once()
            if not done:
                return handled
            handled += done
        raise RuntimeError("the worker never went idle")

    def post(self, path: str, body: dict[str, Any], *, expect: int = 200) -> dict[str, Any]:
        headers = {"Idempotency-Key": secrets.token_hex(12)}
        response = self.client.post(path, json=body, headers=headers)
        if response.status_code != expect:
            raise RuntimeError(f"POST {path}: {response.status_code} {response.text[:500]}")
        answer: dict[str, Any] = response.json()
        return answer


# --- preparation (untimed) ----------------------------------------------------------------


def payloads(count: int) -> list[dict[str, Any]]:
    """`count` MANAGED demo orders of two units or more (so one can be returned and another
    reshipped), every other one from a prepaid channel."""
    chosen: list[dict[str, Any]] = []
    for payload in demo_orders(count * 3, seed=5, prefix="SA"):
        if sum(i["quantity"] for i in payload["items"]) >= 2:
            payload["lifecycle"] = "MANAGED"
            chosen.append(payload)
        if len(chosen) == count:
            break
    for payload in chosen[::2]:
        payload["channel"] += PREPAID
    return chosen


def add_prepaid_channels(shop: Shop) -> None:
    with shop.db.transaction() as session:
        for market in MARKETS:
            group = "online-" + market.channel.removeprefix("web-")
            data = ChannelData(location_group=group, capture_policy=CapturePolicy.ON_ORDER)
            upsert_channel(session, shop.outbox, market.channel + PREPAID, data)


def prepare(shop: Shop, count: int) -> tuple[list[Order], list[Order]]:
    """Capture, route and (the ordinary half) ship `count` orders; (unshipped, shipped)."""
    add_prepaid_channels(shop)
    prepaid: list[str] = []
    ordinary: list[str] = []
    for payload in payloads(count):
        draft = OrderCreate.model_validate(payload).to_draft()
        with shop.db.transaction() as session:
            result = capture_order(session, shop.outbox, draft)
        mine = prepaid if payload["channel"].endswith(PREPAID) else ordinary
        mine.append(result.order_summary_id)
    shop.settle()  # route; authorize; capture the prepaid orders
    for fo_id in fulfillment_orders(shop.db, ordinary):
        with shop.db.transaction() as session:
            ship(session, shop.outbox, fo_id, carrier_choice=shop.carriers)
    shop.settle()  # labels, invoices, captures
    return describe(shop.db, prepaid), describe(shop.db, ordinary)


def fulfillment_orders(db: Database, summary_ids: list[str]) -> list[str]:
    wanted = set(summary_ids)
    with db.reading() as session:
        rows = session.execute(text("SELECT id, order_summary_id FROM fulfillment_orders"))
        return sorted(fo_id for fo_id, summary_id in rows if summary_id in wanted)


def describe(db: Database, summary_ids: list[str]) -> list[Order]:
    """Each order's first and last product item and where the first one ships from."""
    items: dict[str, list[str]] = {}
    shipped_from: dict[str, str] = {}
    with db.reading() as session:
        for summary_id, item_id in session.execute(
            text(
                "SELECT order_summary_id, id FROM order_item_summaries WHERE type = 'product' "
                "ORDER BY order_summary_id, position"
            )
        ):
            items.setdefault(summary_id, []).append(item_id)
        for item_id, ref in session.execute(
            text(
                "SELECT l.order_item_summary_id, loc.ref FROM fulfillment_order_line_items l "
                "JOIN fulfillment_orders f ON f.id = l.fulfillment_order_id "
                "JOIN locations loc ON loc.id = f.location_id"
            )
        ):
            shipped_from[item_id] = ref
    return [Order(s, items[s][0], items[s][-1], shipped_from[items[s][0]]) for s in summary_ids]


# --- the timed phases ---------------------------------------------------------------------


def one_unit(item_id: str) -> dict[str, Any]:
    return {"items": [{"order_item_summary_id": item_id, "quantity": 1}], "reason": "bench"}


def action_path(order: Order, name: str) -> str:
    return f"/api/v1/order-summaries/{order.summary_id}/actions/{name}"


def cancel_steps(preview: bool) -> Callable[[Shop, Order, dict[str, Any]], None]:
    name = "preview-cancel" if preview else "submit-cancel"

    def step(shop: Shop, order: Order, _: dict[str, Any]) -> None:
        shop.post(action_path(order, name), one_unit(order.first_item))

    return step


def adjust(shop: Shop, order: Order, _: dict[str, Any]) -> None:
    discount = {"order_item_summary_id": order.first_item, "type": "percentage", "amount": "10"}
    body = {"items": [discount], "reason": "goodwill"}
    shop.post(action_path(order, "adjust-item-submit"), body)


def create_rma(shop: Shop, order: Order, state: dict[str, Any]) -> None:
    body = {
        "order_summary_id": order.summary_id,
        "items": [{"order_item_summary_id": order.first_item, "quantity": 1}],
        "expected_location": order.shipped_from,
    }
    answer = shop.post("/api/v1/return-orders", body, expect=201)
    state[order.summary_id] = (answer["id"], answer["lines"][0]["id"])


def approve(shop: Shop, order: Order, state: dict[str, Any]) -> None:
    rma_id, _ = state[order.summary_id]
    shop.post(f"/api/v1/return-orders/{rma_id}/actions/approve", {})


def receive(shop: Shop, order: Order, state: dict[str, Any]) -> None:
    rma_id, line_id = state[order.summary_id]
    body = {"items": [{"return_order_line_item_id": line_id, "quantity": 1}]}  # restock
    shop.post(f"/api/v1/return-orders/{rma_id}/actions/receive", body)


def reship(shop: Shop, order: Order, _: dict[str, Any]) -> None:
    body = {**one_unit(order.last_item), "reason": "lost_in_transit"}
    shop.post(action_path(order, "submit-reship"), body)


Step = Callable[[Shop, Order, dict[str, Any]], None]

# (row name, which half, the request); refunds each settle must process, per order
PHASES: list[tuple[str, str, Step, int]] = [
    ("preview-cancel", "unshipped", cancel_steps(preview=True), 0),
    ("submit-cancel", "unshipped", cancel_steps(preview=False), 1),
    ("adjust-item-submit", "shipped", adjust, 1),
    ("RMA: POST /return-orders", "shipped", create_rma, 0),
    ("RMA: approve", "shipped", approve, 0),
    ("RMA: receive (restock)", "shipped", receive, 1),
    ("submit-reship", "shipped", reship, 0),
]


def refunds_processed(db: Database) -> tuple[int, dict[str, int]]:
    with db.reading() as session:
        rows = session.execute(
            text(
                "SELECT o.currency, count(*), sum(r.amount) FROM refunds r "
                "JOIN order_payment_summaries s ON s.id = r.order_payment_summary_id "
                "JOIN order_summaries o ON o.id = s.order_summary_id "
                "WHERE r.status = 'PROCESSED' GROUP BY o.currency"
            )
        ).all()
    return sum(int(n) for _, n, _ in rows), {c: int(a) for c, _, a in rows}


def run_phase(
    shop: Shop, name: str, half: str, step: Step, orders: list[Order], state: dict[str, Any]
) -> Phase:
    phase = Phase(name, half)
    for order in orders[:WARM_UP]:
        step(shop, order, state)
    db_before, cpu_before = shop.db_cpu(), time.process_time()
    for order in orders[WARM_UP:]:
        began = time.perf_counter()
        step(shop, order, state)
        phase.latencies.append(time.perf_counter() - began)
    phase.app_cpu = time.process_time() - cpu_before
    phase.db_cpu = _delta(db_before, shop.db_cpu())

    count_before, amounts_before = refunds_processed(shop.db)
    db_before, cpu_before, began = shop.db_cpu(), time.process_time(), time.perf_counter()
    phase.handled = shop.settle()
    phase.settle_seconds = time.perf_counter() - began
    phase.settle_cpu = time.process_time() - cpu_before
    phase.settle_db_cpu = _delta(db_before, shop.db_cpu())
    count_after, amounts_after = refunds_processed(shop.db)
    phase.refunds = count_after - count_before
    phase.refunded = {
        c: amounts_after[c] - amounts_before.get(c, 0)
        for c in amounts_after
        if amounts_after[c] != amounts_before.get(c, 0)
    }
    return phase


def _delta(before: float | None, after: float | None) -> float | None:
    return None if before is None or after is None else after - before


def run(backend: Backend, count: int) -> Run:
    figures = Run(backend.name)
    shop = Shop(stocked_demo_database(backend), backend)
    try:
        began = time.perf_counter()
        unshipped, shipped = prepare(shop, count)
        figures.prepare_seconds = time.perf_counter() - began
        figures.orders = len(unshipped) + len(shipped)
        halves = {"unshipped": unshipped, "shipped": shipped}
        state: dict[str, Any] = {}
        for name, half, step, _ in PHASES:
            phase = run_phase(shop, name, half, step, halves[half], state)
            figures.phases.append(phase)
            print(table([figures], phases=[phase])[-1], file=sys.stderr, flush=True)
        figures.problems = verify(shop, figures, unshipped, shipped)
    finally:
        shop.close()
    return figures


# --- verification -------------------------------------------------------------------------

_CHECKS = {
    "refunds not PROCESSED": "SELECT count(*) FROM refunds WHERE status <> 'PROCESSED'",
    "return orders not RECEIVED": "SELECT count(*) FROM return_orders WHERE status <> 'RECEIVED'",
    "jobs not done": "SELECT count(*) FROM jobs WHERE status <> 'done'",
    "deliveries not done": "SELECT count(*) FROM event_deliveries WHERE status <> 'done'",
    "process exceptions open": """
        SELECT count(*) FROM process_exceptions WHERE status IN ('NEW', 'TRIAGED', 'PAUSED')""",
    "inventory records whose reserved differs from their reservation lines": """
        SELECT count(*) FROM inventory_records r
        WHERE r.reserved <> (
            SELECT coalesce(sum(l.quantity), 0) FROM reservation_lines l
            WHERE l.location_id = r.location_id AND l.sku = r.sku)""",
}

_COUNTERS = text(
    "SELECT sum(quantity_canceled), sum(quantity_returned), sum(quantity_reshipped) "
    "FROM order_item_summaries"
)


def verify(shop: Shop, figures: Run, unshipped: list[Order], shipped: list[Order]) -> list[str]:
    """What is wrong at the end (nothing, if the run was correct)."""
    problems = []
    with shop.db.reading() as session:
        for what, sql in _CHECKS.items():
            if count := session.execute(text(sql)).scalar_one():
                problems.append(f"{count} {what}")
        canceled, returned, reshipped = session.execute(_COUNTERS).one()
        expected = (len(unshipped), len(shipped), len(shipped))
        if (canceled, returned, reshipped) != expected:
            problems.append(
                f"units canceled, returned, reshipped {(canceled, returned, reshipped)} "
                f"!= {expected}"
            )
        refunds = session.execute(
            text("SELECT idempotency_key, amount FROM refunds WHERE status = 'PROCESSED'")
        ).all()
        mismatched = [o for o in reconcile(session).orders if o.mismatches]
    made = {e.idempotency_key: e.amount for e in shop.sandbox.movements("refund")}
    if len(made) != len(shop.sandbox.movements("refund")) or made != dict(refunds):
        problems.append(
            f"{len(refunds)} refunds processed, {len(shop.sandbox.movements('refund'))} "
            "refund movements at the gateway: not one each"
        )
    halves = {"unshipped": len(unshipped), "shipped": len(shipped)}
    for phase, (_, _, _, per_order) in zip(figures.phases, PHASES, strict=True):
        # The warm-up orders' refunds are settled in the same phase: count every order.
        expected_refunds = per_order * halves[phase.orders]
        if phase.refunds != expected_refunds:
            problems.append(f"{phase.action}: {phase.refunds} refunds, not {expected_refunds}")
    if mismatched:
        first = mismatched[0]
        problems.append(
            f"{len(mismatched)} orders reconcile with a mismatch, e.g. "
            f"{first.order_summary_id}: {'; '.join(first.mismatches)}"
        )
    return problems


# --- report -------------------------------------------------------------------------------


def _ms(values: list[float], p: float) -> float:
    return percentile(values, p) * 1000 if values else float("nan")


def table(rows: list[Run], *, phases: list[Phase] | None = None) -> list[str]:
    lines = [
        "| backend | action | orders | p50 ms | p99 ms | app CPU ms/req | db CPU ms/req "
        "| settle s | settle ms/order | settle CPU ms/order | refunds |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        for phase in phases if phases is not None else r.phases:
            n = len(phase.latencies)
            every = n + WARM_UP  # the worker settles the warm-up orders too
            db = f"{1000 * phase.db_cpu / n:.1f}" if n and phase.db_cpu is not None else "–"
            settle_cpu = phase.settle_cpu + (phase.settle_db_cpu or 0.0)
            lines.append(
                f"| {r.backend} | {phase.action} | {n} | {_ms(phase.latencies, 50):.1f} "
                f"| {_ms(phase.latencies, 99):.1f} | {1000 * phase.app_cpu / n:.1f} | {db} "
                f"| {phase.settle_seconds:.2f} | {1000 * phase.settle_seconds / every:.1f} "
                f"| {1000 * settle_cpu / every:.1f} | {phase.refunds} |"
            )
    return lines


def verdicts(rows: list[Run]) -> list[str]:
    lines = [""]
    for r in rows:
        state = "verified" if not r.problems else "VERIFICATION FAILED"
        lines.append(
            f"{r.backend}: {r.orders} orders prepared in {r.prepare_seconds:.1f} s; {state}"
        )
        lines.extend(f"  {problem}" for problem in r.problems)
    lines.append("DESIGN.md §11 sets no target for service actions.")
    return lines


# --- main ---------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES_URL)
    parser.add_argument(
        "--orders",
        type=int,
        default=200,
        help="orders prepared per run: half unshipped (cancels), half shipped (the rest)",
    )
    args = parser.parse_args(argv)
    if args.orders < 2 * (WARM_UP + 1):
        parser.error(f"--orders must be at least {2 * (WARM_UP + 1)}")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    backends: list[Backend] = []
    if args.backend in ("sqlite", "both"):
        backends.append(SqliteBackend("service-actions"))
    if args.backend in ("postgres", "both"):
        try:
            postgres = PostgresBackend(args.postgres_url, SCRATCH_DATABASE)
            postgres.version()
            backends.append(postgres)
        except OperationalError as exc:
            if args.backend == "postgres":
                raise
            print(f"PostgreSQL unreachable, skipped: {exc}", file=sys.stderr)
    header = machine("sqlalchemy", "fastapi", "httpx")
    rows: list[Run] = []
    try:
        for backend in backends:
            header.append(f"{backend.name + ':':9} {backend.version()}")
            rows.append(run(backend, args.orders))
    finally:
        for backend in backends:
            backend.close()
    header.insert(5, load("after the runs"))
    print("\n".join(header))
    print()
    print("\n".join(table(rows)))
    print("\n".join(verdicts(rows)))
    if any(r.problems for r in rows):
        sys.exit(1)


if __name__ == "__main__":
    main()
