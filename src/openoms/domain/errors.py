"""One error hierarchy. Every domain error has a stable code and a 4xx HTTP status.

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


class QuantityInvalid(ValidationFailed):
    code = "quantity_invalid"
    title = "Quantity is not valid"


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
    code = "idempotency_key_missing"
    title = "Idempotency key is required"


class ApiKeyInvalid(ValidationFailed):
    code = "api_key_invalid"
    title = "API key is not valid"


class ApiKeyNotFound(NotFound):
    code = "api_key_not_found"
    title = "API key not found"
