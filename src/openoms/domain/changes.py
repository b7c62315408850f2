"""The amounts of a service action's change order and of its credit memo (pure).

An item's running amounts less what it was billed (invoices less change-order credits)
always belong to its units not invoiced yet; invoices take shares of that remainder
(`openoms.domain.finance.unbilled_share`). Each action keeps that true:

- a cancel takes its units' share of the unbilled remainder and credits nothing (those
  units were never invoiced);
- a return takes its units' share of what the kept invoiced units were billed, credited
  back in full; units shipped but not invoiced yet take an unbilled share, uncredited;
- a discount is spread over the units the customer keeps; the share of the invoiced kept
  units is credited back, the rest lowers what later invoices bill.

Every function returns signed change lines (negative: the order is worth less) and the
positive credit memo lines, keyed by item.
"""

from __future__ import annotations

from dataclasses import dataclass

from openoms.domain.errors import AmountInvalid, QuantityInvalid
from openoms.domain.finance import Amounts, DocumentLine, share, unbilled_share
from openoms.domain.quantities import ItemQuantities
from openoms.domain.summary import ChangeLine


@dataclass(frozen=True, slots=True)
class ItemMoney:
    """What a change needs to know of one item: its counters, running amounts (quantity =
    net ordered) and what it was billed (quantity = units invoiced)."""

    key: str
    quantities: ItemQuantities
    amounts: Amounts
    billed: Amounts

    @property
    def invoiced_kept(self) -> int:
        """Units invoiced and not returned: what the billed amounts pay for."""
        return max(self.billed.quantity - self.quantities.returned, 0)


@dataclass(frozen=True, slots=True)
class LineChange:
    change: ChangeLine
    credit: DocumentLine | None


def cancel_line(item: ItemMoney, units: int) -> LineChange:
    """Cancel `units` never invoiced: their share of the unbilled remainder, no credit."""
    _positive(units)
    part = unbilled_share(item.amounts, item.billed, units)
    return LineChange(_negative(item.key, -units, part), None)


def cancel_charge(item: ItemMoney) -> LineChange:
    """Cancel a delivery charge (one unit) with a refund of whatever of it was invoiced."""
    if item.quantities.net_ordered <= 0:
        raise QuantityInvalid(f"the delivery charge {item.key} is canceled already")
    whole = Amounts(0, item.amounts.total_price, item.amounts.adjustments, item.amounts.tax)
    billed = item.billed
    credit = None
    if billed.total or billed.quantity:
        credit = DocumentLine(item.key, 1, billed.total_price, billed.adjustments, billed.tax)
    return LineChange(_negative(item.key, -1, whole), credit)


def return_line(item: ItemMoney, units: int) -> LineChange:
    """Return `units` shipped units: invoiced kept units first (their billed share, credited
    back), then units not invoiced yet (their unbilled share, nothing to credit)."""
    _positive(units)
    invoiced = min(units, item.invoiced_kept)
    credited = Amounts()
    if invoiced:
        kept = Amounts(0, item.billed.total_price, item.billed.adjustments, item.billed.tax)
        credited = share(kept, invoiced, item.invoiced_kept)
    rest = Amounts()
    if units > invoiced:
        rest = unbilled_share(item.amounts, item.billed, units - invoiced)
    credit = None
    if invoiced:
        credit = DocumentLine(
            item.key, invoiced, credited.total_price, credited.adjustments, credited.tax
        )
    return LineChange(_negative(item.key, -units, credited + rest), credit)


@dataclass(frozen=True, slots=True)
class DiscountSplit:
    """A discount's change lines by fulfilment stage (None where the stage has no units)
    and the credit for what was already invoiced."""

    pre_fulfillment: ChangeLine | None
    in_fulfillment: ChangeLine | None
    post_fulfillment: ChangeLine | None
    credit: DocumentLine | None


def split_discount(item: ItemMoney, adjustment: int, tax: int) -> DiscountSplit:
    """Spread a discount (adjustment ≤ 0, tax ≤ 0, not both 0) over the units the customer
    keeps (net ordered − returned): post-fulfilment (shipped, kept), in-fulfilment
    (allocated, unshipped), pre-fulfilment (not allocated), each stage its units' share,
    the last stage the remainder. The invoiced kept units' share is credited back."""
    if adjustment > 0 or tax > 0 or (adjustment == 0 and tax == 0):
        raise AmountInvalid(
            "a discount lowers the price: give a negative amount (and tax), not "
            f"{adjustment:+d} / {tax:+d}"
        )
    q = item.quantities
    keeps = q.net_ordered - q.returned
    if keeps <= 0:
        raise QuantityInvalid(f"item {item.key} has no units left to discount")
    net_price = item.amounts.total_price + item.amounts.adjustments
    if net_price + adjustment < 0 or item.amounts.tax + tax < 0:
        raise AmountInvalid(
            f"a discount of {-adjustment} (tax {-tax}) is more than item {item.key} is worth "
            f"({net_price}, tax {item.amounts.tax})"
        )
    total = Amounts(0, 0, adjustment, tax)
    stages = [q.fulfilled - q.returned, q.allocated - q.fulfilled, q.net_ordered - q.allocated]
    parts: list[ChangeLine | None] = []
    left, units_left = total, keeps
    for units in stages:
        part = share(left, units, units_left) if units else Amounts()
        left, units_left = left - part, units_left - units
        parts.append(ChangeLine(item.key, 0, 0, part.adjustments, part.tax) if units else None)
    credit = None
    if item.invoiced_kept:
        credited = share(total, item.invoiced_kept, keeps)
        credit = DocumentLine(
            item.key, 0, -credited.total_price, -credited.adjustments, -credited.tax
        )
        if not credit.total:
            credit = None
    post, in_, pre = parts
    return DiscountSplit(pre, in_, post, credit)


def _negative(key: str, quantity: int, part: Amounts) -> ChangeLine:
    """A change line that takes `part` (positive amounts of the item) off."""
    return ChangeLine(key, quantity, -part.total_price, -part.adjustments, -part.tax)


def _positive(units: int) -> None:
    if units <= 0:
        raise QuantityInvalid(f"quantity must be a positive whole number, got {units}")
