"""Quantity counters of an OrderItemSummary, their derived fields and the item status.

The counters are the only stored truth; every other quantity and the status derive from
them (DESIGN.md §3). Each operation returns new counters or raises a typed error, so a
broken invariant can never be written.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from enum import StrEnum

from openoms.domain.errors import QuantityInvalid, QuantityInvariantViolated, QuantityTooLarge

MAX_LINE_QUANTITY = 1_000_000
"""The most units one line may carry (an order, return, cancel, reservation, shipment or
inventory line): large enough for any real order, small enough that no total overflows."""


def check_line_quantity(quantity: int, *, field: str | None = None) -> int:
    """`quantity` if it is a positive whole number of at most MAX_LINE_QUANTITY units, else
    QuantityInvalid or QuantityTooLarge (naming `field` when given)."""
    name = field or "quantity"
    if quantity <= 0:
        raise QuantityInvalid(
            f"{name} must be a positive whole number, got {quantity}", field=field
        )
    if quantity > MAX_LINE_QUANTITY:
        raise QuantityTooLarge(
            f"{name} is {quantity}; one line carries at most {MAX_LINE_QUANTITY:,} units",
            field=field,
        )
    return quantity


class ItemStatus(StrEnum):
    RETURN_INITIATED = "RETURN_INITIATED"
    RESHIPPED = "RESHIPPED"
    RETURNED = "RETURNED"
    CANCELED = "CANCELED"
    FULFILLED = "FULFILLED"
    PARTIALLY_FULFILLED = "PARTIALLY_FULFILLED"
    ALLOCATED = "ALLOCATED"
    PARTIALLY_ALLOCATED = "PARTIALLY_ALLOCATED"
    ORDERED = "ORDERED"


@dataclass(frozen=True, slots=True)
class ItemQuantities:
    ordered: int
    canceled: int = 0
    returned: int = 0
    return_initiated: int = 0
    allocated: int = 0
    fulfilled: int = 0
    reshipped: int = 0

    def __post_init__(self) -> None:
        for f in fields(self):
            if getattr(self, f.name) < 0:
                raise QuantityInvariantViolated(f"quantity_{f.name} cannot be negative")
        if self.canceled + self.allocated > self.ordered:
            raise QuantityInvariantViolated(
                f"canceled ({self.canceled}) + allocated ({self.allocated}) exceed "
                f"ordered ({self.ordered})"
            )
        if self.fulfilled > self.allocated:
            raise QuantityInvariantViolated(
                f"fulfilled ({self.fulfilled}) exceeds allocated ({self.allocated})"
            )
        if self.returned > self.return_initiated:
            raise QuantityInvariantViolated(
                f"returned ({self.returned}) exceeds return initiated ({self.return_initiated})"
            )
        if self.return_initiated > self.fulfilled:
            raise QuantityInvariantViolated(
                f"return initiated ({self.return_initiated}) exceeds fulfilled ({self.fulfilled})"
            )
        if self.reshipped > self.fulfilled:
            raise QuantityInvariantViolated(
                f"reshipped ({self.reshipped}) exceeds fulfilled ({self.fulfilled})"
            )

    # Derived quantities, named as in the API.
    @property
    def quantity(self) -> int:
        return self.ordered - (self.canceled + self.returned)

    @property
    def net_ordered(self) -> int:
        return self.ordered - self.canceled

    @property
    def available_to_fulfill(self) -> int:
        return self.ordered - (self.canceled + self.allocated)

    @property
    def available_to_cancel(self) -> int:
        return self.available_to_fulfill

    @property
    def available_to_return(self) -> int:
        return self.fulfilled - self.return_initiated

    @property
    def available_to_reship(self) -> int:
        # Floored: a customer may return every unit they hold, replacements included, after
        # which nothing is left to reship (the unfloored figure would go negative).
        return max(self.fulfilled - (self.reshipped + self.return_initiated), 0)

    @property
    def status(self) -> ItemStatus:
        if self.return_initiated > self.returned:
            return ItemStatus.RETURN_INITIATED
        if self.reshipped > 0:
            return ItemStatus.RESHIPPED
        if self.returned > 0:
            return ItemStatus.RETURNED
        if self.net_ordered == 0:
            return ItemStatus.CANCELED
        if self.fulfilled >= self.net_ordered:
            return ItemStatus.FULFILLED
        if self.fulfilled > 0:
            return ItemStatus.PARTIALLY_FULFILLED
        if self.allocated >= self.net_ordered:
            return ItemStatus.ALLOCATED
        if self.allocated > 0:
            return ItemStatus.PARTIALLY_ALLOCATED
        return ItemStatus.ORDERED

    # Operations. Each checks its own precondition so the error names the action.
    def add(self, quantity: int) -> ItemQuantities:
        return replace(self, ordered=self.ordered + _positive(quantity))

    def allocate(self, quantity: int) -> ItemQuantities:
        _within(quantity, self.available_to_fulfill, "allocate", "available to fulfill")
        return replace(self, allocated=self.allocated + quantity)

    def deallocate(self, quantity: int) -> ItemQuantities:
        _within(quantity, self.allocated - self.fulfilled, "deallocate", "allocated, unshipped")
        return replace(self, allocated=self.allocated - quantity)

    def cancel(self, quantity: int) -> ItemQuantities:
        _within(quantity, self.available_to_cancel, "cancel", "available to cancel")
        return replace(self, canceled=self.canceled + quantity)

    def fulfill(self, quantity: int) -> ItemQuantities:
        _within(quantity, self.allocated - self.fulfilled, "fulfill", "allocated, unshipped")
        return replace(self, fulfilled=self.fulfilled + quantity)

    def initiate_return(self, quantity: int) -> ItemQuantities:
        _within(quantity, self.available_to_return, "return", "shipped and not yet returned")
        return replace(self, return_initiated=self.return_initiated + quantity)

    def cancel_return(self, quantity: int) -> ItemQuantities:
        _within(quantity, self.return_initiated - self.returned, "un-return", "return initiated")
        return replace(self, return_initiated=self.return_initiated - quantity)

    def receive_return(self, quantity: int) -> ItemQuantities:
        _within(quantity, self.return_initiated - self.returned, "receive", "return initiated")
        return replace(self, returned=self.returned + quantity)

    def reship(self, quantity: int) -> ItemQuantities:
        _within(quantity, self.available_to_reship, "reship", "available to reship")
        return replace(self, reshipped=self.reshipped + quantity)


def _positive(quantity: int) -> int:
    return check_line_quantity(quantity)


def _within(quantity: int, limit: int, action: str, what: str) -> None:
    _positive(quantity)
    if quantity > limit:
        raise QuantityInvariantViolated(
            f"cannot {action} {quantity}: only {limit} {what}",
            requested=quantity,
            available=limit,
        )
