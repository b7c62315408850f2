"""What every return action shares (returns/lifecycle.py and the modules beside it): the
locked return order, the outcome an action answers, status moves, events and location refs.

Every action takes the order summary's row lock first, then the return order's
(`lock_return`); creation locks the summary before the return order exists.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from openoms.adapters.db import models as m
from openoms.adapters.db.repositories import fulfillment as repo
from openoms.adapters.db.repositories import returns as returns_repo
from openoms.adapters.outbox import Outbox
from openoms.domain.errors import ReturnOrderNotFound
from openoms.domain.events import DomainEvent
from openoms.domain.money import format_minor
from openoms.domain.returns import ReturnLine, ReturnOrderStatus
from openoms.services.inventory import LocationUnknown
from openoms.services.orders import RecordedChange, locked_summary


@dataclass(frozen=True, slots=True)
class ReturnOutcome:
    """What an action did: the return order, its change orders (with credit memos) and
    messages for the caller (returnless decisions, restocks, fees)."""

    return_order_id: str
    order_summary_id: str
    recorded: tuple[RecordedChange, ...] = ()
    messages: tuple[str, ...] = ()

    def then(self, other: ReturnOutcome) -> ReturnOutcome:
        return ReturnOutcome(
            other.return_order_id,
            other.order_summary_id,
            self.recorded + other.recorded,
            self.messages + other.messages,
        )


@dataclass(slots=True)
class LockedReturn:
    """A locked return order with its summary, lines (in the order's item order) and the
    lines' items, and who acts on it (`by`: `api_key:<id>`, `user:<email>`; None for the
    worker and the CLI)."""

    summary: m.OrderSummary
    order: m.ReturnOrder
    lines: list[m.ReturnOrderLineItem]
    items: dict[str, m.OrderItemSummary]
    by: str | None = None

    @property
    def status(self) -> ReturnOrderStatus:
        return ReturnOrderStatus(self.order.status)

    def counters(self) -> list[ReturnLine]:
        return [counters(line) for line in self.lines]

    def nothing(self, *messages: str) -> ReturnOutcome:
        """An outcome that recorded no change (with `messages`, if any)."""
        return ReturnOutcome(self.order.id, self.summary.id, messages=messages)


def lock_return(session: Session, return_order_id: str, by: str | None = None) -> LockedReturn:
    """The return order with its summary locked first, then its own row and lines; `by`
    acts on it."""
    found = returns_repo.get_return_order(session, return_order_id)
    if found is None:
        raise ReturnOrderNotFound(f"return order '{return_order_id}' does not exist")
    summary = locked_summary(session, found.order_summary_id)
    order = returns_repo.lock_return_order(session, return_order_id)
    lines = returns_repo.return_lines(session, order.id)
    items = {i.id: i for i in repo.summary_items(session, summary.id)}
    lines.sort(key=lambda line: items[line.order_item_summary_id].position)  # the order's order
    return LockedReturn(summary, order, lines, items, by)


def counters(line: m.ReturnOrderLineItem) -> ReturnLine:
    """The line's counters as the domain's ReturnLine (its checks and arithmetic)."""
    return ReturnLine(
        expected=line.quantity_expected,
        received=line.quantity_received,
        canceled=line.quantity_canceled,
        credited=line.quantity_credited,
    )


def set_status(ret: LockedReturn, status: ReturnOrderStatus, now: datetime) -> None:
    ret.order.status = status.value
    ret.order.updated_at = now


def record_event(
    session: Session, outbox: Outbox, ret: LockedReturn, verb: str, **extra: Any
) -> None:
    """`return_order.<verb>` with the return's id, summary, status, `extra` and who acted
    (`by`, when someone did)."""
    payload = {
        "return_order_id": ret.order.id,
        "order_summary_id": ret.summary.id,
        "status": ret.order.status,
        **extra,
    }
    if ret.by is not None:
        payload["by"] = ret.by
    session.flush()
    outbox.record(
        session,
        [
            DomainEvent(
                f"return_order.{verb}", "return_order", ret.order.id, payload, ret.summary.id
            )
        ],
    )


def location_id(session: Session, ref: str | None, field: str) -> str | None:
    """The id of the location `ref` (None for None); LocationUnknown on `field` if none."""
    if ref is None:
        return None
    found = repo.location_id_by_ref(session, ref)
    if found is None:
        raise LocationUnknown(f"no location {ref!r}", field=field)
    return found


def location_refs(session: Session, ids: Iterable[str | None]) -> dict[str, str]:
    """Location id → ref for the given ids (None skipped)."""
    wanted = [i for i in ids if i]
    if not wanted:
        return {}
    return repo.location_refs(session, wanted)


def money_format(currency: str) -> Callable[[int], str]:
    """Minor units → the currency's decimal text ("20.55")."""
    return lambda minor: format_minor(minor, currency)
