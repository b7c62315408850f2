"""The events of payments and refunds: payload models and declarations."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from openoms.schemas.events.base import Amount, EventPayload, EventType, MinorUnits


class PaymentAuthorized(EventPayload):
    order_summary_id: str
    payment_authorization_id: str
    order_payment_summary_id: str
    requested: Amount
    amount: Amount = Field(description="What the gateway authorized (may be less).")
    currency: str


class PaymentCaptured(EventPayload):
    order_summary_id: str
    payment_id: str
    order_payment_summary_id: str
    invoice_id: str | None
    amount: Amount
    currency: str
    gateway_reference: str | None


class PaymentAuthorizationReversed(EventPayload):
    order_summary_id: str
    payment_authorization_id: str
    order_payment_summary_id: str
    amount: Amount
    currency: str
    gateway_reference: str | None


class VerifiedAuthorization(EventPayload):
    gateway: str
    reference: str
    amount: Amount
    currency: str


class PaymentAuthorizationsVerified(EventPayload):
    order_summary_id: str
    authorizations: list[VerifiedAuthorization]


class RefundPayload(EventPayload):
    refund_id: str
    order_summary_id: str
    order_payment_summary_id: str
    payment_id: str
    credit_memo_id: str | None
    amount: MinorUnits
    status: str


class RefundRequested(RefundPayload):
    kind: Literal["agent"] | None = Field(default=None, description="Only for an agent's refund.")
    reason: str | None = Field(default=None, description="Only for an agent's refund.")
    requested_by: str | None = Field(
        default=None,
        description="An agent's refund: who asked (`api_key:<id>`, or `user:<email>` from the "
        "console).",
    )


class RefundFailed(RefundPayload):
    reason: str = Field(description="The gateway's message.")


TYPES: tuple[EventType, ...] = (
    EventType(
        "payment.authorization_reversed",
        "payment",
        PaymentAuthorizationReversed,
        "The gateway reversed (voided) an authorization no longer needed.",
    ),
    EventType(
        "payment.authorizations_verified",
        "order_summary",
        PaymentAuthorizationsVerified,
        "The authorizations reported at capture were verified with their gateways; "
        "the order may be routed.",
    ),
    EventType(
        "payment.authorized",
        "payment",
        PaymentAuthorized,
        "A gateway authorized a payment that was pending at capture.",
    ),
    EventType(
        "payment.captured",
        "payment",
        PaymentCaptured,
        "A gateway captured funds (for an invoice, on order, or an agent's capture).",
    ),
    EventType(
        "refund.failed",
        "refund",
        RefundFailed,
        "A gateway refused a refund for good.",
    ),
    EventType(
        "refund.processed",
        "refund",
        RefundPayload,
        "A gateway refunded the money.",
    ),
    EventType(
        "refund.requested",
        "refund",
        RefundRequested,
        "A refund was queued for a gateway (owed by a credit memo, excess funds, "
        "or an agent's refund).",
    ),
)
