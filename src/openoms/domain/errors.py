"""One error hierarchy. Every domain error has a stable code and a 4xx HTTP status, except
`TemporarilyUnavailable` (503: nothing was done, and the same request may be sent again).

The API turns these into problem+json; the CLI prints `code: detail`. Codes are part of the
public contract: never rename one, add a new class instead.
"""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    code: str = "domain_error"
    status: int = 400
    title: str = "Request violates a business rule"

    def __init__(self, detail: str, *, field: str | None = None, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.field = field
        self.extra = extra


class TemporarilyUnavailable(DomainError):
    """The request could not be carried out now and nothing of it was stored; sending it
    again (with the same Idempotency-Key) is safe."""

    code = "temporarily_unavailable"
    status = 503
    title = "Temporarily unavailable"


class ValidationFailed(DomainError):
    """Input that is well-formed JSON but breaks an order rule."""

    code = "validation_failed"
    status = 400
    title = "Input is invalid"


class CurrencyUnknown(ValidationFailed):
    code = "currency_unknown"
    title = "Unknown currency"


class CurrencyMismatch(ValidationFailed):
    code = "currency_mismatch"
    title = "Currencies do not match"


class AmountInvalid(ValidationFailed):
    code = "amount_invalid"
    title = "Amount is not valid"


class AmountTooLarge(AmountInvalid):
    """An amount, given or computed (a line total, an order total), with more integer
    digits than the API carries (15; 14 for the four-decimal currencies)."""

    code = "amount_too_large"
    title = "Amount is too large"


class QuantityInvalid(ValidationFailed):
    code = "quantity_invalid"
    title = "Quantity is not valid"


class QuantityTooLarge(QuantityInvalid):
    """More than 1,000,000 units on one line."""

    code = "quantity_too_large"
    title = "Quantity is too large"


class DeliveryGroupInvalid(ValidationFailed):
    code = "delivery_group_invalid"
    title = "Delivery group is not valid"


class TotalsMismatch(ValidationFailed):
    code = "totals_mismatch"
    title = "Prices do not add up"


class AdjustmentInvalid(ValidationFailed):
    code = "adjustment_invalid"
    title = "Adjustment is not valid"


class PaymentsInsufficient(ValidationFailed):
    code = "payments_insufficient"
    title = "Payments do not cover the order"


class NotFound(DomainError):
    code = "not_found"
    status = 404
    title = "Not found"


class OrderSummaryNotFound(NotFound):
    code = "order_summary_not_found"
    title = "Order summary not found"


class Conflict(DomainError):
    code = "conflict"
    status = 409
    title = "Conflicts with the current state"


class IdempotencyKeyReused(Conflict):
    code = "idempotency_key_reused"
    title = "Idempotency key was used for a different request"


class QuantityInvariantViolated(Conflict):
    code = "quantity_invariant_violated"
    title = "Quantities would become inconsistent"


class IllegalTransition(Conflict):
    code = "illegal_transition"
    title = "Status change is not allowed"


class HoldNotActive(Conflict):
    """A release named a hold that is not an active hold of that order (released already,
    of another order, unknown), or the order has no active hold to release."""

    code = "hold_not_active"
    title = "No such active hold"


class OrderNotHoldable(Conflict):
    """A hold on an order with nothing left to route (fulfilled, canceled or closed)."""

    code = "order_not_holdable"
    title = "The order cannot be held"


class HoldReasonRequired(ValidationFailed):
    code = "hold_reason_required"
    title = "A hold needs a reason"


class Unauthenticated(DomainError):
    code = "unauthenticated"
    status = 401
    title = "API key missing or invalid"


class Forbidden(DomainError):
    code = "forbidden"
    status = 403
    title = "API key lacks the scope for this action"


class IdempotencyKeyInvalid(DomainError):
    code = "idempotency_key_invalid"
    status = 400
    title = "Idempotency key is not valid"


class IdempotencyKeyMissing(IdempotencyKeyInvalid):
    """A POST that moves money or stock was sent without an `Idempotency-Key`."""

    code = "idempotency_key_required"
    title = "Idempotency key is required"


class ApiKeyInvalid(ValidationFailed):
    code = "api_key_invalid"
    title = "API key is not valid"


class ApiKeyNotFound(NotFound):
    code = "api_key_not_found"
    title = "API key not found"


class ProcessExceptionNotFound(NotFound):
    code = "process_exception_not_found"
    title = "Process exception not found"


class ProcessExceptionNotActive(Conflict):
    """Only an open (NEW, TRIAGED or PAUSED) exception can be retried."""

    code = "process_exception_not_active"
    title = "Process exception is closed"


class ProcessExceptionActionUnknown(Conflict):
    """The exception's action names no job this openoms knows how to run again."""

    code = "process_exception_action_unknown"
    title = "Process exception has no retryable action"


class RefundExceedsCaptured(Conflict):
    """More asked back than a payment summary has available to refund (captured + pending
    capture − refunded − pending refund), or than its settled captures hold."""

    code = "refund_exceeds_captured"
    title = "Refund exceeds what is captured"


class OrderItemSummaryUnknown(ValidationFailed):
    """A service action names an item that is not on the order summary."""

    code = "order_item_summary_unknown"
    title = "Order item summary is not on this order"


class CancelExceedsAvailable(Conflict):
    """More units asked to be canceled than are left unshipped (shipped units are returned,
    not canceled)."""

    code = "cancel_exceeds_available"
    title = "Cancel exceeds the units not yet shipped"


class DeliveryChargeCancelInvalid(ValidationFailed):
    """A delivery charge is canceled with `refund_shipping`, never named as an item."""

    code = "delivery_charge_cancel_invalid"
    title = "Delivery charges are canceled with refund_shipping"


class DiscountInvalid(ValidationFailed):
    """A discount that does not lower the price, or lowers it below zero."""

    code = "discount_invalid"
    title = "Discount is not valid"


class ReshipExceedsAvailable(Conflict):
    """More units asked to be reshipped than are available to reship (shipped, not being
    returned, not reshipped already)."""

    code = "reship_exceeds_available"
    title = "Reship exceeds the units available to reship"


class ReshipNotAllowed(Conflict):
    """The item or order cannot be reshipped at all (a delivery charge, an unmanaged order)."""

    code = "reship_not_allowed"
    title = "Reship is not allowed"


class ExchangeInvalid(ValidationFailed):
    """An exchange's new items cannot be placed as asked (unknown delivery group, …)."""

    code = "exchange_invalid"
    title = "Exchange is not valid"


class ReturnOrderNotFound(NotFound):
    code = "return_order_not_found"
    title = "Return order not found"


class ReturnExceedsAvailable(Conflict):
    """More units asked back than have shipped and are not already being returned."""

    code = "return_exceeds_available"
    title = "Return exceeds what is available to return"


class ReturnItemNotReturnable(ValidationFailed):
    """An item that cannot go on a return: a delivery charge, or an item of another order."""

    code = "return_item_not_returnable"
    title = "Item cannot be returned"


class ReturnLocationRequired(ValidationFailed):
    """Restocked units need a location: the receipt's, or the return's expected one."""

    code = "return_location_required"
    title = "Return location is required"


class ChannelUnknown(ValidationFailed):
    """An order (or an API key binding) names a channel nobody configured; `known` lists
    the configured ones."""

    code = "channel_unknown"
    title = "Channel is not configured"
