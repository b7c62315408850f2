"""Fulfillment order and shipment lifecycles (DESIGN.md §4): one transition table each."""

from __future__ import annotations

from enum import StrEnum

from openoms.domain.errors import IllegalTransition

# FulfillmentOrder.type of replacement goods sent at no charge (a reship); every other
# fulfillment order ships ordered units.
RESHIP = "reship"


class FulfillmentOrderStatus(StrEnum):
    DRAFT = "DRAFT"
    ALLOCATED = "ALLOCATED"
    ASSIGNED = "ASSIGNED"
    PICK_COMPLETE = "PICK_COMPLETE"
    PACK_COMPLETE = "PACK_COMPLETE"
    FULFILLED = "FULFILLED"
    CANCELED = "CANCELED"
    REJECTED = "REJECTED"


class StatusCategory(StrEnum):
    DRAFT = "DRAFT"
    ACTIVATED = "ACTIVATED"
    FULFILLING = "FULFILLING"
    CLOSED = "CLOSED"
    CANCELED = "CANCELED"
    REJECTED = "REJECTED"


_S = FulfillmentOrderStatus

FULFILLMENT_ORDER_TRANSITIONS: dict[FulfillmentOrderStatus, frozenset[FulfillmentOrderStatus]] = {
    _S.DRAFT: frozenset({_S.ALLOCATED, _S.CANCELED}),
    _S.ALLOCATED: frozenset({_S.ASSIGNED, _S.CANCELED, _S.REJECTED}),
    _S.ASSIGNED: frozenset({_S.PICK_COMPLETE, _S.CANCELED, _S.REJECTED}),
    _S.PICK_COMPLETE: frozenset({_S.PACK_COMPLETE, _S.CANCELED, _S.REJECTED}),
    # Shipping is the way out of PACK_COMPLETE; a partial shipment keeps it there.
    _S.PACK_COMPLETE: frozenset({_S.FULFILLED, _S.CANCELED}),
    _S.FULFILLED: frozenset(),
    _S.CANCELED: frozenset(),
    _S.REJECTED: frozenset(),
}

CATEGORY: dict[FulfillmentOrderStatus, StatusCategory] = {
    _S.DRAFT: StatusCategory.DRAFT,
    _S.ALLOCATED: StatusCategory.ACTIVATED,
    _S.ASSIGNED: StatusCategory.ACTIVATED,
    _S.PICK_COMPLETE: StatusCategory.FULFILLING,
    _S.PACK_COMPLETE: StatusCategory.FULFILLING,
    _S.FULFILLED: StatusCategory.CLOSED,
    _S.CANCELED: StatusCategory.CANCELED,
    _S.REJECTED: StatusCategory.REJECTED,
}

# Statuses from which a warehouse may ship (a shipment from an earlier step completes the
# missing steps: the location packed it when it could ship it).
SHIPPABLE = frozenset({_S.ALLOCATED, _S.ASSIGNED, _S.PICK_COMPLETE, _S.PACK_COMPLETE})


def check_fulfillment_transition(
    current: FulfillmentOrderStatus, target: FulfillmentOrderStatus
) -> None:
    if target not in FULFILLMENT_ORDER_TRANSITIONS[current]:
        allowed = ", ".join(sorted(FULFILLMENT_ORDER_TRANSITIONS[current])) or "none"
        raise IllegalTransition(
            f"a fulfillment order that is {current.value} cannot become {target.value} "
            f"(allowed: {allowed})",
            current=current.value,
            target=target.value,
        )


class ShipmentStatus(StrEnum):
    LABEL_PENDING = "LABEL_PENDING"  # carrier unreachable: the label request is queued
    SHIPPED = "SHIPPED"
    IN_TRANSIT = "IN_TRANSIT"
    DELIVERED = "DELIVERED"
    CANCELED = "CANCELED"


SHIPMENT_TRANSITIONS: dict[ShipmentStatus, frozenset[ShipmentStatus]] = {
    ShipmentStatus.LABEL_PENDING: frozenset({ShipmentStatus.SHIPPED, ShipmentStatus.CANCELED}),
    ShipmentStatus.SHIPPED: frozenset(
        {ShipmentStatus.IN_TRANSIT, ShipmentStatus.DELIVERED, ShipmentStatus.CANCELED}
    ),
    ShipmentStatus.IN_TRANSIT: frozenset({ShipmentStatus.DELIVERED}),
    ShipmentStatus.DELIVERED: frozenset(),
    ShipmentStatus.CANCELED: frozenset(),
}


def check_shipment_transition(current: ShipmentStatus, target: ShipmentStatus) -> None:
    if target not in SHIPMENT_TRANSITIONS[current]:
        raise IllegalTransition(
            f"a shipment that is {current.value} cannot become {target.value}",
            current=current.value,
            target=target.value,
        )


class ProcessExceptionStatus(StrEnum):
    NEW = "NEW"
    TRIAGED = "TRIAGED"
    PAUSED = "PAUSED"
    RESOLVED = "RESOLVED"
    IGNORED = "IGNORED"
    VOIDED = "VOIDED"


ACTIVE_EXCEPTION_STATUSES = frozenset(
    {ProcessExceptionStatus.NEW, ProcessExceptionStatus.TRIAGED, ProcessExceptionStatus.PAUSED}
)


class ProcessExceptionCategory(StrEnum):
    PAYMENT = "payment"
    ROUTING = "routing"
    FULFILLMENT = "fulfillment"
    INVENTORY = "inventory"
    CARRIER = "carrier"
    INVOICING = "invoicing"
    AUTOMATION = "automation"  # an automation flow's action failed (services/flows)
    REVIEW = "review"  # raised by a flow for a person to look at (its `raise_exception`)
    WEBHOOK = "webhook"  # an endpoint failed everything for 5 days and was disabled
    CHANNEL = "channel"  # a channel adapter: an order refused, a sync back that failed


_P = ProcessExceptionStatus
PROCESS_EXCEPTION_TRANSITIONS: dict[ProcessExceptionStatus, frozenset[ProcessExceptionStatus]] = {
    _P.NEW: frozenset({_P.TRIAGED, _P.PAUSED, _P.RESOLVED, _P.IGNORED, _P.VOIDED}),
    _P.TRIAGED: frozenset({_P.PAUSED, _P.RESOLVED, _P.IGNORED, _P.VOIDED}),
    _P.PAUSED: frozenset({_P.TRIAGED, _P.RESOLVED, _P.IGNORED, _P.VOIDED}),
    _P.RESOLVED: frozenset(),
    _P.IGNORED: frozenset(),
    _P.VOIDED: frozenset(),
}


def check_process_exception_transition(
    current: ProcessExceptionStatus, target: ProcessExceptionStatus
) -> None:
    if target not in PROCESS_EXCEPTION_TRANSITIONS[current]:
        raise IllegalTransition(
            f"a process exception that is {current.value} cannot become {target.value}",
            current=current.value,
            target=target.value,
        )
