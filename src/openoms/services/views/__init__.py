"""The views area: the names other areas, the API and the worker may use."""

from openoms.services.views.actions import (
    action_result,
    exchange_result,
    refund_baseline,
    reship_result,
)
from openoms.services.views.order_summary import (
    order_summary_view,
    summary_brief,
)
from openoms.services.views.returns import (
    get_return_order,
    list_return_orders,
)

__all__ = [
    "action_result",
    "exchange_result",
    "get_return_order",
    "list_return_orders",
    "order_summary_view",
    "refund_baseline",
    "reship_result",
    "summary_brief",
]
