"""Finance: ensure refunds for an order, and reconcile money against documents.

`ensure-refunds` calls payment gateways, so it holds no transaction while they answer (see
`openoms.services.payments.refunds`); it is safe to call again or concurrently: a credit memo is
refunded exactly once, and a retry lands on the same gateway idempotency keys. It requires
an `Idempotency-Key`, under which its answer is stored: a retry replays it.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, Field

from openoms.adapters.db.models import OrderSummary
from openoms.adapters.db.session import Database
from openoms.api.auth import require_scope
from openoms.api.deps import gateways_of, get_db
from openoms.api.errors import PROBLEM_JSON
from openoms.api.idempotency import RequiredIdempotencyKey, respond, run_claimed
from openoms.domain.errors import OrderSummaryNotFound, ValidationFailed
from openoms.domain.money import format_minor
from openoms.schemas.common import IsoDateTime
from openoms.schemas.finance import EnsureRefundsOut, ReconciliationRow
from openoms.services.access import Principal, Scope
from openoms.services.finance import reconcile
from openoms.services.payments import ensure_refunds, refund_views

router = APIRouter(prefix="/api/v1", tags=["finance"])

PROBLEMS: dict[int | str, dict[str, Any]] = {
    status: {"description": text, "content": {PROBLEM_JSON: {}}}
    for status, text in {
        400: "A business rule is broken (stable `code`).",
        401: "No valid API key.",
        403: "The API key lacks the agent or admin scope.",
        404: "Unknown order summary.",
        422: "The payload does not match the schema.",
    }.items()
}

Agent = Annotated[Principal, Depends(require_scope(Scope.AGENT, Scope.ADMIN))]


# The agent refund and the reversal of unused authorizations add two columns to the report.
# (Kept here while schemas/finance.py is being changed by another piece of work; they belong
# there.)
class ReconciliationRowOut(ReconciliationRow):
    outstanding: str = Field(
        description="invoiced − credited − captured + (refunded − refunded_without_credit_memo)."
    )
    reversed: str = Field(description="Authorizations released at the gateway, unused.")
    refunded_without_credit_memo: str = Field(
        description="Agent refunds and refunds made in a channel's platform (Shopify): no "
        "document owes them; shown, not a mismatch, and set aside from outstanding."
    )


class ReconciliationReportOut(BaseModel):
    orders: list[ReconciliationRowOut]
    totals: list[ReconciliationRowOut] = Field(description="One row per currency.")
    mismatches: int = Field(description="How many orders have at least one mismatch.")


@router.post(
    "/order-summaries/{summary_id}/actions/ensure-refunds",
    response_model=EnsureRefundsOut,
    responses=PROBLEMS,
)
def ensure_refunds_action(
    summary_id: str,
    request: Request,
    response: Response,
    principal: Agent,
    db: Annotated[Database, Depends(get_db)],
    idempotency_key: RequiredIdempotencyKey,
) -> dict[str, Any]:
    """Refund every posted credit memo's balance and any excess funds now (exact match,
    else the smallest covering payment, else several, largest first). Answers what this
    call processed, left pending (declined or unanswered: retried later) or saw fail (a
    retry with the same key replays that answer)."""

    def act() -> tuple[int, dict[str, Any]]:
        return 200, _ensure_refunds(request, db, summary_id)

    return respond(response, run_claimed(db, principal, idempotency_key, request, {}, act))


def _ensure_refunds(request: Request, db: Database, summary_id: str) -> dict[str, Any]:
    outcome = ensure_refunds(db, request.app.state.outbox, gateways_of(request.app), summary_id)
    with db.reading() as session:
        summary = session.get(OrderSummary, summary_id)
        if summary is None:  # ensure_refunds raised already; kept for the type checker
            raise OrderSummaryNotFound(f"order summary '{summary_id}' does not exist")
        return {
            "order_summary_id": summary_id,
            "processed": refund_views(session, outcome.processed),
            "pending": refund_views(session, outcome.pending),
            "failed": refund_views(session, outcome.failed),
            "shortfall": format_minor(outcome.shortfall, summary.currency),
        }


@router.get("/finance/reconciliation", response_model=ReconciliationReportOut, responses=PROBLEMS)
def reconciliation(
    _: Agent,
    db: Annotated[Database, Depends(get_db)],
    from_: Annotated[
        IsoDateTime | None,
        Query(alias="from", description="Ordered at or after (inclusive)."),
    ] = None,
    to: Annotated[IsoDateTime | None, Query(description="Ordered before (exclusive).")] = None,
) -> dict[str, Any]:
    """Per order and in total: authorized, captured, refunded, reversed, invoiced, credited,
    refunded without a credit memo (agent refunds, refunds made in Shopify) and outstanding
    (invoiced − credited − captured + refunds a document owes), with every mismatch named
    (captured > authorized, captured + reversed > authorized, refunded > captured, documents
    ≠ grand total once complete). An agent refund is listed, not a mismatch."""
    for name, value in (("from", from_), ("to", to)):
        if value is not None and value.tzinfo is None:
            raise ValidationFailed(f"{name} needs a time zone (e.g. 'Z')", field=name)
    with db.reading() as session:
        return reconcile(session, ordered_from=from_, ordered_to=to).view()
