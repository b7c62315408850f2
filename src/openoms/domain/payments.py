"""Payment balances of one OrderPaymentSummary (DESIGN.md §3 Amounts) and the plan that
covers an invoice from them (§7), in minor units. Pure: values in, values out."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum


@dataclass(frozen=True, slots=True)
class PaymentBalance:
    authorized: int
    captured: int = 0
    refunded: int = 0
    reversed: int = 0
    pending_capture: int = 0
    pending_refund: int = 0

    @property
    def available_to_capture(self) -> int:
        return max(self.authorized - (self.captured + self.pending_capture + self.reversed), 0)

    @property
    def available_to_refund(self) -> int:
        return max(self.captured + self.pending_capture - (self.refunded + self.pending_refund), 0)


# --- ensure funds: which authorizations pay an invoice (DESIGN.md §7) ---------------------


@dataclass(frozen=True, slots=True)
class PlannedCapture:
    authorization_id: str
    amount: int


@dataclass(frozen=True, slots=True)
class CapturePlan:
    """How an amount is covered: `from_excess` of funds already captured and not yet applied,
    then `captures` against authorizations; `shortfall` is what nothing covers."""

    amount: int
    from_excess: int
    captures: tuple[PlannedCapture, ...]
    shortfall: int

    @property
    def to_capture(self) -> int:
        return sum(c.amount for c in self.captures)


def plan_captures(
    amount: int, excess_captured: int, authorizations: Sequence[tuple[str, int]]
) -> CapturePlan:
    """Cover `amount`: excess first, then an authorization whose available equals what is
    left, else the one with most available (earliest on ties), repeating until covered.
    Never plans more than an authorization has available; ids must be distinct."""
    if amount < 0 or excess_captured < 0:
        raise ValueError("amount and excess must not be negative")
    from_excess = min(excess_captured, amount)
    left = amount - from_excess
    open_ = [(auth_id, available) for auth_id, available in authorizations if available > 0]
    captures: list[PlannedCapture] = []
    while left > 0 and open_:
        chosen = next((a for a in open_ if a[1] == left), None)
        if chosen is None:
            chosen = max(open_, key=lambda a: a[1])  # max keeps the first of equals
        open_.remove(chosen)
        take = min(chosen[1], left)
        captures.append(PlannedCapture(chosen[0], take))
        left -= take
    return CapturePlan(amount, from_excess, tuple(captures), left)


class PaymentStatus(StrEnum):
    """A capture (Payment) or refund: PENDING until the gateway's answer is recorded."""

    PENDING = "PENDING"
    PROCESSED = "PROCESSED"
    FAILED = "FAILED"


class AuthorizationStatus(StrEnum):
    # Recorded at capture without a gateway reference: openoms must authorize it first
    # (`authorize_payments`); not yet counted in the payment summary's `authorized`.
    PENDING = "PENDING"
    AUTHORIZED = "AUTHORIZED"
    DECLINED = "DECLINED"  # the gateway refused for good: a person must act


# --- agent refunds and reversals ------------------------------------------------------------

# An agent's refund (no credit memo) is told apart from a memo's or an excess-funds refund by
# its gateway idempotency key: `refund:agent:{payment_id}:{n}`, n counting that payment's
# earlier agent refunds. Reconciliation reports these as refunded without a credit memo.
AGENT_REFUND_KEY_PREFIX = "refund:agent:"


def agent_refund_key(payment_id: str, n: int) -> str:
    return f"{AGENT_REFUND_KEY_PREFIX}{payment_id}:{n}"


def reversal_key(authorization_id: str, n: int) -> str:
    """`reverse:{authorization_id}:{n}`: n moves on after each final answer (approved or
    refused); an unknown answer keeps its key (and its amount) for the retry."""
    return f"reverse:{authorization_id}:{n}"


@dataclass(frozen=True, slots=True)
class ItemProgress:
    """A product item summary's counters that say whether anything is left to ship."""

    ordered: int
    canceled: int
    allocated: int
    fulfilled: int

    @property
    def done(self) -> bool:
        # available_to_fulfill == 0 and everything allocated has shipped
        return (
            self.ordered - self.canceled - self.allocated == 0 and self.allocated == self.fulfilled
        )


def order_settled(
    items: Sequence[ItemProgress], invoices_paid: Sequence[bool], uninvoiced_shipments: int
) -> bool:
    """Nothing is left to ship, every shipment is invoiced and every invoice is PAID: no
    capture can come any more, so what is still authorized may be released."""
    return all(item.done for item in items) and all(invoices_paid) and uninvoiced_shipments == 0


def plan_reversals(left: Sequence[tuple[str, int]], available: int) -> tuple[tuple[str, int], ...]:
    """(authorization id, amount) to reverse: what is left on each authorization (its
    amount less captured, pending and reversed), in order, never more in all than the
    payment summary's `available` to capture."""
    plan: list[tuple[str, int]] = []
    for auth_id, amount in left:
        take = min(max(amount, 0), available)
        if take > 0:
            plan.append((auth_id, take))
            available -= take
    return tuple(plan)
