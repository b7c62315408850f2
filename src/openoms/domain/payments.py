"""Payment balances of one OrderPaymentSummary (DESIGN.md §3 Amounts), in minor units."""

from __future__ import annotations

from dataclasses import dataclass


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
