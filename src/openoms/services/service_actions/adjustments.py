"""Discounts (goodwill, appeasement) on items of an order summary (DESIGN.md §9, §12
`adjust-item-submit`), modelled on Salesforce's adjustItemSubmit.

A discount is given per item as one of:

- `percentage`: p percent (0 < p ≤ 100) of the item's current net price (total price +
  adjustments), its tax lowered in the same proportion;
- `amount_with_tax`: a negative amount that includes tax, split by the item's tax rate
  (tax / net price): the net part is rounded half up to the minor unit and the tax part is
  the rest, so the two add up to the amount exactly;
- `amount_without_tax`: a negative net amount; the tax is lowered in proportion.

The tax part of a percentage or net discount is the item's tax × discount / net price,
rounded half up. Several discounts on one item in one request are each worked out on the
item's price before the request, then added up. Only discounts: an amount that is not
negative, a percentage outside (0, 100], more than the item is worth, or one that rounds to
nothing is refused (400 `discount_invalid`) and nothing changes. Delivery charges may be
discounted with the same rules (Salesforce allows adjusting them).

Each item's discount is spread over the units the customer keeps by `changes.split_discount`
and recorded as up to three change orders of kind adjust, one per stage: pre_fulfillment
(units not allocated), in_fulfillment (allocated, unshipped), post_fulfillment (shipped and
kept). What was already invoiced is credited back on one credit memo, attached to the
post-fulfillment change order (or the last one recorded), and refunded by the ensure-refunds
job; the rest lowers what later invoices bill. A delivery charge's discount is
post-fulfillment once the charge was invoiced, pre-fulfillment before.

These rules are pure (`discount_amounts`); they sit here rather than in the domain package
only because that package is shared: they belong beside `openoms.domain.changes`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

from sqlalchemy.orm import Session

from openoms.adapters.db import models as m
from openoms.adapters.db.repositories import fulfillment as fo_repo
from openoms.adapters.outbox import Outbox
from openoms.domain.changes import split_discount
from openoms.domain.errors import AmountInvalid, DiscountInvalid
from openoms.domain.finance import DocumentLine
from openoms.domain.money import Money, format_minor
from openoms.domain.order import ItemType
from openoms.domain.summary import ChangeKind, ChangeLine, ChangeOrder
from openoms.services.orders import (
    RecordedChange,
    billed_amounts,
    item_money,
    item_quantities,
    locked_summary,
    named_item,
    record_change,
)

PRE, IN, POST = "pre_fulfillment", "in_fulfillment", "post_fulfillment"
STAGES = (PRE, IN, POST)  # the order change orders are recorded in
PERCENTAGE, WITH_TAX, WITHOUT_TAX = "percentage", "amount_with_tax", "amount_without_tax"
_PERCENT = re.compile(r"[0-9]+(\.[0-9]+)?")


@dataclass(frozen=True, slots=True)
class ItemAdjustment:
    """One discount on one item (product or delivery charge): `type` is percentage,
    amount_with_tax or amount_without_tax, `amount` a decimal string (see above)."""

    order_item_summary_id: str
    type: str
    amount: str
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class AdjustItems:
    """Discounts on items of an order summary, and why."""

    items: tuple[ItemAdjustment, ...]
    reason: str | None = None
    requested_by: str | None = None  # who asked: `api_key:<id>`, `user:<email>`


@dataclass(frozen=True, slots=True)
class Discount:
    """What a discount takes off an item, in minor units (both ≤ 0)."""

    adjustment: int
    tax: int

    def __add__(self, other: Discount) -> Discount:
        return Discount(self.adjustment + other.adjustment, self.tax + other.tax)


# --- the amounts (pure) -------------------------------------------------------------------


def discount_amounts(
    kind: str, amount: str, *, net_price: int, tax: int, currency: str, field: str = "amount"
) -> Discount:
    """The adjustment and tax a discount of `kind` and `amount` takes off an item whose
    current net price is `net_price` and tax `tax` (see the module docstring). Raises
    DiscountInvalid (naming `field`) for anything but a discount the item can bear."""
    if net_price <= 0:
        raise DiscountInvalid(
            f"the item's net price is {format_minor(net_price, currency)}: nothing to discount",
            field=field,
        )
    if kind == PERCENTAGE:
        off = _percent(amount, field) * net_price
        adjustment = _round_half_up(off.numerator, off.denominator)
        if adjustment > net_price:  # not reachable for p ≤ 100; kept as a guard
            raise DiscountInvalid(f"{amount}% is more than the item is worth", field=field)
        discount = Discount(-adjustment, -_proportional_tax(tax, adjustment, net_price))
    else:
        wanted = _negative_amount(amount, currency, field)
        worth = net_price + tax if kind == WITH_TAX else net_price
        if wanted > worth:
            what = "with tax" if kind == WITH_TAX else "before tax"
            raise DiscountInvalid(
                f"a discount of {format_minor(wanted, currency)} is more than the item is "
                f"worth {what} ({format_minor(worth, currency)})",
                field=field,
            )
        if kind == WITH_TAX:
            net = _round_half_up(wanted * net_price, net_price + tax)
            discount = Discount(-net, -(wanted - net))
        else:
            discount = Discount(-wanted, -_proportional_tax(tax, wanted, net_price))
    if discount == Discount(0, 0):
        raise DiscountInvalid(
            f"a discount of {amount} ({kind}) rounds to nothing on an item worth "
            f"{format_minor(net_price, currency)}",
            field=field,
        )
    return discount


def _percent(amount: str, field: str) -> Fraction:
    if not _PERCENT.fullmatch(amount) or not 0 < Decimal(amount) <= 100:
        raise DiscountInvalid(
            f'a percentage discount is a number in (0, 100], e.g. "10" for 10% off; got {amount!r}',
            field=field,
        )
    return Fraction(Decimal(amount)) / 100


def _negative_amount(amount: str, currency: str, field: str) -> int:
    try:
        minor = Money.parse(amount, currency, field=field).minor
    except AmountInvalid as exc:
        raise DiscountInvalid(exc.detail, field=field) from None
    if minor >= 0:
        raise DiscountInvalid(
            f'a discount amount lowers the price: give a negative amount such as "-5.00", '
            f"not {amount!r}",
            field=field,
        )
    return -minor


def _proportional_tax(tax: int, discount: int, net_price: int) -> int:
    """The tax that goes with a net `discount` of an item worth `net_price` with `tax`."""
    return _round_half_up(tax * discount, net_price)


def _round_half_up(numerator: int, denominator: int) -> int:
    """numerator / denominator (both ≥ 0, denominator > 0), rounded half up."""
    return (2 * numerator + denominator) // (2 * denominator)


# --- the action ---------------------------------------------------------------------------


def submit_adjustments(
    session: Session, outbox: Outbox, summary_id: str, request: AdjustItems
) -> list[RecordedChange]:
    """Discount the requested items (see the module docstring): up to three change orders of
    kind adjust (pre_fulfillment, in_fulfillment, post_fulfillment), a credit memo for what
    was already invoiced, totals and status derived again. Refusals change nothing: an
    unknown item (400 `order_item_summary_unknown`), anything but a discount the item can
    bear (400 `discount_invalid`)."""
    summary = locked_summary(session, summary_id)
    items = {i.id: i for i in fo_repo.summary_items(session, summary_id)}
    discounts = _discounts(items, request.items, summary.currency)
    billed = billed_amounts(session, summary_id)
    stages: dict[str, list[ChangeLine]] = {stage: [] for stage in STAGES}
    credit: list[DocumentLine] = []
    for item_id, discount in discounts.items():
        item = items[item_id]
        money = item_money(item, billed)
        split = split_discount(money, discount.adjustment, discount.tax)
        parts = {PRE: split.pre_fulfillment, IN: split.in_fulfillment, POST: split.post_fulfillment}
        if item.type == ItemType.DELIVERY_CHARGE.value:
            # A charge is not fulfilled unit by unit: it is "shipped" once invoiced.
            line = split.pre_fulfillment or split.in_fulfillment or split.post_fulfillment
            parts = {POST if money.billed.quantity else PRE: line}
        for stage, line in parts.items():
            if line is not None and (line.adjustments or line.tax):
                stages[stage].append(line)
        if split.credit is not None:
            credit.append(split.credit)
    return _record(session, outbox, summary, stages, credit, request)


def _discounts(
    items: Mapping[str, m.OrderItemSummary], wanted: Sequence[ItemAdjustment], currency: str
) -> dict[str, Discount]:
    """Per item id (in the order first named), the sum of its discounts, each worked out on
    the item's price before this request; checked against what the item is worth."""
    total: dict[str, Discount] = {}
    for index, line in enumerate(wanted):
        field = f"items[{index}].order_item_summary_id"
        item = named_item(items, line.order_item_summary_id, field=field)
        q = item_quantities(item)
        if q.net_ordered - q.returned <= 0:
            raise DiscountInvalid(
                f"{item.sku} has no units left to discount ({q.canceled} canceled, "
                f"{q.returned} returned of {q.ordered})",
                field=field,
            )
        net_price = item.total_price + item.adjustments
        discount = discount_amounts(
            line.type,
            line.amount,
            net_price=net_price,
            tax=item.tax,
            currency=currency,
            field=f"items[{index}].amount",
        )
        summed = total.get(item.id, Discount(0, 0)) + discount
        if -summed.adjustment > net_price or -summed.tax > item.tax:
            raise DiscountInvalid(
                f"the discounts on {item.sku} add up to more than it is worth "
                f"({format_minor(net_price, currency)}, tax {format_minor(item.tax, currency)})",
                field=f"items[{index}].amount",
            )
        total[item.id] = summed
    return total


def _record(
    session: Session,
    outbox: Outbox,
    summary: m.OrderSummary,
    stages: Mapping[str, list[ChangeLine]],
    credit: list[DocumentLine],
    request: AdjustItems,
) -> list[RecordedChange]:
    """One change order per stage with lines; the credit on the post-fulfillment one, or
    on the last recorded when there is none."""
    used = [stage for stage in STAGES if stages[stage]]
    credit_stage = POST if POST in used else used[-1]
    return [
        record_change(
            session,
            outbox,
            summary,
            ChangeOrder(ChangeKind.ADJUST, _reason(request), tuple(stages[stage])),
            credit=credit if stage == credit_stage else (),
            stage=stage,
            requested_by=request.requested_by,
        )
        for stage in used
    ]


def _reason(request: AdjustItems) -> str:
    if request.reason:
        return request.reason
    return "; ".join(dict.fromkeys(line.reason for line in request.items if line.reason))
