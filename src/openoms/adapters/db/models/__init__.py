"""SQLAlchemy 2 typed models, one module per area. Amounts are integer minor units beside a
currency column.

Relationships load explicitly (`lazy="raise"`): a repository says what it needs. Import
the models from here (`from openoms.adapters.db import models as m`).
"""

from openoms.adapters.db.models.access import ApiKey, IdempotencyRecord
from openoms.adapters.db.models.base import NAMING, Base, Money, UTCDateTime, utcnow
from openoms.adapters.db.models.channels import (
    ChannelAdapter,
    ChannelInboxDelivery,
    SandboxChannelCall,
)
from openoms.adapters.db.models.console import (
    ConsoleLoginFailure,
    ConsoleSecret,
    ConsoleSession,
    ConsoleUser,
)
from openoms.adapters.db.models.events import Event, EventDelivery, Job, OutboxSubscriptions
from openoms.adapters.db.models.exceptions import ProcessException
from openoms.adapters.db.models.finance import (
    CreditApplication,
    CreditMemo,
    CreditMemoLine,
    Invoice,
    InvoiceLine,
)
from openoms.adapters.db.models.flows import Flow, FlowRun, FlowVersion
from openoms.adapters.db.models.fulfillment import (
    FulfillmentOrder,
    FulfillmentOrderLineItem,
    Shipment,
    ShipmentItem,
)
from openoms.adapters.db.models.holds import OrderSummaryHold
from openoms.adapters.db.models.inventory import (
    Channel,
    InventoryImportRecord,
    InventoryRecord,
    Location,
    LocationGroup,
    LocationGroupMember,
    Reservation,
    ReservationLine,
)
from openoms.adapters.db.models.orders import (
    Order,
    OrderDeliveryGroupSummary,
    OrderItem,
    OrderItemSummary,
    OrderPaymentSummary,
    OrderSummary,
    PaymentAuthorization,
)
from openoms.adapters.db.models.payments import Payment, PaymentGatewayLog, Refund
from openoms.adapters.db.models.returns import ReturnOrder, ReturnOrderLineItem, ReturnReceipt
from openoms.adapters.db.models.routing_runs import RoutingRun, RoutingRunGroup
from openoms.adapters.db.models.sandbox import (
    SandboxCarrierLabel,
    SandboxGatewayAnswer,
    SandboxGatewayAttempt,
    SandboxGatewayMovement,
)
from openoms.adapters.db.models.webhooks import WebhookAttempt, WebhookDelivery, WebhookEndpoint

__all__ = [
    "NAMING",
    "ApiKey",
    "Base",
    "Channel",
    "ChannelAdapter",
    "ChannelInboxDelivery",
    "ConsoleLoginFailure",
    "ConsoleSecret",
    "ConsoleSession",
    "ConsoleUser",
    "CreditApplication",
    "CreditMemo",
    "CreditMemoLine",
    "Event",
    "EventDelivery",
    "Flow",
    "FlowRun",
    "FlowVersion",
    "FulfillmentOrder",
    "FulfillmentOrderLineItem",
    "IdempotencyRecord",
    "InventoryImportRecord",
    "InventoryRecord",
    "Invoice",
    "InvoiceLine",
    "Job",
    "Location",
    "LocationGroup",
    "LocationGroupMember",
    "Money",
    "Order",
    "OrderDeliveryGroupSummary",
    "OrderItem",
    "OrderItemSummary",
    "OrderPaymentSummary",
    "OrderSummary",
    "OrderSummaryHold",
    "OutboxSubscriptions",
    "Payment",
    "PaymentAuthorization",
    "PaymentGatewayLog",
    "ProcessException",
    "Refund",
    "Reservation",
    "ReservationLine",
    "ReturnOrder",
    "ReturnOrderLineItem",
    "ReturnReceipt",
    "RoutingRun",
    "RoutingRunGroup",
    "SandboxCarrierLabel",
    "SandboxChannelCall",
    "SandboxGatewayAnswer",
    "SandboxGatewayAttempt",
    "SandboxGatewayMovement",
    "Shipment",
    "ShipmentItem",
    "UTCDateTime",
    "WebhookAttempt",
    "WebhookDelivery",
    "WebhookEndpoint",
    "utcnow",
]
