"""The Order as captured, priced exactly, and its validation.

An Order is immutable once captured. `price_order` turns a validated draft into priced
items: one per product line and one per delivery charge, with order-level adjustments
distributed over product lines by the largest-remainder rule, so every later split sums
to the cent.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum

from openoms.domain.errors import (
    AdjustmentInvalid,
    AmountInvalid,
    DeliveryGroupInvalid,
    PaymentsInsufficient,
    TotalsMismatch,
    ValidationFailed,
)
from openoms.domain.money import check_amount, currency_exponent, distribute, format_minor
from openoms.domain.quantities import check_line_quantity


class Lifecycle(StrEnum):
    MANAGED = "MANAGED"
    UNMANAGED = "UNMANAGED"


class DeliveryMethod(StrEnum):
    SHIP = "ship"
    PICKUP = "pickup"


class ItemType(StrEnum):
    PRODUCT = "product"
    DELIVERY_CHARGE = "delivery_charge"


DELIVERY_CHARGE_SKU = "DELIVERY"


@dataclass(frozen=True, slots=True)
class Address:
    line1: str
    city: str
    country: str
    line2: str | None = None
    region: str | None = None
    postal_code: str | None = None
    lat: float | None = None
    lon: float | None = None


@dataclass(frozen=True, slots=True)
class Recipient:
    name: str
    email: str | None = None
    phone: str | None = None
    address: Address | None = None


@dataclass(frozen=True, slots=True)
class Customer:
    name: str
    email: str | None = None


@dataclass(frozen=True, slots=True)
class Adjustment:
    """A price adjustment (negative for a discount) with its tax effect, in minor units."""

    amount: int
    reason: str
    tax: int = 0


@dataclass(frozen=True, slots=True)
class DeliveryGroup:
    ref: str
    method: DeliveryMethod
    service: str | None = None
    recipient: Recipient | None = None
    pickup_location: str | None = None
    charge: int = 0
    charge_tax: int = 0


@dataclass(frozen=True, slots=True)
class OrderLine:
    sku: str
    quantity: int
    unit_price: int
    delivery_group: str
    tax: int = 0
    name: str | None = None
    adjustments: tuple[Adjustment, ...] = ()
    declared_total: int | None = None


@dataclass(frozen=True, slots=True)
class PaymentMethod:
    gateway: str
    token: str
    amount: int
    authorization_reference: str | None = None


@dataclass(frozen=True, slots=True)
class OrderDraft:
    channel: str
    external_reference: str
    currency: str
    ordered_at: datetime
    customer: Customer
    delivery_groups: tuple[DeliveryGroup, ...]
    lines: tuple[OrderLine, ...]
    lifecycle: Lifecycle = Lifecycle.MANAGED
    adjustments: tuple[Adjustment, ...] = ()
    payments: tuple[PaymentMethod, ...] = ()
    declared_grand_total: int | None = None


@dataclass(frozen=True, slots=True)
class PricedItem:
    """One line of an order (original or change order) in minor units.

    `adjustments` holds the line's own adjustments plus its share of order-level ones;
    `tax` holds the line's tax plus its share of the adjustments' tax effect.
    """

    key: str
    type: ItemType
    sku: str
    delivery_group: str
    quantity: int
    unit_price: int
    total_price: int
    adjustments: int = 0
    tax: int = 0
    name: str | None = None
    adjustment_details: tuple[Adjustment, ...] = field(default=())

    @property
    def total(self) -> int:
        return self.total_price + self.adjustments + self.tax


@dataclass(frozen=True, slots=True)
class Totals:
    product: int = 0
    delivery: int = 0
    adjustments: int = 0
    tax: int = 0

    @property
    def grand_total(self) -> int:
        return self.product + self.delivery + self.adjustments + self.tax

    def __add__(self, other: Totals) -> Totals:
        return Totals(
            self.product + other.product,
            self.delivery + other.delivery,
            self.adjustments + other.adjustments,
            self.tax + other.tax,
        )

    def check(self, currency: str) -> Totals:
        """These totals if each, the grand total included, fits the API's amounts (15
        integer digits); else AmountTooLarge naming it."""
        for name, value in (
            ("product", self.product),
            ("delivery", self.delivery),
            ("adjustments", self.adjustments),
            ("tax", self.tax),
            ("grand_total", self.grand_total),
        ):
            field = "grand_total" if name == "grand_total" else f"totals.{name}"
            check_amount(value, currency, field=field, what=f"the order's {name} total")
        return self


def totals_of(items: Sequence[PricedItem]) -> Totals:
    """Totals over priced items: product and delivery are list prices, the rest sums."""
    product = sum(i.total_price for i in items if i.type is ItemType.PRODUCT)
    delivery = sum(i.total_price for i in items if i.type is ItemType.DELIVERY_CHARGE)
    return Totals(
        product=product,
        delivery=delivery,
        adjustments=sum(i.adjustments for i in items),
        tax=sum(i.tax for i in items),
    )


@dataclass(frozen=True, slots=True)
class PricedOrder:
    draft: OrderDraft
    items: tuple[PricedItem, ...]

    @property
    def totals(self) -> Totals:
        return totals_of(self.items)


def price_order(draft: OrderDraft) -> PricedOrder:
    """Validate a draft and price it exactly, or raise the first rule it breaks."""
    _validate_header(draft)
    groups = _validate_groups(draft)
    products = [_price_line(i, line, draft.currency, groups) for i, line in enumerate(draft.lines)]
    _check_groups_used(draft)
    products = _apply_order_adjustments(products, draft.adjustments, draft.currency)
    charges = [
        PricedItem(
            key=f"delivery:{g.ref}",
            type=ItemType.DELIVERY_CHARGE,
            sku=DELIVERY_CHARGE_SKU,
            delivery_group=g.ref,
            quantity=1,
            unit_price=g.charge,
            total_price=g.charge,
            tax=g.charge_tax,
            name=f"Delivery ({g.service or g.method.value})",
        )
        for g in draft.delivery_groups
        if g.charge or g.charge_tax
    ]
    priced = PricedOrder(draft, tuple(products + charges))
    _check_sizes(priced)
    _check_declared_total(priced)
    _check_payments(priced)
    return priced


def _validate_header(draft: OrderDraft) -> None:
    currency_exponent(draft.currency)
    if not draft.channel.strip():
        raise ValidationFailed("channel must not be empty", field="channel")
    if not draft.external_reference.strip():
        raise ValidationFailed("external_reference must not be empty", field="external_reference")
    if draft.ordered_at.tzinfo is None:
        raise ValidationFailed("ordered_at needs a time zone (e.g. 'Z')", field="ordered_at")
    if not draft.lines:
        raise ValidationFailed("an order needs at least one item", field="items")
    if not draft.delivery_groups:
        raise DeliveryGroupInvalid(
            "an order needs at least one delivery group", field="delivery_groups"
        )


def _validate_groups(draft: OrderDraft) -> dict[str, DeliveryGroup]:
    groups: dict[str, DeliveryGroup] = {}
    for i, group in enumerate(draft.delivery_groups):
        where = f"delivery_groups[{i}]"
        if group.ref in groups:
            raise DeliveryGroupInvalid(
                f"{where}.ref '{group.ref}' is used twice", field=f"{where}.ref"
            )
        if group.method is DeliveryMethod.PICKUP and not group.pickup_location:
            raise DeliveryGroupInvalid(
                f"{where}: a pickup group needs a pickup_location", field=f"{where}.pickup_location"
            )
        if group.method is DeliveryMethod.SHIP and (
            group.recipient is None or group.recipient.address is None
        ):
            raise DeliveryGroupInvalid(
                f"{where}: a ship group needs a recipient with an address",
                field=f"{where}.recipient",
            )
        if group.charge < 0 or group.charge_tax < 0:
            raise AmountInvalid(
                f"{where}.delivery_charge must not be negative", field=f"{where}.delivery_charge"
            )
        groups[group.ref] = group
    return groups


def _check_groups_used(draft: OrderDraft) -> None:
    used = {line.delivery_group for line in draft.lines}
    for i, group in enumerate(draft.delivery_groups):
        if group.ref not in used:
            raise DeliveryGroupInvalid(
                f"delivery group '{group.ref}' has no items", field=f"delivery_groups[{i}]"
            )


def _price_line(
    index: int, line: OrderLine, currency: str, groups: dict[str, DeliveryGroup]
) -> PricedItem:
    where = f"items[{index}]"
    check_line_quantity(line.quantity, field=f"{where}.quantity")
    if line.unit_price < 0:
        raise AmountInvalid(f"{where}.unit_price must not be negative", field=f"{where}.unit_price")
    if line.tax < 0:
        raise AmountInvalid(f"{where}.tax must not be negative", field=f"{where}.tax")
    if line.delivery_group not in groups:
        raise DeliveryGroupInvalid(
            f"{where}.delivery_group '{line.delivery_group}' is not one of the order's delivery "
            f"groups ({', '.join(sorted(groups)) or 'none'})",
            field=f"{where}.delivery_group",
        )
    total_price = line.unit_price * line.quantity
    for j, adj in enumerate(line.adjustments):
        if adj.amount > 0 or adj.tax > 0:
            raise AdjustmentInvalid(
                f"{where}.adjustments[{j}] must be a discount (zero or negative)",
                field=f"{where}.adjustments[{j}].{'amount' if adj.amount > 0 else 'tax'}",
            )
    adjustments = sum(a.amount for a in line.adjustments)
    adjustment_tax = sum(a.tax for a in line.adjustments)
    if total_price + adjustments < 0:
        raise AdjustmentInvalid(
            f"{where}: adjustments {format_minor(adjustments, currency)} exceed the line price "
            f"{format_minor(total_price, currency)}",
            field=f"{where}.adjustments",
        )
    if line.tax + adjustment_tax < 0:
        raise AdjustmentInvalid(
            f"{where}: adjustment tax exceeds the line tax", field=f"{where}.adjustments"
        )
    item = PricedItem(
        key=f"line:{index}",
        type=ItemType.PRODUCT,
        sku=line.sku,
        delivery_group=line.delivery_group,
        quantity=line.quantity,
        unit_price=line.unit_price,
        total_price=total_price,
        adjustments=adjustments,
        tax=line.tax + adjustment_tax,
        name=line.name,
        adjustment_details=line.adjustments,
    )
    if line.declared_total is not None and line.declared_total != item.total:
        raise TotalsMismatch(
            f"{where}.total is {format_minor(line.declared_total, currency)} but quantity × "
            f"unit_price + adjustments + tax is {format_minor(item.total, currency)}",
            field=f"{where}.total",
        )
    return item


def _apply_order_adjustments(
    items: list[PricedItem], adjustments: Sequence[Adjustment], currency: str
) -> list[PricedItem]:
    """Spread each order-level adjustment over product lines by their net price."""
    for j, adj in enumerate(adjustments):
        if adj.amount > 0 or adj.tax > 0:
            raise AdjustmentInvalid(
                f"adjustments[{j}] must be a discount (zero or negative)",
                field=f"adjustments[{j}].{'amount' if adj.amount > 0 else 'tax'}",
            )
        weights = [i.total_price + i.adjustments for i in items]
        if -adj.amount > sum(weights):
            raise AdjustmentInvalid(
                f"adjustments[{j}] of {format_minor(adj.amount, currency)} exceeds the "
                f"discounted product total {format_minor(sum(weights), currency)}",
                field=f"adjustments[{j}].amount",
            )
        amounts = distribute(adj.amount, weights)
        taxes = distribute(adj.tax, weights)
        if any(i.tax + t < 0 for i, t in zip(items, taxes, strict=True)):
            raise AdjustmentInvalid(
                f"adjustments[{j}].tax exceeds the tax of the lines it applies to",
                field=f"adjustments[{j}].tax",
            )
        items = [
            _with_adjustment(i, Adjustment(a, adj.reason, t))
            for i, a, t in zip(items, amounts, taxes, strict=True)
        ]
    return items


def _with_adjustment(item: PricedItem, share: Adjustment) -> PricedItem:
    return replace(
        item,
        adjustments=item.adjustments + share.amount,
        tax=item.tax + share.tax,
        adjustment_details=(*item.adjustment_details, share),
    )


def _check_sizes(priced: PricedOrder) -> None:
    """Every amount the order computes (each line's price, adjustments, tax and total, and
    the order's totals) fits the API's amounts, so none can overflow storage."""
    currency = priced.draft.currency
    groups = {g.ref: i for i, g in enumerate(priced.draft.delivery_groups)}
    for item in priced.items:
        kind, _, name = item.key.partition(":")
        where = f"items[{name}]" if kind == "line" else f"delivery_groups[{groups[name]}]"
        for part, value in (
            ("total price", item.total_price),
            ("adjustments", item.adjustments),
            ("tax", item.tax),
            ("total", item.total),
        ):
            check_amount(value, currency, field=where, what=f"{where} {part}")
    priced.totals.check(currency)


def _check_declared_total(priced: PricedOrder) -> None:
    declared = priced.draft.declared_grand_total
    actual = priced.totals.grand_total
    if declared is not None and declared != actual:
        currency = priced.draft.currency
        raise TotalsMismatch(
            f"grand_total is {format_minor(declared, currency)} but the items, delivery "
            f"charges, adjustments and tax add up to {format_minor(actual, currency)}",
            field="grand_total",
        )


def _check_payments(priced: PricedOrder) -> None:
    payments = priced.draft.payments
    if not payments:
        return  # an order on account carries no payment
    currency = priced.draft.currency
    for i, payment in enumerate(payments):
        if payment.amount <= 0:
            raise AmountInvalid(
                f"payments[{i}].amount must be positive", field=f"payments[{i}].amount"
            )
    covered = sum(p.amount for p in payments)
    owed = priced.totals.grand_total
    if covered < owed:
        raise PaymentsInsufficient(
            f"payments total {format_minor(covered, currency)} but the order's grand total is "
            f"{format_minor(owed, currency)}",
            field="payments",
            covered=format_minor(covered, currency),
            grand_total=format_minor(owed, currency),
        )


def delivery_charge_shares(priced: PricedOrder, group_ref: str) -> dict[str, int]:
    """A delivery group's charge (with tax) spread over its product lines by net price.

    Used wherever part of a group is invoiced or refunded on its own, so the parts of a
    delivery charge always add back up to it exactly.
    """
    lines = [
        i for i in priced.items if i.type is ItemType.PRODUCT and i.delivery_group == group_ref
    ]
    charge = sum(
        i.total
        for i in priced.items
        if i.type is ItemType.DELIVERY_CHARGE and i.delivery_group == group_ref
    )
    shares = distribute(charge, [max(i.total_price + i.adjustments, 0) for i in lines])
    return {i.key: s for i, s in zip(lines, shares, strict=True)}
