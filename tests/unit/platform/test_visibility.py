"""Which rows a key bound to channels can see: the classes the filter finds by their
`order_summary_id` column (adapters/db/visibility.py). A new table with that column is
filtered without anyone listing it; this test names them so the change is visible."""

from __future__ import annotations

from openoms.adapters.db.visibility import NO_ORDER_VISIBLE, owned_classes


def test_every_table_that_belongs_to_an_order_is_filtered() -> None:
    assert [cls.__name__ for cls in owned_classes()] == [
        "ChannelInboxDelivery",
        "CreditApplication",
        "CreditMemo",
        "Event",
        "FlowRun",
        "FulfillmentOrder",
        "Invoice",
        "Order",
        "OrderDeliveryGroupSummary",
        "OrderItemSummary",
        "OrderPaymentSummary",
        "OrderSummaryHold",
        "ProcessException",
        "Reservation",
        "ReturnOrder",
        "RoutingRunGroup",
        "Shipment",
        "WebhookDelivery",
    ]
    assert [cls.__name__ for cls in NO_ORDER_VISIBLE] == ["Reservation"]
