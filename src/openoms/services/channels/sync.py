"""Sync back: shipments (carrier and tracking) and cancellations of an adapter channel's
orders go back to its platform through the channel's connector.

The `channel-sync` consumer of `fulfillment_order.shipped` and `order_summary.changed`
(cancels) queues one `sync_channel` job per event for orders of a channel with an adapter
(its `needs`: no delivery at all while no channel has one). The job is a calling job: it reads
what to send, calls the connector with no transaction open, and on an answer is done. The
platform down or rate limiting (ChannelUnavailable) reschedules it, after `Retry-After`
when the platform gave one; a refusal (ChannelRejected) or attempts running out raise a
`channel` process exception whose retry runs the job again. A cancel the platform made
itself (a processed `orders/cancelled` delivery) is not told back to it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy.orm import Session

from openoms.adapters.channels import ChannelConnectors
from openoms.adapters.db.models import Event
from openoms.adapters.db.repositories import channels as repo
from openoms.adapters.jobs import JobContext, JobKind, Reschedule, enqueue
from openoms.adapters.outbox import EVERYTHING, NOTHING, Consumer
from openoms.domain.fulfillment import ProcessExceptionCategory
from openoms.domain.ports import (
    ChannelCancel,
    ChannelConnector,
    ChannelFulfillment,
    ChannelLine,
    ChannelRejected,
    ChannelUnavailable,
)
from openoms.domain.summary import OrderSummaryStatus
from openoms.services.exceptions import raise_exception, resolve_exception, retry_action

SYNC_JOB = "sync_channel"
SHIPPED = "fulfillment_order.shipped"
CHANGED = "order_summary.changed"
MAX_ATTEMPTS = 12
# How long a shipment without a tracking number yet (its label is being bought) waits.
TRACKING_WAITS = 5


def sync_job_key(event_id: str) -> str:
    return f"sync_channel:{event_id}"


def sync_consumer() -> Consumer:
    """Queue a `sync_channel` job for each shipment and cancel of an adapter channel's order."""

    def handler(session: Session, event: Event) -> None:
        summary = repo.summary(session, event.order_summary_id or "")
        if summary is None or repo.adapter(session, summary.channel) is None:
            return
        payload: dict[str, Any] = {"event_id": event.event_id, "order_summary_id": summary.id}
        if event.name == SHIPPED:
            payload |= {"kind": "fulfillment", "shipment_id": event.payload["shipment_id"]}
        elif event.payload.get("change_kind") == "cancel":
            lines = [
                {"sku": line["sku"], "quantity": abs(int(line["quantity"]))}
                for line in event.payload.get("lines", [])
                if line.get("sku") != "DELIVERY"
            ]
            payload |= {"kind": "cancel", "reason": event.payload.get("reason"), "lines": lines}
        else:
            return
        enqueue(session, SYNC_JOB, sync_job_key(event.event_id), payload)

    return Consumer(
        name="channel-sync",
        subscribes=(SHIPPED, CHANGED),
        handler=handler,
        # Read again whenever an adapter is added or removed (migration 0017's triggers).
        needs=lambda session: EVERYTHING if repo.any_adapter(session) else NOTHING,
    )


@dataclass(frozen=True, slots=True)
class _Call:
    channel: str
    connector: ChannelConnector
    request: ChannelFulfillment | ChannelCancel | None  # None: nothing to tell
    waiting: str | None = None


def sync_job(connectors: ChannelConnectors) -> JobKind:
    """The `sync_channel` job kind (see the module docstring)."""

    def handler(context: JobContext, payload: dict[str, Any]) -> Reschedule | None:
        call = _prepare(context, connectors, payload)
        if call is None or call.request is None:
            return None
        if call.waiting is not None:
            return Reschedule(call.waiting, delay=timedelta(seconds=30))
        try:
            if isinstance(call.request, ChannelFulfillment):
                call.connector.fulfill(call.channel, call.request)
            else:
                call.connector.cancel(call.channel, call.request)
        except ChannelUnavailable as exc:
            delay = timedelta(seconds=exc.retry_after) if exc.retry_after else None
            return Reschedule(f"{call.connector.name}: {exc}", delay=delay)
        except ChannelRejected as exc:
            with context.db.transaction() as session:
                _raise(session, context, payload, f"{call.connector.name} refused it: {exc}")
            return None
        with context.db.transaction() as session:
            resolve_exception(
                session, context.outbox, _exception_key(payload), note="told the platform"
            )
        return None

    def on_dead(context: JobContext, session: Session, payload: dict[str, Any], why: str) -> None:
        _raise(session, context, payload, f"no answer after {context.attempt} attempts: {why}")

    return JobKind(handler=handler, transactional=False, max_attempts=MAX_ATTEMPTS, on_dead=on_dead)


def _prepare(
    context: JobContext, connectors: ChannelConnectors, payload: dict[str, Any]
) -> _Call | None:
    with context.db.reading() as session:
        summary = repo.summary(session, payload["order_summary_id"])
        adapter = repo.adapter(session, summary.channel) if summary else None
        if summary is None or adapter is None:
            return None
        connector = connectors.get(
            adapter.connector, adapter.connector_base_url, adapter.connector_token
        )
        reference = summary.external_reference
        key = sync_job_key(payload["event_id"])
        if payload["kind"] == "cancel":
            if repo.platform_cancelled(session, summary.channel, reference):
                return _Call(summary.channel, connector, None)
            lines = tuple(ChannelLine(x["sku"], x["quantity"]) for x in payload["lines"])
            reason = payload.get("reason") or "canceled in openoms"
            complete = summary.status == OrderSummaryStatus.CANCELED.value
            cancel = ChannelCancel(key, reference, reason, lines, complete=complete)
            return _Call(summary.channel, connector, cancel)
        shipment = repo.shipment_with_items(session, payload["shipment_id"])
        if shipment is None:
            return None
        request = ChannelFulfillment(
            idempotency_key=key,
            external_reference=reference,
            carrier=shipment.carrier,
            tracking_number=shipment.tracking_number,
            lines=tuple(ChannelLine(i.sku, i.quantity) for i in shipment.items),
        )
        waiting = None
        if shipment.tracking_number is None and context.attempt <= TRACKING_WAITS:
            waiting = f"shipment {shipment.id} has no tracking number yet"
        return _Call(summary.channel, connector, request, waiting)


def _exception_key(payload: dict[str, Any]) -> str:
    return f"channel_sync:{payload['event_id']}"


def _raise(session: Session, context: JobContext, payload: dict[str, Any], why: str) -> None:
    what = "shipment" if payload["kind"] == "fulfillment" else "cancellation"
    raise_exception(
        session,
        context.outbox,
        order_summary_id=payload["order_summary_id"],
        category=ProcessExceptionCategory.CHANNEL,
        severity="medium",
        dedupe_key=_exception_key(payload),
        message=f"the {what} of order {payload['order_summary_id']} did not reach its "
        f"channel: {why}",
        action=retry_action(SYNC_JOB, payload, key=sync_job_key(payload["event_id"])),
    )
