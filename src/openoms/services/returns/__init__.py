"""Returns: return orders (RMAs) — create, submit, approve, receive with inspection,
close, cancel — and the credit (and return fee) they give once refund-eligible.

This is the area's face: other areas, the API, the CLI and the worker import only these
names.
"""

from openoms.services.returns.cancel import (
    cancel_return_order,
)
from openoms.services.returns.checks import (
    check_available,
    check_lines,
)
from openoms.services.returns.common import (
    ReturnOutcome,
    location_refs,
)
from openoms.services.returns.lifecycle import (
    ReturnLineRequest,
    create_return_order,
    submit_return_order,
)
from openoms.services.returns.moves import (
    approve_return_order,
    close_return_order,
    mark_return_in_transit,
    receive,
)
from openoms.services.returns.receipts import (
    ReceiptRequest,
)
from openoms.services.returns.simple import (
    SimpleReturnLine,
    submit_return,
)

__all__ = [
    "ReceiptRequest",
    "ReturnLineRequest",
    "ReturnOutcome",
    "SimpleReturnLine",
    "approve_return_order",
    "cancel_return_order",
    "check_available",
    "check_lines",
    "close_return_order",
    "create_return_order",
    "location_refs",
    "mark_return_in_transit",
    "receive",
    "submit_return",
    "submit_return_order",
]
