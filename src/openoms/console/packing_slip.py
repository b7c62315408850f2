"""A fulfillment order's packing slip: a printable page (print.css) of what goes in the
parcel — the order's reference, the ship-to (or pickup) details and each line's SKU, name and
units still to ship — with no prices. For warehouse users at the fulfillment order's
location (403 elsewhere, 404 for an unknown one) and admin."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import HTMLResponse

from openoms.console.auth import WAREHOUSE, PageNotFound, Visitor, require_role
from openoms.console.params import Db
from openoms.console.render import page
from openoms.console.warehouse_actions import location_checked
from openoms.domain.errors import NotFound
from openoms.services.fulfillment import (
    fulfillment_order_views,
    get_fulfillment_order,
    shipments_of,
)
from openoms.services.views import order_summary_view

router = APIRouter(prefix="/console")


@router.get(
    "/fulfillment/{fo_id}/packing-slip", response_class=HTMLResponse, include_in_schema=False
)
def packing_slip(
    request: Request,
    fo_id: Annotated[str, Path(max_length=60)],
    visitor: Annotated[Visitor, Depends(require_role(*WAREHOUSE))],
    db: Db,
) -> HTMLResponse:
    """The slip of one fulfillment order, for the packer and the parcel."""
    with db.reading() as session:
        try:
            location_checked(session, visitor, fo_id, acting=False)
            fo = get_fulfillment_order(session, fo_id)
        except NotFound:
            raise PageNotFound(f"There is no fulfillment order {fo_id!r}.") from None
        view = fulfillment_order_views(session, [fo], shipments_of(session, [fo.id]))[0]
        summary = order_summary_view(session, fo.order_summary_id)
    return page(
        request,
        "packing_slip.html",
        visitor,
        title=f"Packing slip {fo_id}",
        fo=view,
        order=_order(summary),
        group=_group(summary, view["delivery_group"]),
        lines=_lines(summary, view),
    )


def _order(summary: dict[str, Any]) -> dict[str, Any]:
    return {
        "reference": summary["external_reference"],
        "channel": summary["channel"],
        "ordered_at": summary["ordered_at"],
        "customer": summary.get("customer") or {},
    }


def _group(summary: dict[str, Any], ref: str | None) -> dict[str, Any]:
    group: dict[str, Any] = next(g for g in summary["delivery_groups"] if g["ref"] == ref)
    return group


def _lines(summary: dict[str, Any], fo: dict[str, Any]) -> list[dict[str, Any]]:
    """Each open line: SKU, the item's name, units to pack (ordered on this FO, shipped)."""
    names = {item["id"]: item.get("name") for item in summary["items"]}
    return [
        {
            "sku": line["sku"],
            "name": names.get(line["order_item_summary_id"]) or "",
            "quantity": line["quantity"],
            "shipped": line["shipped"],
            "to_pack": line["unshipped"],
        }
        for line in fo["lines"]
        if line["quantity"] > 0
    ]
