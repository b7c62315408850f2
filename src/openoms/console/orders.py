"""Orders: the search list and the order summary page (its actions: order_actions.py)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import HTMLResponse

from openoms.adapters.db.session import Database
from openoms.console.auth import (
    MONEY_ACTIONS,
    ORDER_ACTIONS,
    ORDER_DESK,
    PageNotFound,
    Visitor,
    require_role,
)
from openoms.console.paging import (
    PAGE_SIZE,
    SearchInvalid,
    day_start,
    decode_cursor,
    encode_cursor,
)
from openoms.console.params import Db, Done, Text
from openoms.console.render import page
from openoms.console.timeline import timeline
from openoms.domain.errors import OrderSummaryNotFound
from openoms.domain.summary import OrderSummaryStatus
from openoms.services.orders import known_channels
from openoms.services.payments import summary_refunds
from openoms.services.views import OrderSearch, order_summary_view, search_orders

router = APIRouter(prefix="/console")
OrderDesk = Annotated[Visitor, Depends(require_role(*ORDER_DESK))]
Limit = Annotated[int, Query(ge=1, le=200)]


@dataclass
class OrdersForm:
    """The search form's fields (query parameters), as typed."""

    reference: Text = ""
    email: Text = ""
    name: Text = ""
    status: Text = ""
    channel: Text = ""
    ordered_from: Text = ""
    ordered_to: Text = ""
    on_hold: Text = ""  # "1": only orders with an active hold
    cursor: Text = ""
    limit: Limit = PAGE_SIZE

    def fields(self) -> dict[str, Any]:
        """What a link to another page of the same search carries (the cursor apart)."""
        fields = asdict(self)
        del fields["cursor"]
        fields["limit"] = self.limit if self.limit != PAGE_SIZE else ""
        return fields

    def search(self) -> OrderSearch:
        """The search; SearchInvalid names a field it cannot use."""
        return OrderSearch(
            reference=self.reference or None,
            email=self.email or None,
            name=self.name or None,
            status=_status(self.status),
            channel=self.channel or None,
            ordered_from=day_start(self.ordered_from, "From"),
            ordered_to=day_start(self.ordered_to, "To", after=True),
            on_hold=_on_hold(self.on_hold),
        )


@router.get("/orders", response_class=HTMLResponse, include_in_schema=False)
def orders(
    request: Request,
    visitor: OrderDesk,
    db: Db,
    form: Annotated[OrdersForm, Depends()],
) -> HTMLResponse:
    """Order summaries newest first, searched, `limit` a page. An htmx request (the form as
    you type) gets the results alone."""
    rows: list[dict[str, Any]] = []
    next_cursor = None
    error = ""
    with db.reading() as session:
        channels = known_channels(session)
        try:
            after = decode_cursor(form.cursor, prefix="os_")
            found = search_orders(session, form.search(), after_id=after, limit=form.limit + 1)
        except SearchInvalid as exc:
            error = str(exc)
        else:
            rows = found[: form.limit]
            if len(found) > form.limit:
                next_cursor = encode_cursor(rows[-1]["id"])
    template = "orders_results.html" if request.headers.get("HX-Request") else "orders.html"
    return page(
        request,
        template,
        visitor,
        status_code=400 if error else 200,
        title="Orders",
        form=form.fields(),
        rows=rows,
        next_cursor=next_cursor,
        first_page=not form.cursor,
        error=error,
        statuses=[s.value for s in OrderSummaryStatus],
        channels=channels,
    )


def _on_hold(value: str) -> bool:
    if value not in ("", "1"):
        raise SearchInvalid(f"On hold {value!r} is not a choice: check the box or leave it.")
    return value == "1"


def _status(value: str) -> str | None:
    if not value:
        return None
    if value not in {s.value for s in OrderSummaryStatus}:
        raise SearchInvalid(f"Status {value!r} is not an order status.")
    return value


@router.get("/orders/{summary_id}", response_class=HTMLResponse, include_in_schema=False)
def order(
    request: Request,
    summary_id: Annotated[str, Path(max_length=60)],
    visitor: OrderDesk,
    db: Db,
    done: Done = "",
) -> HTMLResponse:
    """Everything about one order: the same read model as GET /api/v1/order-summaries/{id}.
    `done` names the action that brought the browser back here (see order_actions.py)."""
    return order_page(request, visitor, db, summary_id, notice=DONE.get(done, ""))


# What the order page says after an action's redirect (the action itself is in the timeline).
DONE = {
    "held": "The order is on hold.",
    "released": "The hold is released.",
    "canceled": "The units are canceled.",
    "returned": "The return is recorded; its refund is on its way.",
    "rma": "The return is open: approve it, then receive the units when they arrive.",
    "received": "The units are received.",
    "return-moved": "The return moved on.",
    "discounted": "The discount is applied.",
    "reshipped": "The reship is recorded; its fulfillment orders are being routed.",
    "exchanged": "The exchange is recorded.",
    "refunded": "The refund is sent.",
}


def order_page(
    request: Request,
    visitor: Visitor,
    db: Database,
    summary_id: str,
    *,
    status_code: int = 200,
    errors: dict[str, str] | None = None,
    notice: str = "",
) -> HTMLResponse:
    """The order page; `errors` puts a refused action's sentence beside its form."""
    with db.reading() as session:
        try:
            summary = order_summary_view(session, summary_id)
        except OrderSummaryNotFound:
            raise PageNotFound(f"There is no order {summary_id!r}.") from None
        refunds = summary_refunds(session, summary_id)
    return page(
        request,
        "order.html",
        visitor,
        status_code=status_code,
        title=f"Order {summary['external_reference']}",
        o=summary,
        events=timeline(summary["events"]),
        can_act=visitor.identity.allows(*ORDER_ACTIONS),
        can_refund=visitor.identity.allows(*MONEY_ACTIONS),
        refunds=refunds,
        errors=errors or {},
        notice=notice,
    )
