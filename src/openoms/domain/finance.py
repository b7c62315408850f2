"""Invoices, credit memos and refund plans, exact to the minor unit (DESIGN.md §3, §7).

An invoice bills what a shipment took: each item's running amounts pro rata by quantity,
cumulatively, so the units that complete an item take whatever is left and the invoices of
a fully shipped item add up to its amounts exactly. What an item has been billed so far is
its invoice lines less its credit memo lines, so a credit issued before the last shipment
is never billed or credited twice. A credit memo is a change order turned round: positive
amounts owed back. A refund plan spreads an amount over payments (§7): one payment that
matches it exactly, else the smallest that covers it, else several, largest first.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from openoms.domain.errors import AmountInvalid, QuantityInvalid
from openoms.domain.summary import ChangeKind, ChangeOrder


@dataclass(frozen=True, slots=True)
class Amounts:
    """Quantity and amounts (minor units) of an item, or of what was billed for it."""

    quantity: int = 0
    total_price: int = 0
    adjustments: int = 0
    tax: int = 0

    @property
    def total(self) -> int:
        return self.total_price + self.adjustments + self.tax

    def __add__(self, other: Amounts) -> Amounts:
        return Amounts(
            self.quantity + other.quantity,
            self.total_price + other.total_price,
            self.adjustments + other.adjustments,
            self.tax + other.tax,
        )

    def __sub__(self, other: Amounts) -> Amounts:
        return Amounts(
            self.quantity - other.quantity,
            self.total_price - other.total_price,
            self.adjustments - other.adjustments,
            self.tax - other.tax,
        )


@dataclass(frozen=True, slots=True)
class DocumentLine:
    """One line of an invoice or credit memo for one item (by key or id)."""

    item: str
    quantity: int
    total_price: int
    adjustments: int
    tax: int

    @property
    def total(self) -> int:
        return self.total_price + self.adjustments + self.tax


def _part(amount: int, units: int, of: int) -> int:
    """`amount` × units / of, rounded toward zero (the remainder stays with the last units)."""
    if units >= of:
        return amount
    share = abs(amount) * units // of
    return -share if amount < 0 else share


def invoice_lines_for_shipment(
    shipped: Sequence[tuple[str, int]],
    items: Mapping[str, Amounts],
    billed: Mapping[str, Amounts],
    *,
    delivery_charge: tuple[str, Amounts] | None = None,
) -> list[DocumentLine]:
    """The invoice lines for a shipment.

    `shipped`: (item, units) of this shipment. `items`: each item's running amounts with
    `quantity` = net ordered (ordered − canceled). `billed`: per item, what its earlier
    invoices took less what its change orders' credit memos gave back (`quantity` = units
    invoiced). `delivery_charge`: the group's delivery charge item on its first invoice,
    billed whole. Each line is the units' share of what is still unbilled: (amounts −
    billed) pro rata over the units not invoiced yet, so the shipment that completes an item
    takes the remainder exactly, and a cancel, return or discount in between (which moves
    amounts and billed together) never makes a later invoice bill too much or too little.
    """
    lines: list[DocumentLine] = []
    units_by_item: dict[str, int] = {}
    for item, units in shipped:
        if units <= 0:
            raise QuantityInvalid(f"shipped quantity of {item} must be positive, got {units}")
        units_by_item[item] = units_by_item.get(item, 0) + units
    wanted = list(units_by_item.items())
    if delivery_charge is not None:
        key, charge = delivery_charge
        wanted.append((key, max(charge.quantity - billed.get(key, Amounts()).quantity, 1)))
        items = {**items, key: charge}
    for item, units in wanted:
        before = billed.get(item, Amounts())
        delta = unbilled_share(items[item], before, units)
        lines.append(DocumentLine(item, units, delta.total_price, delta.adjustments, delta.tax))
    return lines


def unbilled_share(amounts: Amounts, billed: Amounts, units: int) -> Amounts:
    """`units`' share of what an item has not been billed yet: (amounts − billed) pro rata
    over its units not invoiced yet (amounts.quantity − billed.quantity); all of it when
    `units` covers them. The quantity of the result is 0."""
    left = amounts - billed
    return share(Amounts(0, left.total_price, left.adjustments, left.tax), units, left.quantity)


def share(amounts: Amounts, units: int, of: int) -> Amounts:
    """`units` of `of` of `amounts`, each component rounded toward zero (the remainder stays
    with the last units); all of it when units ≥ of."""
    return Amounts(
        amounts.quantity,
        _part(amounts.total_price, units, of),
        _part(amounts.adjustments, units, of),
        _part(amounts.tax, units, of),
    )


def credit_memo_lines(change_order: ChangeOrder) -> list[DocumentLine]:
    """A change order's lines as credit memo lines: what is owed back, as positive units and
    amounts (a discount's adjustment is credited as a positive amount). An addition owes
    nothing back: it is invoiced instead, so it raises AmountInvalid here."""
    if change_order.kind is ChangeKind.ADD:
        raise AmountInvalid("an addition is invoiced, not credited")
    lines = [
        DocumentLine(line.item_key, -line.quantity, -line.total_price, -line.adjustments, -line.tax)
        for line in change_order.lines
    ]
    if sum(line.total for line in lines) < 0:
        raise AmountInvalid("a credit memo cannot owe the customer less than nothing")
    return lines


# --- refunds ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RefundPlan:
    """(payment id, amount) to refund, and what no payment could cover."""

    parts: tuple[tuple[str, int], ...]
    shortfall: int = 0

    @property
    def total(self) -> int:
        return sum(amount for _, amount in self.parts)


def plan_refunds(amount: int, payments: Sequence[tuple[str, int]]) -> RefundPlan:
    """Refund `amount` over `payments` given as (id, refundable): the first payment whose
    refundable equals it exactly, else the smallest that covers it, else several, largest
    first (earliest first on ties); what they cannot cover is the shortfall."""
    if amount < 0:
        raise AmountInvalid(f"a refund amount must not be negative, got {amount}")
    usable = [(pid, refundable) for pid, refundable in payments if refundable > 0]
    if amount == 0:
        return RefundPlan(())
    for pid, refundable in usable:
        if refundable == amount:
            return RefundPlan(((pid, amount),))
    covering = [(refundable, i) for i, (_, refundable) in enumerate(usable) if refundable > amount]
    if covering:
        _, index = min(covering)
        return RefundPlan(((usable[index][0], amount),))
    parts: list[tuple[str, int]] = []
    left = amount
    for pid, refundable in sorted(usable, key=lambda p: -p[1]):
        if left == 0:
            break
        take = min(refundable, left)
        parts.append((pid, take))
        left -= take
    return RefundPlan(tuple(parts), shortfall=left)
