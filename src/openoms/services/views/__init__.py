"""Views: the read models the API and the console answer with — the order summary, return
orders, the operations dashboard's figures (`dashboard.py`), and the answers of service
actions (`actions.py`).

This is the area's face: other areas, the API, the CLI and the worker import only these
names.
"""

from openoms.services.views.actions import (
    action_result,
    exchange_result,
    refund_baseline,
    reship_result,
)
from openoms.services.views.dashboard import (
    Dashboard,
    DashboardPeriodInvalid,
    DashboardQuery,
    dashboard_channels,
    dashboard_figures,
)
from openoms.services.views.inventory import known_skus, sku_availability, sku_reservations
from openoms.services.views.order_list import (
    OrderSearch,
    payment_status,
    search_orders,
)
from openoms.services.views.order_summary import (
    captured_order_view,
    order_summary_view,
    summary_brief,
)
from openoms.services.views.returns import (
    get_return_order,
    list_return_orders,
)

__all__ = [
    "Dashboard",
    "DashboardPeriodInvalid",
    "DashboardQuery",
    "OrderSearch",
    "action_result",
    "captured_order_view",
    "dashboard_channels",
    "dashboard_figures",
    "exchange_result",
    "get_return_order",
    "known_skus",
    "list_return_orders",
    "order_summary_view",
    "payment_status",
    "refund_baseline",
    "reship_result",
    "search_orders",
    "sku_availability",
    "sku_reservations",
    "summary_brief",
]
