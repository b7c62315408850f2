"""Service actions an agent runs on an order: cancel, adjust (discounts), reship and
exchange — each previewable, each recorded as change orders with their money.

This is the area's face: other areas, the API, the CLI and the worker import only these
names.
"""

from openoms.services.service_actions.adjustments import (
    AdjustItems,
    Discount,
    ItemAdjustment,
    discount_amounts,
    submit_adjustments,
)
from openoms.services.service_actions.cancels import (
    CancelItems,
    ItemCancel,
    cancel_open_units,
    cancel_with_messages,
)
from openoms.services.service_actions.exchanges import (
    ExchangeReturn,
    NewItem,
    SubmittedExchange,
    submit_exchange,
)
from openoms.services.service_actions.reship_keys import (
    RESHIP_JOB,
)
from openoms.services.service_actions.reship_reroutes import (
    reship_consumers,
)
from openoms.services.service_actions.reship_routing import (
    reship_job_kind,
)
from openoms.services.service_actions.reships import (
    ReshipReason,
    ReshipRequest,
    SubmittedReship,
    reship_line_out,
    submit_reship,
)

__all__ = [
    "RESHIP_JOB",
    "AdjustItems",
    "CancelItems",
    "Discount",
    "ExchangeReturn",
    "ItemAdjustment",
    "ItemCancel",
    "NewItem",
    "ReshipReason",
    "ReshipRequest",
    "SubmittedExchange",
    "SubmittedReship",
    "cancel_open_units",
    "cancel_with_messages",
    "discount_amounts",
    "reship_consumers",
    "reship_job_kind",
    "reship_line_out",
    "submit_adjustments",
    "submit_exchange",
    "submit_reship",
]
