"""Talking to carriers, outside any transaction: buying a shipment's label, polling tracking.

`request_label` reads what the carrier needs, calls it with no transaction open (so no stock
row or shipment row is locked while a carrier thinks), then stores the label in a short
transaction of its own. The shipment's id is the carrier's idempotency key, so a retry after
a timeout, or the API and the job asking at once, get the same label, never a second one;
only a LABEL_PENDING shipment takes it. Carrier down → PENDING (the `create_label` job
reschedules with backoff); carrier refuses → a `carrier` process exception (key
`label:{shipment}`), and no more asking while it is open — unless an agent retries it
(process_exceptions.retry_exception queues the job with `agent_retry`), when the carrier is
asked again: a refusal refreshes the exception (occurrences + 1), a stored label resolves it.
Whenever the shipment no longer waits for a label, its open exception is resolved.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

from sqlalchemy.orm import Session

from openoms.adapters.carriers import Carriers, CarrierUnknown
from openoms.adapters.db import models as m
from openoms.adapters.db.models import utcnow
from openoms.adapters.db.repositories import fulfillment as repo
from openoms.adapters.db.session import Database, retry_transient
from openoms.adapters.jobs import JobContext, JobKind, Reschedule
from openoms.adapters.outbox import Outbox
from openoms.domain.events import DomainEvent
from openoms.domain.fulfillment import (
    ProcessExceptionCategory,
    ShipmentStatus,
    check_shipment_transition,
)
from openoms.domain.ports import (
    CarrierRejected,
    CarrierUnavailable,
    Label,
    LabelItem,
    LabelRequest,
    PostalAddress,
    TrackingState,
)
from openoms.services.exceptions import (
    active_exception,
    raise_exception,
    resolve_exception,
    retry_action,
)
from openoms.services.fulfillment.shipping import (
    LABEL_JOB,
    get_shipment,
    group_and_location,
    label_key,
    track_shipment,
)

EXCEPTION_SEVERITY = "high"  # goods are packed and waiting at the dock


class LabelOutcome(StrEnum):
    CREATED = "created"  # bought now (or found bought): the shipment is SHIPPED
    DONE = "done"  # the shipment had its label already: nothing asked
    PENDING = "pending"  # the carrier is unavailable: ask again later
    REJECTED = "rejected"  # the carrier refused: a carrier process exception is open
    BLOCKED = "blocked"  # an open exception waits for a person: not asked again


@dataclass(frozen=True, slots=True)
class LabelAttempt:
    outcome: LabelOutcome
    detail: str = ""


def request_label(
    db: Database,
    outbox: Outbox,
    carriers: Carriers,
    shipment_id: str,
    *,
    agent_retry: bool = False,
) -> LabelAttempt:
    """Buy the shipment's label, outside any transaction: read, call the carrier, store.
    Safe to run twice or concurrently (the carrier answers one key with one label, and only
    a LABEL_PENDING shipment takes it). While the label's exception is open the carrier is
    not asked (BLOCKED) unless `agent_retry`: a person asked for it. Storing the label
    resolves the exception. Emits `shipment.label_created`."""
    with db.reading() as session:
        prepared = _prepare(session, shipment_id, agent_retry=agent_retry)
    if isinstance(prepared, _Settled):

        def close() -> None:
            with db.transaction() as session:
                _resolve(session, outbox, shipment_id, note=prepared.attempt.detail)

        retry_transient(close)
        return prepared.attempt
    if isinstance(prepared, LabelAttempt):
        return prepared
    carrier_name, request = prepared
    try:
        label = carriers.get(carrier_name).create_label(request)
    except CarrierUnavailable as exc:
        return LabelAttempt(LabelOutcome.PENDING, str(exc))
    except (CarrierRejected, CarrierUnknown) as exc:
        message = f"label for shipment {shipment_id} refused by {carrier_name}: {exc}"

        def record_rejection() -> None:
            with db.transaction() as session:
                raise_carrier_exception(session, outbox, shipment_id, message)

        retry_transient(record_rejection)
        return LabelAttempt(LabelOutcome.REJECTED, message)

    def store() -> LabelAttempt:
        with db.transaction() as session:
            return _store_label(session, outbox, shipment_id, label)

    return retry_transient(store)


@dataclass(frozen=True, slots=True)
class _Settled:
    """The shipment waits for no label any more, yet its label exception is open."""

    attempt: LabelAttempt


def _prepare(
    session: Session, shipment_id: str, *, agent_retry: bool
) -> LabelAttempt | _Settled | tuple[str, LabelRequest]:
    shipment = get_shipment(session, shipment_id)
    open_exception = active_exception(session, label_key(shipment_id))
    if shipment.status != ShipmentStatus.LABEL_PENDING:
        done = LabelAttempt(LabelOutcome.DONE, f"shipment is {shipment.status}")
        return done if open_exception is None else _Settled(done)
    if open_exception is not None and not agent_retry:
        return LabelAttempt(LabelOutcome.BLOCKED, f"process exception {open_exception.id} is open")
    fo = session.get(m.FulfillmentOrder, shipment.fulfillment_order_id)
    assert fo is not None
    group, location = group_and_location(session, fo)
    origin = PostalAddress(
        name=location.name,
        line1=location.address_line1,
        city=location.city,
        region=location.region,
        postal_code=location.postal_code,
        country=location.country,
    )
    destination = PostalAddress(
        name=group.recipient_name,
        line1=group.address_line1,
        line2=group.address_line2,
        city=group.city,
        region=group.region,
        postal_code=group.postal_code,
        country=group.country,
    )
    if group.method == "pickup":  # the customer collects at the location
        destination = replace(origin, name=group.recipient_name)
    request = LabelRequest(
        idempotency_key=label_key(shipment.id),
        reference=shipment.id,
        service=shipment.service,
        ship_from=origin,
        ship_to=destination,
        items=tuple(LabelItem(i.sku, i.quantity) for i in shipment.items),
    )
    return shipment.carrier, request


def _store_label(session: Session, outbox: Outbox, shipment_id: str, label: Label) -> LabelAttempt:
    summary_id = get_shipment(session, shipment_id).order_summary_id
    exception_open = active_exception(session, label_key(shipment_id)) is not None
    if exception_open:
        # Before the shipment's lock (the summary comes first): the exception count moves.
        repo.lock_summary(session, summary_id)
    shipment = get_shipment(session, shipment_id, lock=True)
    if shipment.status != ShipmentStatus.LABEL_PENDING:
        done = LabelAttempt(LabelOutcome.DONE, f"shipment is {shipment.status}")
        if exception_open:
            _resolve(session, outbox, shipment_id, note=done.detail)
        return done
    check_shipment_transition(ShipmentStatus.LABEL_PENDING, ShipmentStatus.SHIPPED)
    shipment.status = ShipmentStatus.SHIPPED.value
    shipment.tracking_number = label.tracking_number
    shipment.label_url = label.label_url
    shipment.service = label.service or shipment.service
    shipment.updated_at = utcnow()
    payload = {
        "shipment_id": shipment.id,
        "fulfillment_order_id": shipment.fulfillment_order_id,
        "carrier": shipment.carrier,
        "service": shipment.service,
        "tracking_number": label.tracking_number,
        "label_url": label.label_url,
    }
    outbox.record(
        session,
        [
            DomainEvent(
                "shipment.label_created",
                "shipment",
                shipment.id,
                payload,
                shipment.order_summary_id,
            )
        ],
    )
    if exception_open:
        _resolve(session, outbox, shipment_id, note=f"label stored: {label.tracking_number}")
    session.flush()
    return LabelAttempt(LabelOutcome.CREATED, label.tracking_number)


def _resolve(session: Session, outbox: Outbox, shipment_id: str, *, note: str) -> None:
    """Resolve the label's open exception: the shipment waits for no label any more."""
    shipment = get_shipment(session, shipment_id)
    repo.lock_summary(session, shipment.order_summary_id)  # its exception count moves
    resolve_exception(session, outbox, label_key(shipment_id), note=note)
    session.flush()


def raise_carrier_exception(
    session: Session, outbox: Outbox, shipment_id: str, message: str
) -> m.ProcessException:
    """Open a `carrier` process exception for the shipment's label, or refresh the open
    one; its action retries the label. Emits `process_exception.raised` when new."""
    shipment = get_shipment(session, shipment_id)
    repo.lock_summary(session, shipment.order_summary_id)  # its exception count moves
    exception, _ = raise_exception(
        session,
        outbox,
        order_summary_id=shipment.order_summary_id,
        category=ProcessExceptionCategory.CARRIER,
        severity=EXCEPTION_SEVERITY,
        dedupe_key=label_key(shipment_id),
        message=message,
        action=retry_action(
            LABEL_JOB,
            {"shipment_id": shipment_id},
            key=label_key(shipment_id),
            # an agent's retry asks the carrier although the exception is open (label_job)
            retry_payload={"shipment_id": shipment_id, "agent_retry": True},
            agent_payload=True,
        ),
    )
    session.flush()
    return exception


# --- the label job ------------------------------------------------------------------------


def label_job(carriers: Carriers) -> JobKind:
    """The `create_label` job kind: calls the carrier with no transaction held; carrier
    down → Reschedule (backoff by attempt); refused → done, with an exception open;
    attempts exhausted → a carrier exception. A payload with `agent_retry` (an agent's
    retry of the exception) asks the carrier while the exception is open."""

    def handler(context: JobContext, payload: dict[str, Any]) -> Reschedule | None:
        attempt = request_label(
            context.db,
            context.outbox,
            carriers,
            payload["shipment_id"],
            agent_retry=bool(payload.get("agent_retry")),
        )
        if attempt.outcome is LabelOutcome.PENDING:
            return Reschedule(attempt.detail)
        return None

    def on_dead(context: JobContext, session: Session, payload: dict[str, Any], why: str) -> None:
        shipment_id = payload["shipment_id"]
        message = (
            f"no label for shipment {shipment_id} after {context.attempt} attempts: {why}; "
            "retry when the carrier answers, or ship with another carrier"
        )
        raise_carrier_exception(session, context.outbox, shipment_id, message)

    return JobKind(handler=handler, transactional=False, on_dead=on_dead)


# --- tracking -----------------------------------------------------------------------------


def refresh_tracking(
    db: Database, outbox: Outbox, carriers: Carriers, shipment_id: str
) -> ShipmentStatus:
    """Ask the carrier where the parcel is (outside any transaction) and record it."""
    with db.reading() as session:
        shipment = get_shipment(session, shipment_id)
    if shipment.tracking_number is None:
        return ShipmentStatus(shipment.status)
    state = carriers.get(shipment.carrier).track(shipment.tracking_number).state
    target = {
        TrackingState.IN_TRANSIT: ShipmentStatus.IN_TRANSIT,
        TrackingState.DELIVERED: ShipmentStatus.DELIVERED,
    }.get(state)
    if target is None:
        return ShipmentStatus(shipment.status)

    def record() -> ShipmentStatus:
        with db.transaction() as session:
            return ShipmentStatus(track_shipment(session, outbox, shipment_id, target).status)

    return retry_transient(record)
