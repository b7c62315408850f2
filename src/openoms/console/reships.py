"""Reship and exchange on the order page, for agents (and admin), each previewed then
confirmed (previews.py) with the API's services (`preview-reship` / `submit-reship`,
`preview-exchange` / `submit-exchange`): a reship sends units again at no charge; an
exchange returns units and orders others, the difference captured or refunded."""

from __future__ import annotations

from typing import Any

from starlette.datastructures import FormData

from openoms.console.action_forms import choice, quantities, text, whole
from openoms.console.auth import ORDER_ACTIONS
from openoms.console.previews import Context, PreviewedAction, register
from openoms.domain.errors import ValidationFailed
from openoms.services.service_actions import (
    ExchangeReturn,
    NewItem,
    ReshipReason,
    ReshipRequest,
    submit_exchange,
    submit_reship,
)
from openoms.services.views import exchange_result, reship_result


def reship(context: Context, form: FormData) -> dict[str, Any]:
    """Send units again at no charge (the API's `submit-reship`)."""
    requests = [
        ReshipRequest(item_id, units) for item_id, units in quantities(form, what="to reship")
    ]
    done = submit_reship(
        context.session,
        context.outbox,
        context.summary_id,
        requests,
        reason=choice(form, "reship_reason", ReshipReason, ReshipReason.OTHER),
        note=text(form, "note"),
        requested_by=context.visitor.identity.actor,
    )
    return reship_result(context.session, done, preview=context.preview)


def exchange(context: Context, form: FormData) -> dict[str, Any]:
    """Return units and order another item instead (the API's `submit-exchange`)."""
    returns = [
        ExchangeReturn(item_id, units, None)
        for item_id, units in quantities(form, what="to send back")
    ]
    sku = text(form, "new_sku", limit=100)
    if sku is None:
        raise ValidationFailed("name the SKU sent instead", field="new_sku")
    new_item = NewItem(
        sku=sku,
        quantity=whole(text(form, "new_quantity") or "1", "new quantity"),
        unit_price=text(form, "new_unit_price", limit=40) or "",
        tax=text(form, "new_tax", limit=40) or "0",
        name=text(form, "new_name", limit=300),
        delivery_group=text(form, "new_delivery_group", limit=100),
    )
    done = submit_exchange(
        context.session,
        context.outbox,
        context.summary_id,
        returns,
        [new_item],
        reason=text(form, "reason"),
        expected_location=text(form, "expected_location", limit=100),
        requested_by=context.visitor.identity.actor,
    )
    return exchange_result(context.session, done, preview=context.preview)


register(
    "reship",
    PreviewedAction("Reship", "Confirm the reship", "reshipped", ORDER_ACTIONS, reship),
)
register(
    "exchange",
    PreviewedAction("Exchange", "Confirm the exchange", "exchanged", ORDER_ACTIONS, exchange),
)
