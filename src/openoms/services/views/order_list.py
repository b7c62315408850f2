"""The order search the console's Orders page answers with: summaries newest first, each
with its payment and refund standing and its active holds (the API's list is the same query,
`summary_brief`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from openoms.adapters.db.repositories.orders import SummaryFilter, list_summaries
from openoms.adapters.db.repositories.views import active_hold_counts, payment_totals
from openoms.domain.money import format_minor
from openoms.services.views.order_summary import summary_brief


@dataclass(frozen=True, slots=True)
class OrderSearch:
    """What to look for; every field left None matches everything. `email` is compared
    lower-cased, `name` is a case-insensitive part of the customer's name, `ordered_from`
    is inclusive and `ordered_to` exclusive."""

    reference: str | None = None
    email: str | None = None
    name: str | None = None
    status: str | None = None
    channel: str | None = None
    ordered_from: datetime | None = None
    ordered_to: datetime | None = None
    on_hold: bool = False  # only orders with a hold not released yet


def search_orders(
    session: Session, search: OrderSearch, *, after_id: str | None, limit: int
) -> list[dict[str, Any]]:
    """Up to `limit` summaries newest first after `after_id` (keyset: ask for one more than
    a page to know whether another follows). Each is `summary_brief` plus `payment`:
    authorized, captured and refunded over its payment methods and a `status` sentence, and
    `active_holds`: how many holds not released yet (one query per page for each)."""
    where = SummaryFilter(
        status=search.status,
        channel=search.channel,
        customer_email=search.email.strip().lower() if search.email else None,
        external_reference=search.reference.strip() if search.reference else None,
        ordered_from=search.ordered_from,
        ordered_to=search.ordered_to,
        customer_name=search.name.strip() if search.name else None,
        on_hold=search.on_hold,
    )
    summaries = list_summaries(session, where, after_id=after_id, limit=limit)
    ids = [s.id for s in summaries]
    totals = payment_totals(session, ids)
    holds = active_hold_counts(session, ids)
    rows = []
    for summary in summaries:
        authorized, captured, refunded = totals.get(summary.id, (0, 0, 0))
        money = summary.currency
        rows.append(
            {
                **summary_brief(summary),
                "payment": {
                    "authorized": format_minor(authorized, money),
                    "captured": format_minor(captured, money),
                    "refunded": format_minor(refunded, money),
                    "status": payment_status(authorized, captured, refunded, summary.grand_total),
                },
                "active_holds": holds.get(summary.id, 0),
            }
        )
    return rows


def payment_status(authorized: int, captured: int, refunded: int, grand_total: int) -> str:
    """One word for where the money stands (refunds first: they are what an agent is asked
    about)."""
    if refunded > 0:
        return "refunded" if refunded >= captured else "partly refunded"
    if captured > 0:
        return "captured" if captured >= grand_total else "partly captured"
    if authorized > 0:
        return "authorized"
    return "unpaid"
