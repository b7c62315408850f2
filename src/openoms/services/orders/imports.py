"""Bulk order import: each line of a file is one capture in its own transaction.

The edge reads the file (`openoms.schemas.orders.read_order_lines`): each line is the
order it asks for, or the LineError of a line it could not read. A rejected line stores
nothing and is reported with its line number, field and reason; a line whose (channel,
external_reference) is already captured counts as a duplicate.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from openoms.adapters.db.session import Database, retry_transient
from openoms.adapters.outbox import Outbox
from openoms.domain.errors import DomainError
from openoms.domain.file_lines import LineError
from openoms.domain.order import OrderDraft
from openoms.services.orders.capture import CaptureResult, capture_order

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
) -> ImportReport:
    """Capture the order of every line read; `on_line(number)` is called after each line,
    blank ones too (progress)."""
    report = ImportReport()
    for number, line in lines:
        if isinstance(line, LineError):
            report.rejected.append(line)
        elif line is not None:
            _import_line(db, outbox, number, line, report)
        if on_line is not None:
            on_line(number)
    return report


def _capture(db: Database, outbox: Outbox, draft: OrderDraft) -> CaptureResult:
    with db.transaction() as session:
        return capture_order(session, outbox, draft)


def _import_line(
    db: Database, outbox: Outbox, number: int, draft: OrderDraft, report: ImportReport
) -> None:
    try:
        result = retry_transient(lambda: _capture(db, outbox, draft))
    except DomainError as exc:
        report.rejected.append(LineError(number, exc.field, exc.detail, exc.code))
        return
    if result.created:
        report.accepted += 1
    else:
        report.duplicates += 1
