"""Orders and order summaries: capture, read, search."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from sqlalchemy.orm import Session

from openoms.adapters.db.repositories.orders import SummaryFilter, list_summaries
from openoms.adapters.db.session import Database
from openoms.api.auth import require_scope
from openoms.api.cursors import decode_cursor, encode_cursor
from openoms.api.deps import get_db
from openoms.api.errors import PROBLEM_JSON
from openoms.api.idempotency import IdempotencyKey, answer_idempotent
from openoms.api.ops import app_metrics
from openoms.api.params import WHOLE_NUMBER
from openoms.domain.errors import DomainError, ValidationFailed
from openoms.schemas.common import IsoDateTime
from openoms.schemas.order_views import OrderSummaryOut, OrderSummaryPage
from openoms.schemas.orders import (
    BulkCaptureOut,
    BulkOrdersCreate,
    OrderCreate,
    bulk_answer,
    read_bulk_rows,
)
from openoms.services.access import Principal, Scope
from openoms.services.orders import (
    MAX_BATCH,
    BatchRejected,
    ErrorPolicy,
    RowOutcome,
    RowStatus,
    capture_batch,
    capture_order,
    check_batch_size,
)
from openoms.services.views import captured_order_view, order_summary_view, summary_brief

router = APIRouter(prefix="/api/v1", tags=["orders"])

PROBLEMS: dict[int | str, dict[str, Any]] = {
    status: {"description": text, "content": {PROBLEM_JSON: {}}}
    for status, text in {
        400: "A business rule is broken (stable `code`).",
        401: "No valid API key.",
        403: "The API key lacks the scope (`forbidden`), or is bound to other channels "
        "(`channel_forbidden`).",
        409: "Conflicts with the current state.",
        422: "The payload does not match the schema.",
    }.items()
}
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {
        "description": "No such order summary (`order_summary_not_found`).",
        "content": {PROBLEM_JSON: {}},
    }
}

Capturer = Annotated[Principal, Depends(require_scope(Scope.STOREFRONT, Scope.AGENT))]
Reader = Annotated[Principal, Depends(require_scope(Scope.STOREFRONT, Scope.AGENT))]


@router.post(
    "/orders",
    status_code=201,
    response_model=OrderSummaryOut,
    responses={200: {"description": "Already captured: the existing summary."}, **PROBLEMS},
)
def capture(
    payload: OrderCreate,
    request: Request,
    response: Response,
    principal: Capturer,
    idempotency_key: IdempotencyKey = None,
) -> dict[str, Any]:
    """Capture an order: validate, store the Order and its OrderSummary, emit
    `order_summary.created`. The same (channel, external_reference) again answers 200 with
    the existing summary; nothing is ever captured twice. The channel must be configured
    (400 `channel_unknown`, listing `known_channels`); a key bound to channels captures
    only into them (403 `channel_forbidden` otherwise, before anything is looked up). A
    MANAGED order reserves each ship group where it can ship and each pickup group at its
    store; unless the channel backorders, a shortage is 409 `insufficient_stock` and stock
    no route within the channel's max_splits can reach is 409 `route_unavailable`, storing
    nothing."""
    metrics = app_metrics(request.app)
    outbox = request.app.state.outbox
    outcomes: list[str] = []  # empty when the Idempotency-Key replays an earlier answer

    def operation(session: Session) -> tuple[int, dict[str, Any]]:
        result = capture_order(session, outbox, draft)
        session.flush()
        outcomes.append("created" if result.created else "duplicate")
        if result.written is not None:  # a new order: its body from what capture wrote
            return 201, captured_order_view(session, result.written)
        return 200, order_summary_view(session, result.order_summary_id)

    try:
        principal.check_channel(payload.channel)
        draft = payload.to_draft()
        body = payload.model_dump(mode="json")
        answer = answer_idempotent(request, response, principal, idempotency_key, body, operation)
    except DomainError as exc:
        metrics.refused_capture(payload.channel, exc)
        raise
    for outcome in outcomes[-1:]:
        metrics.capture(payload.channel, outcome)
    return answer


@router.post(
    "/orders/bulk",
    response_model=BulkCaptureOut,
    responses={
        **PROBLEMS,
        400: {
            "description": "`bulk_rejected` (reject_everything: nothing stored; `errors` "
            "lists index, path, code and message of every failed row; 409 or 422 when "
            "every error is a conflict or a schema error), or another business rule.",
            "content": {PROBLEM_JSON: {}},
        },
        413: {
            "description": f"More than {MAX_BATCH} orders (`bulk_too_large`).",
            "content": {PROBLEM_JSON: {}},
        },
    },
)
def capture_bulk(
    payload: BulkOrdersCreate,
    request: Request,
    response: Response,
    principal: Capturer,
    idempotency_key: IdempotencyKey = None,
) -> dict[str, Any]:
    """Capture up to 100 orders in one transaction, each as `POST /orders` would (the same
    (channel, external_reference) again, in the store or earlier in the batch, is `existing`
    with its summary; never a duplicate), each in a savepoint of its own. Every row is
    validated on its own; a row for a channel a bound key may not use fails with
    `channel_forbidden`. `error_policy` says what a failed row does: `reject_everything`
    (default) stores nothing and answers a `bulk_rejected` problem listing every failed row;
    `reject_failed_rows` stores the good rows and answers 200 with each row's result, the
    failed ones with their errors (path, code, message); `ignore_failed` does the same
    without the reasons. A 200 lists every row: index, status (created, existing, failed),
    order_summary_id."""
    check_batch_size(len(payload.orders))  # before a row is read
    metrics = app_metrics(request.app)
    outbox = request.app.state.outbox
    policy = ErrorPolicy(payload.error_policy)
    rows = read_bulk_rows(payload.orders)
    captured: list[RowOutcome] = []  # empty when the Idempotency-Key replays an earlier answer

    def operation(session: Session) -> tuple[int, dict[str, Any]]:
        outcomes = capture_batch(
            session, outbox, rows, policy, check_channel=principal.check_channel
        )
        captured[:] = outcomes
        return 200, bulk_answer(policy, outcomes)

    try:
        body = payload.model_dump(mode="json")
        answer = answer_idempotent(request, response, principal, idempotency_key, body, operation)
    except BatchRejected:
        for _row in rows:  # every order of the batch was refused
            metrics.capture("unknown", "refused")
        raise
    for outcome in captured:
        metrics.capture(outcome.channel or "unknown", _OUTCOMES[outcome.status])
    return answer


_OUTCOMES = {
    RowStatus.CREATED: "created",
    RowStatus.EXISTING: "duplicate",
    RowStatus.FAILED: "refused",
}


@router.get(
    "/order-summaries/{summary_id}",
    response_model=OrderSummaryOut,
    responses={**PROBLEMS, **NOT_FOUND},
)
def get_order_summary(
    summary_id: str, _: Reader, db: Annotated[Database, Depends(get_db)]
) -> dict[str, Any]:
    """The order summary: totals, delivery groups, items with every quantity, payments,
    fulfillment, invoices, credit memos, returns, exceptions and the event timeline."""
    with db.reading() as session:
        return order_summary_view(session, summary_id)


@router.get("/order-summaries", response_model=OrderSummaryPage, responses=PROBLEMS)
def search_order_summaries(
    _: Reader,
    db: Annotated[Database, Depends(get_db)],
    status: str | None = None,
    channel: str | None = None,
    customer_email: str | None = None,
    external_reference: Annotated[
        str | None,
        Query(description="The order's reference, or its platform's name (Shopify: #1001)."),
    ] = None,
    ordered_from: Annotated[IsoDateTime | None, Query(description="Inclusive.")] = None,
    ordered_to: Annotated[IsoDateTime | None, Query(description="Exclusive.")] = None,
    limit: Annotated[int, Query(ge=1, le=200), WHOLE_NUMBER] = 50,
    cursor: Annotated[str | None, Query(description="next_cursor of the previous page.")] = None,
) -> dict[str, Any]:
    """Order summaries newest first, filtered, one page at a time."""
    for name, value in (("ordered_from", ordered_from), ("ordered_to", ordered_to)):
        if value is not None and value.tzinfo is None:
            raise ValidationFailed(f"{name} needs a time zone (e.g. 'Z')", field=name)
    where = SummaryFilter(
        status=status,
        channel=channel,
        customer_email=customer_email.lower() if customer_email else None,
        external_reference=external_reference,
        ordered_from=ordered_from,
        ordered_to=ordered_to,
    )
    with db.reading() as session:
        rows = list_summaries(
            session, where, after_id=decode_cursor(cursor, prefix="os_"), limit=limit + 1
        )
    page = rows[:limit]
    more = len(rows) > limit
    return {
        "items": [summary_brief(s) for s in page],
        "next_cursor": encode_cursor(page[-1].id) if more and page else None,
    }
