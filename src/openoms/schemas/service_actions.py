"""Payloads and answers of the service actions on an order summary (DESIGN.md §9, §12):
cancel, return, discount, reship, exchange. Structure is checked here (422); whether the
quantities and amounts are allowed is the domain's business (409/400 with a stable code)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from openoms.schemas.common import Identifier, Payload, Quantity
from openoms.services.service_actions import AdjustItems, CancelItems, ItemAdjustment, ItemCancel


class ItemChangeIn(Payload):
    order_item_summary_id: Identifier = Field(min_length=1, max_length=40)
    quantity: Quantity = Field(description="Units, a positive whole number.")
    reason: str | None = Field(default=None, max_length=500)


class ItemsActionIn(Payload):
    """Items and quantities for a cancel or a return."""

    items: list[ItemChangeIn] = Field(min_length=1, max_length=500)
    reason: str | None = Field(default=None, max_length=500)
    refund_shipping: bool = Field(
        default=False,
        description="Cancel: also give back the delivery charge of each delivery group left "
        "with nothing to ship. Return: also refund the delivery charge of each group whose "
        "every unit comes back.",
    )

    def to_cancel(self) -> CancelItems:
        """The cancel these items and quantities ask for."""
        return CancelItems(
            tuple(ItemCancel(i.order_item_summary_id, i.quantity, i.reason) for i in self.items),
            self.reason,
            self.refund_shipping,
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
    to_refund: str = Field(
        description="What will be refunded because of this action, as the ensure-refunds "
        "job pays it: its credit memos' amounts and any money now held beyond what the order "
        "owes (excess funds, e.g. captured at order for units now canceled), as far as "
        "captured payments cover them."
    )
    messages: list[str] = Field(default_factory=list)
    order_summary: dict[str, Any]


# --- discounts (adjust-item-preview / adjust-item-submit) ---------------------------------


class ItemAdjustmentIn(Payload):
    """One discount on one item (product or delivery charge), as Salesforce's
    adjustItemSubmit: a percentage of the item's current net price, or an amount."""

    order_item_summary_id: Identifier = Field(min_length=1, max_length=40)
    type: Literal["percentage", "amount_with_tax", "amount_without_tax"] = Field(
        description="percentage: `amount` percent off the item's net price (total price + "
        "adjustments), its tax lowered in proportion. amount_with_tax: `amount` includes tax, "
        "split by the item's tax rate. amount_without_tax: `amount` is the net discount, the "
        "tax lowered in proportion."
    )
    amount: str = Field(
        max_length=40,
        description='A decimal string. percentage: in (0, 100], e.g. "10" for 10% off; '
        'amounts: negative, in the order\'s currency, e.g. "-5.00".',
        examples=["10", "-5.00"],
    )
    reason: str | None = Field(default=None, max_length=500)


class AdjustItemsIn(Payload):
    """Discounts (goodwill, appeasement) on items of an order summary."""

    items: list[ItemAdjustmentIn] = Field(min_length=1, max_length=500)
    reason: str | None = Field(default=None, max_length=500)

    def to_adjustments(self) -> AdjustItems:
        """The discounts this payload asks for."""
        return AdjustItems(
            tuple(
                ItemAdjustment(i.order_item_summary_id, i.type, i.amount, i.reason)
                for i in self.items
            ),
            self.reason,
        )
