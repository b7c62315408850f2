"""Bulk order import from JSON lines: each line is one capture in its own transaction.

A rejected line stores nothing and is reported with its line number, field and reason;
a line whose (channel, external_reference) is already captured counts as a duplicate.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from pydantic import ValidationError

from openoms.adapters.db.session import Database, retry_transient
from openoms.adapters.outbox import Outbox
from openoms.domain.errors import DomainError
from openoms.domain.order import OrderDraft
from openoms.schemas import field_path
from openoms.schemas.orders import OrderCreate
from openoms.services.imports import LineError
from openoms.services.orders.capture import CaptureResult, capture_order


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
    lines: Iterable[str],
    *,
    on_line: Callable[[int], None] | None = None,
) -> ImportReport:
    """Capture every non-blank line; `on_line(number)` is called after each (progress)."""
    report = ImportReport()
    for number, text in enumerate(lines, start=1):
        if text.strip():
            _import_line(db, outbox, number, text, report)
        if on_line is not None:
            on_line(number)
    return report


def _capture(db: Database, outbox: Outbox, draft: OrderDraft) -> CaptureResult:
    with db.transaction() as session:
        return capture_order(session, outbox, draft)


def _import_line(
    db: Database, outbox: Outbox, number: int, text: str, report: ImportReport
) -> None:
    try:
        payload = OrderCreate.model_validate(json.loads(text))
        draft = payload.to_draft()
        result = retry_transient(lambda: _capture(db, outbox, draft))
    except json.JSONDecodeError as exc:
        report.rejected.append(
            LineError(
                number, None, f"not valid JSON: {exc.msg} at column {exc.colno}", "json_invalid"
            )
        )
        return
    except ValidationError as exc:
        first = exc.errors()[0]
        location = field_path(first["loc"]) or None
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        report.rejected.append(
            LineError(number, location, f"{first['msg']}{more}", "payload_invalid")
        )
        return
    except DomainError as exc:
        report.rejected.append(LineError(number, exc.field, exc.detail, exc.code))
        return
    if result.created:
        report.accepted += 1
    else:
        report.duplicates += 1
