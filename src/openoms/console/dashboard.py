"""The operations dashboard: the figures of services/views/dashboard.py for a channel and a
period (by default the last 30 days), with server-drawn SVG charts and their tables."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse

from openoms.console.auth import ORDER_DESK, Visitor, require_role
from openoms.console.charts import BarChart, bar_chart
from openoms.console.paging import SearchInvalid
from openoms.console.params import Db, Text
from openoms.console.render import page
from openoms.domain.errors import DomainError
from openoms.domain.money import format_minor
from openoms.services.views import Dashboard, DashboardQuery, dashboard_channels, dashboard_figures

router = APIRouter(prefix="/console")
DEFAULT_DAYS = 30


@router.get("/dashboard", response_class=HTMLResponse, include_in_schema=False)
def dashboard_page(
    request: Request,
    visitor: Annotated[Visitor, Depends(require_role(*ORDER_DESK))],
    db: Db,
    channel: Text = "",
    first: Annotated[str, Query(alias="from", max_length=40)] = "",
    last: Annotated[str, Query(alias="to", max_length=40)] = "",
) -> HTMLResponse:
    """The dashboard for orders placed from `from` to `to` (days, both included; by default
    the last 30 days up to today, UTC) on `channel` (every channel when empty)."""
    today = datetime.now(UTC).date()
    form = {"channel": channel, "from": first, "to": last}
    figures: Dashboard | None = None
    error = ""
    with db.reading() as session:
        channels = dashboard_channels(session)
        try:
            to_day = _day(last, "To") or today
            from_day = _day(first, "From") or to_day - timedelta(days=DEFAULT_DAYS - 1)
            figures = dashboard_figures(session, DashboardQuery(from_day, to_day, channel or None))
        except SearchInvalid as exc:
            error = str(exc)
        except DomainError as exc:
            error = f"{exc.detail[:1].upper()}{exc.detail[1:]}."
    if figures is not None:
        form = {"channel": channel, "from": str(from_day), "to": str(to_day)}
    return page(
        request,
        "dashboard.html",
        visitor,
        status_code=400 if error else 200,
        title="Dashboard",
        form=form,
        channels=channels,
        error=error,
        d=figures,
        charts=_charts(figures) if figures else {},
        duration=duration,
        money=format_minor,
    )


def _day(value: str, label: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise SearchInvalid(f"{label} must be a date like 2026-11-20, not {value!r}.") from None


def _charts(d: Dashboard) -> dict[str, Any]:
    days = [(day.day.strftime("%d %b"), day.orders) for day in d.days]
    period = f"{d.query.first} to {d.query.last}"
    charts: dict[str, BarChart | list[tuple[str, BarChart]]] = {
        "orders": bar_chart(
            "Orders per day",
            f"Orders placed each day from {period}: {d.orders} in all.",
            days,
        ),
        "exceptions": bar_chart(
            "Open exceptions by category",
            f"{d.open_exception_total} open process exceptions, by category.",
            sorted(d.open_exceptions.items()),
        ),
    }
    revenue = []
    for currency in d.currencies:
        points = [
            (day.day.strftime("%d %b"), _major(day.revenue.get(currency, 0), currency))
            for day in d.days
        ]
        texts = [format_minor(day.revenue.get(currency, 0), currency) for day in d.days]
        chart = bar_chart(
            f"Revenue per day ({currency})",
            f"Grand totals of the orders placed each day in {currency}, from {period}: "
            f"{d.revenue_text(currency)} {currency} in all.",
            points,
            value_text=[f"{t} {currency}" for t in texts],
        )
        revenue.append((currency, chart))
    charts["revenue"] = revenue
    return charts


def _major(minor: int, currency: str) -> Decimal:
    return Decimal(format_minor(minor, currency))


def duration(micros: int) -> str:
    """A time span in words: `2 d 3 h`, `4 h 05 min`, `12 min 30 s`, `45 s`."""
    seconds = micros // 1_000_000
    days, rest = divmod(seconds, 86_400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes:02d} min"
    if minutes:
        return f"{minutes} min {secs:02d} s"
    return f"{secs} s"
