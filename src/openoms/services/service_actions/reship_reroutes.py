"""Routing a reship again (service_actions/reships.py): after a rejection — a location
rejected a reship fulfillment order, so its unshipped replacement units go to the
`route_reship` job again, in a new round of the reship that leaves the location out — and
after the order's last hold is released, when every round of its reships runs again (a
round that found the order held ended without routing; the others find their fulfillment
orders and do nothing)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from openoms.adapters.db import models as m
from openoms.adapters.db.repositories import service_actions as repo
from openoms.adapters.jobs import enqueue, requeue
from openoms.adapters.outbox import Consumer, Handler, Outbox
from openoms.domain.errors import ReshipNotAllowed
from openoms.domain.events import DomainEvent
from openoms.domain.fulfillment import RESHIP
from openoms.services import fulfillment
from openoms.services.orders import SYSTEM_OWNER
from openoms.services.service_actions.reship_keys import (
    FIRST_ROUND,
    RESERVATION_PREFIX,
    RESHIP_JOB,
    job_key,
    reship_job_key,
)
from openoms.services.service_actions.reships import RESHIPPED_EVENT, ReshipReason

REROUTE_EVENT = "order_summary.reship_reroute_requested"


def reship_consumers(outbox: Outbox) -> list[Consumer]:
    return [
        Consumer("reships-rejected", ("fulfillment_order.rejected",), on_rejected(outbox)),
        Consumer("reships-released", ("order_summary.released",), on_released),
    ]


def on_released(session: Session, event: m.Event) -> None:
    """The order's last active hold was released: run every round of its reships again."""
    if event.payload.get("on_hold"):
        return
    for reship_id, group_id, round in reship_rounds(session, str(event.aggregate_id)):
        requeue(session, reship_job_key(reship_id, group_id, round), only=("done",))


def reship_rounds(session: Session, summary_id: str) -> set[tuple[str, str, int]]:
    """(reship id, delivery group id, round) of every routing round the order's reships
    asked for: round 1 of each group a reship's items are in, and each round a rejection
    asked for."""
    events = repo.order_event_payloads(session, summary_id, (RESHIPPED_EVENT, REROUTE_EVENT))
    reshipped = [p for name, p in events if name == RESHIPPED_EVENT]
    groups = repo.item_groups(
        session, [i["order_item_summary_id"] for p in reshipped for i in p["items"]]
    )
    rounds = {
        (str(p["reship_id"]), groups[i["order_item_summary_id"]], FIRST_ROUND)
        for p in reshipped
        for i in p["items"]
    }
    rounds.update(
        (str(p["reship_id"]), str(p["delivery_group_summary_id"]), int(p["round"]))
        for name, p in events
        if name == REROUTE_EVENT
    )
    return rounds


def on_rejected(outbox: Outbox) -> Handler:
    """A location rejected a reship fulfillment order: route its unshipped units again."""

    def handle(session: Session, event: m.Event) -> None:
        fo = fulfillment.get_fulfillment_order(session, event.aggregate_id)
        if fo.type != RESHIP:  # ordered units are routing's to route
            return
        reroute_after_rejection(session, outbox, fo, reason=str(event.payload["reason"]))

    return handle


def reroute_after_rejection(
    session: Session, outbox: Outbox, fo: m.FulfillmentOrder, *, reason: str
) -> int:
    """Queue the reship job again for the unshipped units of a REJECTED reship fulfillment
    order, in a new round of its reship (the module docstring) that leaves out the location
    (and every other that rejected one of the group's fulfillment orders). Call it after the
    rejection is stored (status REJECTED, the reservation given back), in the same
    transaction. Returns the round queued; emits `order_summary.reship_reroute_requested`."""
    reship_id = _reship_of(session, fo)
    round = FIRST_ROUND + _rejected(session, fo.order_summary_id, reship_id)
    lines: list[dict[str, Any]] = [
        {"order_item_summary_id": ln.order_item_summary_id, "sku": ln.sku, "quantity": units}
        for ln in fo.lines
        if (units := ln.quantity - ln.shipped) > 0
    ]
    payload = {
        "reship_id": reship_id,
        "order_summary_id": fo.order_summary_id,
        "group_summary_id": fo.delivery_group_summary_id,
        "reason": _first_reason(session, reship_id, fo.delivery_group_summary_id),
        "round": round,
        "lines": lines,
    }
    enqueue(session, RESHIP_JOB, job_key(payload), payload)
    outbox.record(session, [_reroute_requested(fo, reship_id, round, reason, lines)])
    return round


def _reroute_requested(
    fo: m.FulfillmentOrder,
    reship_id: str,
    round: int,
    reason: str,
    lines: list[dict[str, Any]],
) -> DomainEvent:
    return DomainEvent(
        REROUTE_EVENT,
        "order_summary",
        fo.order_summary_id,
        {
            "order_summary_id": fo.order_summary_id,
            "reship_id": reship_id,
            "round": round,
            "delivery_group_summary_id": fo.delivery_group_summary_id,
            "rejected_fulfillment_order_id": fo.id,
            "location_id": fo.location_id,
            "reason": reason,
            "lines": lines,
        },
        fo.order_summary_id,
    )


def _reship_of(session: Session, fo: m.FulfillmentOrder) -> str:
    """The reship a reship fulfillment order sends, read from its reservation's key."""
    key = ""
    if fo.reservation_id is not None:
        keys = repo.reservation_keys(session, [fo.reservation_id], owner=SYSTEM_OWNER)
        key = keys.get(fo.reservation_id, "")
    if not key.startswith(RESERVATION_PREFIX):
        raise ReshipNotAllowed(
            f"fulfillment order {fo.id} holds no reship reservation, so its replacement units "
            "cannot be routed again; cancel its lines and reship the units anew"
        )
    return key.removeprefix(RESERVATION_PREFIX).split(":", 1)[0]


def _rejected(session: Session, summary_id: str, reship_id: str) -> int:
    """How many fulfillment orders of the reship (any group, any round) were rejected."""
    return repo.count_rejected_reship_orders(
        session, summary_id, owner=SYSTEM_OWNER, key_prefix=f"{RESERVATION_PREFIX}{reship_id}:"
    )


def _first_reason(session: Session, reship_id: str, group_id: str) -> str:
    """The reship's reason code, as its first job for the group carried it."""
    payload = repo.job_payload(session, reship_job_key(reship_id, group_id))
    reason = (payload or {}).get("reason")
    return str(reason) if reason else ReshipReason.OTHER.value
