"""Reship (DESIGN.md §2, §3): send replacement units, at no charge, for goods lost or damaged.

This module is the agent's action; beside it: service_actions/reship_keys.py (the keys of a
reship's job, reservations and exception, per round), service_actions/reship_routing.py (the
`route_reship` job) and service_actions/reship_reroutes.py (routing again after a rejection).

`submit_reship` is the agent's action, in one transaction under the order summary's lock:
it checks every unit against the item's quantity_available_to_reship (fulfilled −
(reshipped + return_initiated)) before writing anything, raises the items'
quantity_reshipped, emits `order_summary.reshipped` and queues one `route_reship` job per
delivery group. No change order and no money: a reship is free.

The job routes the replacement units as the original routing does (services/routing/plan.py:
the channel's strategy, its location group and max splits, a pickup group only to its
store, never a location that rejected the group): each chosen location gets a fresh
reservation keyed `reship:{reship_id}:{location_id}` and one ALLOCATED fulfillment order of
type "reship". A reship routes whole or not at all: when stock is short it raises a routing
process exception (key `routing:{group}:reship:{reship_id}`, refreshed on every retry) and
retries with backoff; success resolves it. A retried job finds the fulfillment orders its
reservations made and does nothing.

Rounds: a location may reject a reship fulfillment order (services/fulfillment.reject gives
its reservation back); `reroute_after_rejection` then queues the job again for the rejected
units in a new round of the reship, numbered 1 + the reship's rejected fulfillment orders.
A later round's keys end in `:{round}` — job `reship:{reship_id}:{group}:{round}`,
reservations `reship:{reship_id}:{location_id}:{round}`, exception
`routing:{group}:reship:{reship_id}:{round}` — so it never mistakes an earlier round's
fulfillment orders for its own; like any routing it leaves out every location that rejected
one of the group's fulfillment orders.
Canceling a reship fulfillment order's lines lowers quantity_reshipped instead: those
replacements are no longer sent, and the agent may reship the units again.

Accounting: the items' allocated and fulfilled counters count the original units only. A
reship fulfillment order's lines name the same item summaries but never raise
quantity_allocated (routing.create_fulfillment_orders with `fo_type="reship"`) nor
quantity_fulfilled when they ship (services/fulfillment/shipping.py); its shipment fulfils its own
reservation (on hand and reserved down) and is never invoiced (services/finance/invoicing.py).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy.orm import Session

from openoms.adapters.db import models as m
from openoms.adapters.db.ids import new_id
from openoms.adapters.db.repositories import fulfillment as items_repo
from openoms.adapters.jobs import enqueue
from openoms.adapters.outbox import Outbox
from openoms.domain.errors import ReshipExceedsAvailable, ReshipNotAllowed
from openoms.domain.events import DomainEvent
from openoms.domain.order import Lifecycle
from openoms.domain.quantities import ItemQuantities
from openoms.services.orders import (
    item_quantities,
    locked_summary,
    product_lines,
    refresh_summary_status,
)
from openoms.services.service_actions.reship_keys import RESHIP_JOB, reship_job_key

RESHIPPED_EVENT = "order_summary.reshipped"


class ReshipReason(StrEnum):
    """Why replacement goods are sent (a stable code for reporting; details go in `note`)."""

    LOST_IN_TRANSIT = "lost_in_transit"
    DAMAGED = "damaged"
    WRONG_ITEM = "wrong_item"
    OTHER = "other"


@dataclass(frozen=True, slots=True)
class ReshipRequest:
    """One line of a reship: units of an item summary, with an optional reason of its own."""

    order_item_summary_id: str
    quantity: int
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class ReshipLine:
    order_item_summary_id: str
    sku: str
    delivery_group_summary_id: str
    quantity: int
    reason: str | None


@dataclass(frozen=True, slots=True)
class SubmittedReship:
    reship_id: str
    order_summary_id: str
    reason: ReshipReason
    note: str | None
    lines: tuple[ReshipLine, ...]
    requested_by: str | None = None  # who asked: `api_key:<id>`, `user:<email>`


# --- the action ---------------------------------------------------------------------------


def submit_reship(
    session: Session,
    outbox: Outbox,
    order_summary_id: str,
    requests: Sequence[ReshipRequest],
    *,
    reason: ReshipReason,
    note: str | None = None,
    requested_by: str | None = None,
) -> SubmittedReship:
    """Reship `requests` (see the module docstring). Raises before writing anything: an item
    not on the order (OrderItemSummaryUnknown), a quantity below one (QuantityInvalid), a
    delivery charge or an unmanaged order (ReshipNotAllowed), more than available to reship
    (ReshipExceedsAvailable, 409, naming each short item with its numbers)."""
    summary = locked_summary(session, order_summary_id)
    if summary.lifecycle != Lifecycle.MANAGED.value:
        raise ReshipNotAllowed(
            f"order summary {summary.id} is {summary.lifecycle}: the system that drives it "
            "ships replacements, not openoms"
        )
    known = {i.id: i for i in items_repo.summary_items(session, summary.id)}
    wanted = product_lines(
        known,
        requests,
        action="reship",
        not_product=ReshipNotAllowed,
        instead="only products are sent again",
    )
    items = items_repo.lock_items(session, set(wanted))
    after = _check(items, wanted)
    reship_id = new_id("rs")
    lines = []
    for item_id, units in wanted.items():
        item = items[item_id]
        item.quantity_reshipped = after[item_id].reshipped
        why = next((r.reason for r in requests if r.order_item_summary_id == item_id), None)
        lines.append(ReshipLine(item.id, item.sku, item.delivery_group_summary_id, units, why))
    session.flush()
    refresh_summary_status(session, outbox, summary.id)
    submitted = SubmittedReship(
        reship_id, summary.id, reason, note, tuple(lines), requested_by=requested_by
    )
    for group_id, group_lines in _by_group(lines).items():
        enqueue(
            session,
            RESHIP_JOB,
            reship_job_key(reship_id, group_id),
            _job_payload(submitted, group_id, group_lines),
        )
    outbox.record(session, [_reshipped_event(submitted)])
    return submitted


def _check(
    items: Mapping[str, m.OrderItemSummary], wanted: Mapping[str, int]
) -> dict[str, ItemQuantities]:
    """Every item's counters after the reship; all shortfalls in one refusal."""
    after: dict[str, ItemQuantities] = {}
    short = []
    for item_id, units in wanted.items():
        q = item_quantities(items[item_id])
        if units > q.available_to_reship:
            short.append((items[item_id], q, units))
            continue
        after[item_id] = q.reship(units)
    if short:
        raise ReshipExceedsAvailable(
            "; ".join(_shortfall(item, q, units) for item, q, units in short),
            shortfall=[
                {
                    "order_item_summary_id": item.id,
                    "sku": item.sku,
                    "requested": units,
                    "available": q.available_to_reship,
                }
                for item, q, units in short
            ],
        )
    return after


def _shortfall(item: m.OrderItemSummary, q: ItemQuantities, units: int) -> str:
    """E.g. "cannot reship 3 TEE-M: 3 of 3 shipped, 1 being returned, 1 reshipped already,
    so 1 is available to reship; reship at most 1"."""
    parts = [f"{q.fulfilled} of {q.net_ordered} shipped"]
    if q.return_initiated:
        parts.append(f"{q.return_initiated} being returned")
    if q.reshipped:
        parts.append(f"{q.reshipped} reshipped already")
    left = q.available_to_reship
    then = f"reship at most {left}" if left else "nothing else can be reshipped"
    return (
        f"cannot reship {units} {item.sku}: {', '.join(parts)}, so {left} "
        f"{'is' if left == 1 else 'are'} available to reship; {then}"
    )


def _by_group(lines: Sequence[ReshipLine]) -> dict[str, list[ReshipLine]]:
    groups: dict[str, list[ReshipLine]] = defaultdict(list)
    for line in lines:
        groups[line.delivery_group_summary_id].append(line)
    return dict(groups)


def _job_payload(
    reship: SubmittedReship, group_id: str, lines: Sequence[ReshipLine]
) -> dict[str, Any]:
    return {
        "reship_id": reship.reship_id,
        "order_summary_id": reship.order_summary_id,
        "group_summary_id": group_id,
        "reason": reship.reason.value,
        "lines": [
            {
                "order_item_summary_id": ln.order_item_summary_id,
                "sku": ln.sku,
                "quantity": ln.quantity,
            }
            for ln in lines
        ],
    }


def _reshipped_event(reship: SubmittedReship) -> DomainEvent:
    return DomainEvent(
        RESHIPPED_EVENT,
        "order_summary",
        reship.order_summary_id,
        {
            "order_summary_id": reship.order_summary_id,
            "reship_id": reship.reship_id,
            "reason": reship.reason.value,
            "note": reship.note,
            "items": [reship_line_out(ln) for ln in reship.lines],
            **({"requested_by": reship.requested_by} if reship.requested_by else {}),
        },
        reship.order_summary_id,
    )


def reship_line_out(line: ReshipLine) -> dict[str, Any]:
    """A reship line as its event and its answer (schemas.reships.ReshipLineOut) show it."""
    return {
        "order_item_summary_id": line.order_item_summary_id,
        "sku": line.sku,
        "quantity": line.quantity,
        "reason": line.reason,
    }
