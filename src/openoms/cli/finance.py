"""`openoms finance …` commands: reconcile money against invoices and credit memos."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import typer
from rich.markup import escape

from openoms.cli.common import app, console, fail, open_database
from openoms.cli.tables import print_table
from openoms.services.finance import reconcile

finance_app = typer.Typer(help="Finance: invoices, credit memos, refunds.", no_args_is_help=True)
app.add_typer(finance_app, name="finance")


def _when(value: str | None, name: str) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise fail(f"--{name} '{value}' is not an ISO 8601 date or time") from None
    if parsed.tzinfo is None:
        raise fail(f"--{name} needs a time zone (e.g. 'Z')")
    return parsed


@finance_app.command("reconcile")
def reconcile_command(
    from_: Annotated[
        str | None, typer.Option("--from", help="Ordered at or after (ISO 8601, with zone).")
    ] = None,
    to: Annotated[str | None, typer.Option("--to", help="Ordered before (ISO 8601).")] = None,
) -> None:
    """Per order and in total: authorized, captured, refunded, invoiced, credited and
    outstanding, with every mismatch. Exits 1 when any order has a mismatch."""
    start, end = _when(from_, "from"), _when(to, "to")
    _, db = open_database()
    try:
        with db.reading() as session:
            result = reconcile(session, ordered_from=start, ordered_to=end)
    finally:
        db.dispose()
    columns = "authorized captured refunded invoiced credited outstanding".split()
    rows = [
        (
            ledger.order_summary_id or "[bold]total[/bold]",
            ledger.currency,
            *(ledger.view()[c] for c in columns),
            escape("; ".join(ledger.mismatches)),
        )
        for ledger in [*result.orders, *result.totals]
    ]
    header = ("order summary", "currency", *columns, "mismatches")
    print_table(console, header, rows, keep=("order summary",))
    bad = sum(1 for o in result.orders if o.mismatches)
    if bad:
        raise fail(f"{bad} order(s) do not reconcile")
