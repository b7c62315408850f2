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


# --- an order's funds: excess for invoices, excess to refund, what to capture on order -----


@dataclass(frozen=True, slots=True)
class ItemBilling:
    """One item summary as `still_to_invoice` sees it: `total` its running amounts (price +
    adjustments + tax), `billed` what invoices took of it less its change orders' credits,
    `net_units` ordered − canceled, `invoiced_units` units invoiced so far."""

    group: str
    is_charge: bool
    net_units: int
    invoiced_units: int
    total: int
    billed: int


def still_to_invoice(items: Sequence[ItemBilling]) -> int:
    """What later shipment invoices will bill: each product's unbilled amount while it has
    units not invoiced yet, and a delivery charge not billed yet (and not canceled) while a
    product of its group has such units (a charge goes on its group's first invoice)."""
    open_groups = set()
    total = 0
    for item in items:
        if not item.is_charge and item.net_units > item.invoiced_units:
            open_groups.add(item.group)
            total += max(item.total - item.billed, 0)
    for item in items:
        if item.is_charge and item.invoiced_units == 0 and item.net_units > 0:
            total += max(item.total - item.billed, 0) if item.group in open_groups else 0
    return total


@dataclass(frozen=True, slots=True)
class OrderFunds:
    """An order's money (minor units) as ensure funds and ensure refunds see it.

    `held`: captured − refunded − pending refunds over its payment methods; `invoiced` /
    `credited`: Σ invoice / credit memo grand totals, `invoice_balances` / `credit_balances`:
    what of them is still open; `to_invoice`: `still_to_invoice`."""

    held: int
    pending_capture: int = 0
    invoiced: int = 0
    invoice_balances: int = 0
    credited: int = 0
    credit_balances: int = 0
    to_invoice: int = 0

    @property
    def excess(self) -> int:
        """Held money no invoice has taken, for ensure funds to apply first. What invoices
        took of held money is what they were paid less what memos gave back of it: a memo's
        grand total − balance is either applied to an invoice (an exchange's credit, a return
        fee: it paid that invoice, not captured money) or refunded (it left `held`)."""
        paid = self.invoiced - self.invoice_balances
        given_back = self.credited - self.credit_balances
        return max(self.held - (paid - given_back), 0)

    @property
    def owed(self) -> int:
        """What the customer owes in all as the order stands: invoiced − credited, plus what
        is still to be invoiced."""
        return self.invoiced - self.credited + self.to_invoice

    @property
    def refundable(self) -> int:
        """Excess to refund now: held beyond what is owed and beyond the open memo balances
        (refunded as memos, or applied to an exchange's invoice; never again as excess)."""
        return max(self.held - self.owed - self.credit_balances, 0)

    @property
    def capture_due(self) -> int:
        """What a capture on order still has to take for held funds to cover what is owed
        (captures in flight count as taken)."""
        return max(self.owed - self.held - self.pending_capture, 0)


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


# Money a channel's platform moved itself (a Shopify order paid at checkout, a refund made
# in Shopify) is recorded, never sent: a capture keyed `capture:external:{authorization_id}`
# and refunds keyed `refund:external:{source}:{payment_id}`, `source` naming the platform's
# refund (e.g. `shopify-us:shopify-refund:509562969`), so a replay finds them recorded.
# Reconciliation reports external refunds as refunded without a credit memo, like an agent's.
EXTERNAL_CAPTURE_KEY_PREFIX = "capture:external:"
EXTERNAL_REFUND_KEY_PREFIX = "refund:external:"


def external_refund_key(source: str, payment_id: str) -> str:
    return f"{EXTERNAL_REFUND_KEY_PREFIX}{source}:{payment_id}"


# A capture on order (channel capture_policy "on_order") takes the order's total as soon as
# it is authorized, outside any invoice, keyed per order summary and payment summary:
# `capture:order:{order_summary_id}:{payment_summary_id}:{n}`, n counting that pair's earlier
# captures (a refused one is final for its key; an unknown
# answer keeps its key and is sent again).
ORDER_CAPTURE_KEY_PREFIX = "capture:order:"


def order_capture_key(order_summary_id: str, payment_summary_id: str, n: int) -> str:
    return f"{ORDER_CAPTURE_KEY_PREFIX}{order_summary_id}:{payment_summary_id}:{n}"


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
