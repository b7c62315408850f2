"""Bulk capture: up to `MAX_BATCH` orders captured in one transaction.

Each row is captured by `capture_order`, exactly as a single capture (deduplicated on
(channel, external_reference), its stock held, its events recorded through the outbox), in a
savepoint of its own: a row that fails rolls back to that savepoint, leaving the rows before
it and the transaction intact, so one commit serves the whole batch. The caller owns the
transaction; the error policy says what a failed row does to the rest:

- `reject_everything`: any failed row raises `BatchRejected`, listing every failed row, and
  the caller's transaction rolls back: nothing is stored.
- `reject_failed_rows`: the good rows are kept; each failed row is answered with its errors.
- `ignore_failed`: as `reject_failed_rows`, but failed rows are answered by index only,
  without their reasons (a feed that resends or drops them does not need them).

A row the edge could not read (not an object, not a valid payload, an amount that is not
one) arrives as its errors and fails like any other row; nothing of it is looked up.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum

from sqlalchemy.orm import Session

from openoms.adapters.db.repositories import inventory as inventory_repo
from openoms.adapters.outbox import Outbox
from openoms.domain.errors import DomainError
from openoms.domain.order import OrderDraft
from openoms.services.orders.capture import capture_order

MAX_BATCH = 100
_CHANNEL_REFUSALS = frozenset({"channel_unknown", "channel_forbidden"})


class ErrorPolicy(StrEnum):
    REJECT_EVERYTHING = "reject_everything"
    REJECT_FAILED_ROWS = "reject_failed_rows"
    IGNORE_FAILED = "ignore_failed"


class RowStatus(StrEnum):
    CREATED = "created"
    EXISTING = "existing"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class RowError:
    """Why a row failed: the field inside the row (`items[1].quantity`; None for the row as a
    whole), a stable code, a message, and the HTTP status the error has on its own."""

    field: str | None
    code: str
    message: str
    status: int = 400

    @classmethod
    def of(cls, exc: DomainError) -> RowError:
        return cls(exc.field, exc.code, exc.detail, exc.status)


# A row as the edge read it: the order it asks for, or the errors of a row it could not read.
BatchRow = OrderDraft | tuple[RowError, ...]


@dataclass(frozen=True, slots=True)
class RowOutcome:
    index: int
    status: RowStatus
    order_summary_id: str | None = None
    errors: tuple[RowError, ...] = ()
    channel: str | None = None  # the row's channel, when read and configured (metrics)


def row_path(index: int, field: str | None) -> str:
    """Where an error is in the request body: `orders[3].items[1].quantity`."""
    return f"orders[{index}]" + (f".{field}" if field else "")


class BatchTooLarge(DomainError):
    code = "bulk_too_large"
    status = 413
    title = "Too many orders in one request"


class BatchRejected(DomainError):
    """`reject_everything` and a row failed: nothing was stored. `errors` lists every error of
    every failed row, with its index and path; the status is the one the errors share (422
    when every row failed the schema, 409 when every one ran out of stock, …), else 400."""

    code = "bulk_rejected"
    title = "Orders rejected; nothing was captured"

    def __init__(self, failed: Sequence[RowOutcome]) -> None:
        errors = [(o.index, e) for o in failed for e in o.errors]
        statuses = {e.status for _, e in errors}
        indices = ", ".join(str(o.index) for o in failed)
        super().__init__(
            f"{len(failed)} order(s) failed (index {indices}); nothing was captured.",
            errors=[
                {"index": i, "path": row_path(i, e.field), "code": e.code, "message": e.message}
                for i, e in errors
            ],
        )
        self.status = statuses.pop() if len(statuses) == 1 else 400


def check_batch_size(count: int) -> None:
    """BatchTooLarge (413 `bulk_too_large`) for more than MAX_BATCH orders."""
    if count > MAX_BATCH:
        raise BatchTooLarge(
            f"{count} orders in one request; the limit is {MAX_BATCH}.",
            field="orders",
            limit=MAX_BATCH,
        )


def capture_batch(
    session: Session,
    outbox: Outbox,
    rows: Sequence[BatchRow],
    policy: ErrorPolicy = ErrorPolicy.REJECT_EVERYTHING,
    *,
    check_channel: Callable[[str], None] | None = None,
) -> list[RowOutcome]:
    """Capture each row in its own savepoint of the caller's transaction; one outcome per
    row, in order. `check_channel(channel)` raises (ChannelForbidden) for a channel the caller
    may not capture into: that row fails with its error. Under `reject_everything` a failed
    row raises `BatchRejected` once every row has been tried, so that it lists them all."""
    check_batch_size(len(rows))
    # Concurrent batches would take their stock locks order by order, in no common order,
    # and deadlock each other (a deadlock rolls back all the batch's orders): take them all
    # first, in one order. The rows are those any of the batch's orders could reserve.
    inventory_repo.lock_stock_of_skus(
        session,
        {line.sku for row in rows if isinstance(row, OrderDraft) for line in row.lines},
    )
    outcomes = [
        _capture_row(session, outbox, index, row, check_channel) for index, row in enumerate(rows)
    ]
    failed = [o for o in outcomes if o.status is RowStatus.FAILED]
    if failed and policy is ErrorPolicy.REJECT_EVERYTHING:
        raise BatchRejected(failed)
    if policy is ErrorPolicy.IGNORE_FAILED:
        return [replace(o, errors=()) for o in outcomes]
    return outcomes


def _capture_row(
    session: Session,
    outbox: Outbox,
    index: int,
    row: BatchRow,
    check_channel: Callable[[str], None] | None,
) -> RowOutcome:
    if not isinstance(row, OrderDraft):
        return RowOutcome(index, RowStatus.FAILED, errors=row)
    try:
        if check_channel is not None:
            check_channel(row.channel)
        with session.begin_nested():  # a failed row rolls back to here, and only it
            result = capture_order(session, outbox, row)
    except DomainError as exc:
        # A channel nobody configured (or the key may not use) is not a metrics label value.
        known = exc.code not in _CHANNEL_REFUSALS
        channel = row.channel if known else None
        return RowOutcome(index, RowStatus.FAILED, errors=(RowError.of(exc),), channel=channel)
    status = RowStatus.CREATED if result.created else RowStatus.EXISTING
    return RowOutcome(index, status, result.order_summary_id, channel=row.channel)
