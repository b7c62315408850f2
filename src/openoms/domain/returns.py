"""The return order (RMA) lifecycle (DESIGN.md §4): one transition table, line counters and
the refund-eligibility rule. Pure: no session, no clock.

    DRAFT ─► SUBMITTED ─► APPROVED ─► IN_TRANSIT ─► RECEIVED ─► CLOSED
      └──────────┴────────────┴────────────┴──► CANCELED   (only while nothing was received)

- DRAFT holds nothing; SUBMITTED holds the units (the items' quantity_return_initiated).
- Units are received from APPROVED or IN_TRANSIT. A partial receipt leaves (or puts) the
  return IN_TRANSIT; it becomes RECEIVED once every expected unit is received or canceled.
  APPROVED → RECEIVED directly is a receipt of everything at once.
- Canceling units that are still expected gives them back; a return with received units
  never becomes CANCELED (its received units stand): canceling the rest of it makes it
  RECEIVED instead.
- Refunds are made when the return reaches its refund-eligible status (channel policy,
  RECEIVED by default): at SUBMITTED, APPROVED or IN_TRANSIT for the units expected back,
  at RECEIVED or CLOSED for the units received. A unit is credited once
  (`quantity_credited`), and a credited unit can no longer be canceled.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum

from openoms.domain.errors import IllegalTransition, QuantityInvalid, QuantityInvariantViolated


class ReturnOrderStatus(StrEnum):
    DRAFT = "DRAFT"
    SUBMITTED = "SUBMITTED"
    APPROVED = "APPROVED"
    IN_TRANSIT = "IN_TRANSIT"
    RECEIVED = "RECEIVED"
    CLOSED = "CLOSED"
    CANCELED = "CANCELED"


class ReturnCondition(StrEnum):
    NEW = "new"
    OPENED = "opened"
    DAMAGED = "damaged"


class ReturnDisposition(StrEnum):
    RESTOCK = "restock"  # back on hand at the receiving location
    DAMAGED = "damaged"  # written off: no stock
    DISCARD = "discard"  # written off: no stock


_S = ReturnOrderStatus

RETURN_ORDER_TRANSITIONS: dict[ReturnOrderStatus, frozenset[ReturnOrderStatus]] = {
    _S.DRAFT: frozenset({_S.SUBMITTED, _S.CANCELED}),
    _S.SUBMITTED: frozenset({_S.APPROVED, _S.CANCELED}),
    _S.APPROVED: frozenset({_S.IN_TRANSIT, _S.RECEIVED, _S.CANCELED}),
    _S.IN_TRANSIT: frozenset({_S.RECEIVED, _S.CANCELED}),
    _S.RECEIVED: frozenset({_S.CLOSED}),
    _S.CLOSED: frozenset(),
    _S.CANCELED: frozenset(),
}

# The road a return travels; a status "reached" another when it is at or past it on it.
PATH = (_S.DRAFT, _S.SUBMITTED, _S.APPROVED, _S.IN_TRANSIT, _S.RECEIVED, _S.CLOSED)
REFUND_ELIGIBLE_STATUSES = frozenset(PATH[1:])
RECEIVABLE = frozenset({_S.APPROVED, _S.IN_TRANSIT})
HOLDING = frozenset({_S.SUBMITTED, _S.APPROVED, _S.IN_TRANSIT})  # units are return-initiated
OPEN = frozenset({_S.DRAFT, *HOLDING})


def check_return_transition(current: ReturnOrderStatus, target: ReturnOrderStatus) -> None:
    """IllegalTransition (409) naming both statuses and the allowed moves."""
    allowed = RETURN_ORDER_TRANSITIONS[current]
    if target not in allowed:
        names = ", ".join(s.value for s in (*PATH, _S.CANCELED) if s in allowed) or "none"
        raise IllegalTransition(
            f"a return order that is {current.value} cannot become {target.value} "
            f"(allowed from {current.value}: {names})",
            current=current.value,
            target=target.value,
            allowed=sorted(s.value for s in allowed),
        )


def reached(status: ReturnOrderStatus, eligible: ReturnOrderStatus) -> bool:
    """Whether a return in `status` is at or past `eligible` (never when CANCELED)."""
    if status is _S.CANCELED or eligible is _S.CANCELED:
        return False
    return PATH.index(status) >= PATH.index(eligible)


@dataclass(frozen=True, slots=True)
class ReturnLine:
    """The counters of one return order line."""

    expected: int
    received: int = 0
    canceled: int = 0
    credited: int = 0

    def __post_init__(self) -> None:
        if min(self.expected, self.received, self.canceled, self.credited) < 0:
            raise QuantityInvariantViolated("return line quantities cannot be negative")
        if self.received + self.canceled > self.expected:
            raise QuantityInvariantViolated(
                f"received ({self.received}) + canceled ({self.canceled}) exceed expected "
                f"({self.expected})"
            )

    @property
    def outstanding(self) -> int:
        """Units still expected back."""
        return self.expected - self.received - self.canceled

    @property
    def cancelable(self) -> int:
        """Units still expected back and not credited yet (a credited unit stands)."""
        return self.expected - self.canceled - max(self.received, self.credited)

    def receive(self, units: int) -> ReturnLine:
        _positive(units)
        if units > self.outstanding:
            raise QuantityInvariantViolated(
                f"cannot receive {units}: only {self.outstanding} of {self.expected} still "
                "expected on this return line",
                requested=units,
                available=self.outstanding,
            )
        return replace(self, received=self.received + units)

    def cancel(self, units: int) -> ReturnLine:
        _positive(units)
        if units > self.cancelable:
            raise QuantityInvariantViolated(
                f"cannot cancel {units}: only {self.cancelable} of {self.expected} are still "
                f"expected and not refunded ({self.received} received, {self.credited} "
                "refunded)",
                requested=units,
                available=self.cancelable,
            )
        return replace(self, canceled=self.canceled + units)

    def due(self, status: ReturnOrderStatus, eligible: ReturnOrderStatus) -> int:
        """Units to credit now: none before the refund-eligible status; from then on the
        units received (eligible RECEIVED or CLOSED) or expected back (an earlier status),
        less those credited already."""
        if not reached(status, eligible):
            return 0
        if eligible in (_S.RECEIVED, _S.CLOSED):
            return max(self.received - self.credited, 0)
        return max(self.expected - self.canceled - self.credited, 0)


def status_after_receipt(lines: list[ReturnLine]) -> ReturnOrderStatus:
    """RECEIVED when nothing is expected any more, else IN_TRANSIT."""
    return _S.RECEIVED if all(line.outstanding == 0 for line in lines) else _S.IN_TRANSIT


def status_after_cancel(current: ReturnOrderStatus, lines: list[ReturnLine]) -> ReturnOrderStatus:
    """After units were canceled: CANCELED when nothing is expected and nothing was ever
    received, RECEIVED when nothing is expected but some units arrived, else unchanged."""
    if any(line.outstanding for line in lines):
        return current
    return _S.RECEIVED if any(line.received for line in lines) else _S.CANCELED


def _positive(units: int) -> None:
    if units <= 0:
        raise QuantityInvalid(f"quantity must be a positive whole number, got {units}")
