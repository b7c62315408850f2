"""Payloads and answers of the service actions on an order summary (DESIGN.md §9, §12):
cancel, return, discount, reship, exchange. Structure is checked here (422); whether the
quantities and amounts are allowed is the domain's business (409/400 with a stable code)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class ItemChangeIn(_Strict):
    order_item_summary_id: str = Field(min_length=1, max_length=40)
    quantity: int = Field(description="Units, a positive whole number.")
    reason: str | None = Field(default=None, max_length=500)


class ItemsActionIn(_Strict):
    """Items and quantities for a cancel or a return."""

    items: list[ItemChangeIn] = Field(min_length=1, max_length=500)
    reason: str | None = Field(default=None, max_length=500)
    refund_shipping: bool = Field(
        default=False,
        description="Cancel: also give back the delivery charge of each delivery group left "
        "with nothing to ship. Return: also refund the delivery charge of each group whose "
        "every unit comes back.",
    )


class ChangeOrderOut(BaseModel):
    id: str | None = Field(description="Null in a preview.")
    kind: str = Field(description="cancel, return, adjust or add.")
    stage: str | None = Field(
        default=None, description="Discounts: pre_fulfillment, in_fulfillment, post_fulfillment."
    )
    reason: str | None
    grand_total: str = Field(description="Signed: negative when the order is worth less.")
    lines: list[dict[str, Any]]
    credit_memo_id: str | None
    credited: str = Field(description="Owed back of what was already invoiced (refunded).")


class ServiceActionOut(BaseModel):
    """What the action did (submit) or would do (preview): its change orders, the money
    owed back, and the order summary after it."""

    order_summary_id: str
    preview: bool
    change_orders: list[ChangeOrderOut]
    to_refund: str = Field(description="What the credit memos of this action owe back.")
    messages: list[str] = Field(default_factory=list)
    order_summary: dict[str, Any]
