"""Orders: capture (an order and its summary in one transaction, with its stock held),
bulk capture (up to 100 orders in one transaction, `bulk.py`), channels and their
policies, change orders, holds (`holds.py`: routing waits while one is active), the order
summary's lock, quantities and derived status (`summary.py`), the authorization gate
capture queues, and the order file import.

This is the area's face: other areas, the API, the CLI and the worker import only these
names.
"""

from openoms.services.orders.authorization_gate import (
    VERIFY_JOB,
    routing_gate_key,
)
from openoms.services.orders.automation_gate import (
    AUTOMATION_GATE_JOB,
    automation_gate_key,
    routing_gates,
)
from openoms.services.orders.bulk import (
    MAX_BATCH,
    BatchRejected,
    BatchRow,
    BatchTooLarge,
    ErrorPolicy,
    RowError,
    RowOutcome,
    RowStatus,
    capture_batch,
    check_batch_size,
    row_path,
)
from openoms.services.orders.capture import (
    CapturedRows,
    CaptureResult,
    capture_order,
)
from openoms.services.orders.capture_placement import shipping_cost
from openoms.services.orders.capture_routing import (
    ROUTE_ORDER_JOB,
    queue_order_routing,
    release_order_routing,
    route_order_job_key,
)
from openoms.services.orders.capture_stock import (
    SYSTEM_OWNER,
    group_reservation_key,
)
from openoms.services.orders.change_orders import (
    ItemLine,
    RecordedChange,
    billed_amounts,
    item_money,
    named_item,
    product_lines,
    record_change,
)
from openoms.services.orders.channels import (
    CapturePolicy,
    ChannelData,
    ChannelPolicy,
    RoutingStrategy,
    ShortagePolicy,
    channel_policy,
    configured_channel,
    known_channels,
    list_channels,
    policy_of,
    threshold_strings,
    unknown_channel,
    upsert_channel,
)
from openoms.services.orders.holds import (
    hold_view,
    is_held,
    place_hold,
    release_hold,
    resume_job_key,
)
from openoms.services.orders.imports import (
    ImportReport,
    OrderFileLine,
    import_orders,
)
from openoms.services.orders.order_notes import (
    RoutingStrategyUnknown,
    add_note,
    routing_strategy,
    set_routing_strategy,
)
from openoms.services.orders.summary import (
    item_quantities,
    locked_summary,
    refresh_summary_status,
)

__all__ = [
    "AUTOMATION_GATE_JOB",
    "MAX_BATCH",
    "ROUTE_ORDER_JOB",
    "SYSTEM_OWNER",
    "VERIFY_JOB",
    "BatchRejected",
    "BatchRow",
    "BatchTooLarge",
    "CapturePolicy",
    "CaptureResult",
    "CapturedRows",
    "ChannelData",
    "ChannelPolicy",
    "ErrorPolicy",
    "ImportReport",
    "ItemLine",
    "OrderFileLine",
    "RecordedChange",
    "RoutingStrategy",
    "RoutingStrategyUnknown",
    "RowError",
    "RowOutcome",
    "RowStatus",
    "ShortagePolicy",
    "add_note",
    "automation_gate_key",
    "billed_amounts",
    "capture_batch",
    "capture_order",
    "channel_policy",
    "check_batch_size",
    "configured_channel",
    "group_reservation_key",
    "hold_view",
    "import_orders",
    "is_held",
    "item_money",
    "item_quantities",
    "known_channels",
    "list_channels",
    "locked_summary",
    "named_item",
    "place_hold",
    "policy_of",
    "product_lines",
    "queue_order_routing",
    "record_change",
    "refresh_summary_status",
    "release_hold",
    "release_order_routing",
    "resume_job_key",
    "route_order_job_key",
    "routing_gate_key",
    "routing_gates",
    "routing_strategy",
    "row_path",
    "set_routing_strategy",
    "shipping_cost",
    "threshold_strings",
    "unknown_channel",
    "upsert_channel",
]
