"""The OrderSummary: the original order plus every change order, and what derives from it.

History is never rewritten: a cancel, return, discount or addition is a ChangeOrder of
signed quantities and amounts. An item summary's amounts are the original line plus the
change lines against it, and the order summary's totals are sums over them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum

from openoms.domain.errors import AdjustmentInvalid, QuantityInvalid, ValidationFailed
from openoms.domain.order import ItemType, PricedItem, Totals, totals_of
from openoms.domain.quantities import ItemQuantities


class OrderSummaryStatus(StrEnum):
    CREATED = "CREATED"
    WAITING_TO_FULFILL = "WAITING_TO_FULFILL"
    PARTIALLY_FULFILLED = "PARTIALLY_FULFILLED"
    FULFILLED = "FULFILLED"
    CANCELED = "CANCELED"
    CLOSED = "CLOSED"


class ChangeKind(StrEnum):
    CANCEL = "cancel"
    RETURN = "return"
    ADJUST = "adjust"
    ADD = "add"


@dataclass(frozen=True, slots=True)
class ChangeLine:
    """Signed deltas against one item summary (negative quantity for a cancel or return)."""

    item_key: str
    quantity: int = 0
    total_price: int = 0
    adjustments: int = 0
    tax: int = 0

    @property
    def total(self) -> int:
        return self.total_price + self.adjustments + self.tax


@dataclass(frozen=True, slots=True)
class ChangeOrder:
    kind: ChangeKind
    reason: str
    lines: tuple[ChangeLine, ...]

    @property
    def total(self) -> int:
        return sum(line.total for line in self.lines)


@dataclass(frozen=True, slots=True)
class ItemState:
    """An OrderItemSummary: what was ordered, its running amounts and its counters."""

    original: PricedItem
    quantities: ItemQuantities
    total_price: int
    adjustments: int
    tax: int

    @classmethod
    def from_priced(cls, item: PricedItem) -> ItemState:
        return cls(
            original=item,
            quantities=ItemQuantities(ordered=item.quantity),
            total_price=item.total_price,
            adjustments=item.adjustments,
            tax=item.tax,
        )

    @property
    def as_priced(self) -> PricedItem:
        return replace(
            self.original,
            quantity=self.quantities.ordered,
            total_price=self.total_price,
            adjustments=self.adjustments,
            tax=self.tax,
        )

    @property
    def total(self) -> int:
        return self.total_price + self.adjustments + self.tax


def apply_change(states: Mapping[str, ItemState], change: ChangeOrder) -> dict[str, ItemState]:
    """Apply a change order to item states; raise without side effects if any line is invalid."""
    result = dict(states)
    for line in change.lines:
        state = result.get(line.item_key)
        if state is None:
            raise ValidationFailed(f"change order names unknown item '{line.item_key}'")
        _check_signs(change.kind, line)
        changed = replace(
            state,
            quantities=_apply_quantity(state.quantities, change.kind, line.quantity),
            total_price=state.total_price + line.total_price,
            adjustments=state.adjustments + line.adjustments,
            tax=state.tax + line.tax,
        )
        if changed.total_price + changed.adjustments < 0 or changed.tax < 0:
            raise AdjustmentInvalid(
                f"change to '{line.item_key}' would leave it with a negative net price or tax"
            )
        result[line.item_key] = changed
    return result


def _check_signs(kind: ChangeKind, line: ChangeLine) -> None:
    """A cancel or return gives money back, a discount lowers the price, an addition adds."""
    if kind is ChangeKind.ADJUST:
        ok = line.total_price == 0 and line.adjustments <= 0 and line.tax <= 0
    elif kind is ChangeKind.ADD:
        ok = line.total_price >= 0 and line.adjustments <= 0 and line.tax >= 0
    else:  # cancel, return: list price and tax come off, the line's discounts with them
        ok = line.total_price <= 0 and line.adjustments >= 0 and line.tax <= 0
    if not ok:
        raise AdjustmentInvalid(
            f"a {kind.value} change cannot move '{line.item_key}' that way: total_price "
            f"{line.total_price:+d}, adjustments {line.adjustments:+d}, tax {line.tax:+d}"
        )


def _apply_quantity(q: ItemQuantities, kind: ChangeKind, delta: int) -> ItemQuantities:
    if kind is ChangeKind.ADJUST:
        if delta:
            raise QuantityInvalid("an adjustment changes amounts only, not quantities")
        return q
    if kind is ChangeKind.ADD:
        return q.add(delta)
    if delta >= 0:
        raise QuantityInvalid(f"a {kind.value} change order needs negative quantities")
    return q.cancel(-delta) if kind is ChangeKind.CANCEL else q.receive_return(-delta)


def summary_totals(states: Iterable[ItemState]) -> Totals:
    return totals_of([s.as_priced for s in states])


def change_totals(change: ChangeOrder, types: Mapping[str, ItemType]) -> Totals:
    """Totals of one change order alone (types: item key -> item type)."""
    product = sum(ln.total_price for ln in change.lines if types[ln.item_key] is ItemType.PRODUCT)
    delivery = sum(
        ln.total_price for ln in change.lines if types[ln.item_key] is ItemType.DELIVERY_CHARGE
    )
    return Totals(
        product=product,
        delivery=delivery,
        adjustments=sum(ln.adjustments for ln in change.lines),
        tax=sum(ln.tax for ln in change.lines),
    )


def derive_status(items: Sequence[tuple[ItemType, ItemQuantities]]) -> OrderSummaryStatus:
    """The order summary's status, from its product items' counters (first match wins)."""
    products = [q for t, q in items if t is ItemType.PRODUCT]
    net = sum(q.net_ordered for q in products)
    fulfilled = sum(min(q.fulfilled, q.net_ordered) for q in products)
    if net == 0:
        return OrderSummaryStatus.CANCELED
    if fulfilled >= net:
        if sum(q.quantity for q in products) == 0:
            return OrderSummaryStatus.CLOSED
        return OrderSummaryStatus.FULFILLED
    if fulfilled > 0:
        return OrderSummaryStatus.PARTIALLY_FULFILLED
    if any(q.allocated for q in products):
        return OrderSummaryStatus.WAITING_TO_FULFILL
    return OrderSummaryStatus.CREATED
