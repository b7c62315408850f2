"""Bulk order import: the lines of a file captured in batches, through bulk capture.

The edge reads the file (`openoms.schemas.orders.read_order_lines`): each line is the
order it asks for, or the LineError of a line it could not read. Up to `MAX_BATCH` orders
are captured per transaction by `capture_batch` (`reject_failed_rows`): each line is all or
nothing (its own savepoint), a rejected line stores nothing and is reported with its line
number, field and reason; a line whose (channel, external_reference) is already captured,
in the store or earlier in the file, counts as a duplicate.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from openoms.adapters.db.session import Database, retry_transient
from openoms.adapters.outbox import Outbox
from openoms.domain.file_lines import LineError
from openoms.domain.order import OrderDraft
from openoms.services.orders.bulk import (
    MAX_BATCH,
    ErrorPolicy,
    RowOutcome,
    RowStatus,
    capture_batch,
)

# A line of an order file as the edge read it: its number (from 1) and the order it asks
# for, the LineError of a line that could not be read, or None for a blank line.
OrderFileLine = tuple[int, OrderDraft | LineError | None]


@dataclass(slots=True)
class ImportReport:
    accepted: int = 0
    duplicates: int = 0
    rejected: list[LineError] = field(default_factory=list)

    @property
    def lines(self) -> int:
        return self.accepted + self.duplicates + len(self.rejected)


def import_orders(
    db: Database,
    outbox: Outbox,
    lines: Iterable[OrderFileLine],
    *,
    on_line: Callable[[int], None] | None = None,
    batch_size: int = MAX_BATCH,
) -> ImportReport:
    """Capture the order of every line read, `batch_size` orders per transaction;
    `on_line(number)` is called once every line up to `number` is done, blank ones too
    (progress). Rejections are reported in line order."""
    report = ImportReport()
    batch: list[tuple[int, OrderDraft]] = []
    last = 0
    for last, line in lines:
        if isinstance(line, LineError):
            report.rejected.append(line)
        elif line is not None:
            batch.append((last, line))
        if len(batch) >= batch_size:
            _import_batch(db, outbox, batch, report)
            batch = []
        if not batch and on_line is not None:
            on_line(last)
    if batch:
        _import_batch(db, outbox, batch, report)
        if on_line is not None:
            on_line(last)
    report.rejected.sort(key=lambda rejection: rejection.line)
    return report


def _import_batch(
    db: Database, outbox: Outbox, batch: list[tuple[int, OrderDraft]], report: ImportReport
) -> None:
    drafts = [draft for _, draft in batch]

    def capture() -> list[RowOutcome]:
        with db.transaction() as session:
            return capture_batch(session, outbox, drafts, ErrorPolicy.REJECT_FAILED_ROWS)

    for (number, _), outcome in zip(batch, retry_transient(capture), strict=True):
        if outcome.status is RowStatus.CREATED:
            report.accepted += 1
        elif outcome.status is RowStatus.EXISTING:
            report.duplicates += 1
        else:
            report.rejected.extend(
                LineError(number, error.field, error.message, error.code)
                for error in outcome.errors
            )
