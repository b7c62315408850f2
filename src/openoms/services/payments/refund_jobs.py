"""When ensure refunds runs: the `ensure_refunds` job kind and the consumers that queue it
(a new credit memo, an order change that may leave excess funds)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from openoms.adapters.db import models as m
from openoms.adapters.jobs import JobContext, JobKind, Reschedule, enqueue
from openoms.adapters.outbox import Consumer
from openoms.adapters.payments import Gateways, default_gateways
from openoms.services.payments.refund_keys import REFUND_JOB, refund_job_key
from openoms.services.payments.refunds import ensure_refunds


def refund_consumers() -> list[Consumer]:
    """`credit_memo.created` queues the order's ensure-refunds job."""

    def on_credit_memo_created(session: Session, event: m.Event) -> None:
        summary_id = event.payload["order_summary_id"]
        enqueue(
            session,
            REFUND_JOB,
            refund_job_key(summary_id, event.payload["credit_memo_id"]),
            {"order_summary_id": summary_id},
        )

    def on_order_changed(session: Session, event: m.Event) -> None:
        # A change without a credit memo can still leave excess funds (money captured at
        # order time for what is now canceled): ensure-refunds finds and pays them back.
        if event.payload.get("credit_memo_id"):
            return  # its credit memo queues the job (on_credit_memo_created)
        summary_id = event.payload["order_summary_id"]
        enqueue(
            session,
            REFUND_JOB,
            refund_job_key(summary_id, f"change:{event.payload['change_order_id']}"),
            {"order_summary_id": summary_id},
        )

    return [
        Consumer("ensure-refunds", ("credit_memo.created",), on_credit_memo_created),
        Consumer("refund-after-change", ("order_summary.changed",), on_order_changed),
    ]


def queue_refunds(session: Session, order_summary_id: str, *, reason_key: str) -> bool:
    """Queue the order's ensure-refunds job in the caller's transaction (an automation flow's
    `ensure_refunds`), under a key of the caller's (`reason_key`): False when queued
    already."""
    key = refund_job_key(order_summary_id, reason_key)
    return enqueue(session, REFUND_JOB, key, {"order_summary_id": order_summary_id})


def refund_job(gateways: Gateways | None = None) -> JobKind:
    """The `ensure_refunds` job kind: calls gateways with no transaction held; a refund left
    PENDING (declined, no answer) → Reschedule, same keys next time."""

    def handler(context: JobContext, payload: dict[str, Any]) -> Reschedule | None:
        registry = gateways or default_gateways(context.db)
        outcome = ensure_refunds(context.db, context.outbox, registry, payload["order_summary_id"])
        if outcome.pending:
            return Reschedule(f"{len(outcome.pending)} refund(s) still pending")
        return None

    return JobKind(handler=handler, transactional=False)
