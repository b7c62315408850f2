"""The Shopify connector: tells a shop about shipments and cancellations through the Admin
REST API (`X-Shopify-Access-Token`).

A shipment is three calls: the order's line items (to know each line's SKU), its
fulfillment orders (what is still fulfillable, per fulfillment order line), then one
`POST fulfillments.json` with the tracking. A retry after a lost answer finds the units
fulfilled already and creates nothing twice. A cancellation is `POST
orders/{id}/cancel.json`. A 429 waits `Retry-After` (at most `max_wait` seconds) and a 5xx
or a network error waits a little, both up to `max_tries` times; past that the call raises
`ChannelUnavailable` (the job reschedules it), and any other 4xx `ChannelRejected`. The
access token is never logged."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import httpx

from openoms.domain.ports import (
    ChannelAnswer,
    ChannelCancel,
    ChannelFulfillment,
    ChannelRejected,
    ChannelUnavailable,
)

API_VERSION = "2024-10"


class ShopifyRestConnector:
    """A `ChannelConnector` over Shopify's Admin REST API at `base_url`
    (https://{shop}.myshopify.com)."""

    name = "shopify_rest"

    def __init__(
        self,
        base_url: str,
        access_token: str,
        *,
        api_version: str = API_VERSION,
        timeout: float = 10.0,
        max_tries: int = 3,
        max_wait: float = 5.0,
        sleep: Callable[[float], None] = time.sleep,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._root = f"{base_url.rstrip('/')}/admin/api/{api_version}/"
        self._client = httpx.Client(
            timeout=timeout,
            headers={"X-Shopify-Access-Token": access_token, "Accept": "application/json"},
            transport=transport,
        )
        self._max_tries = max(max_tries, 1)
        self._max_wait = max_wait
        self._sleep = sleep

    def close(self) -> None:
        self._client.close()

    def fulfill(self, channel: str, request: ChannelFulfillment) -> ChannelAnswer:
        order_id = request.external_reference
        order = self._call("GET", f"orders/{order_id}.json", params={"fields": "id,line_items"})
        skus = {li.get("id"): li.get("sku") for li in order.get("order", {}).get("line_items", [])}
        wanted = _counts(request)
        fos = self._call("GET", f"orders/{order_id}/fulfillment_orders.json")
        groups = _allocate(fos.get("fulfillment_orders", []), skus, wanted)
        if not groups:
            # Nothing open for these units: an earlier try of this shipment landed.
            return ChannelAnswer(reference=None)
        missing = {sku: n for sku, n in wanted.items() if n > 0}
        if missing:
            raise ChannelRejected(
                f"Shopify order {order_id} has no open units for {_units(missing)} to fulfil"
            )
        body = {
            "fulfillment": {
                "line_items_by_fulfillment_order": groups,
                "tracking_info": {"company": request.carrier, "number": request.tracking_number},
                "notify_customer": request.notify_customer,
            }
        }
        answer = self._call("POST", "fulfillments.json", json=body)
        fulfillment = answer.get("fulfillment") or {}
        return ChannelAnswer(reference=str(fulfillment["id"]) if "id" in fulfillment else None)

    def cancel(self, channel: str, request: ChannelCancel) -> ChannelAnswer:
        if not request.complete:
            # Shopify cancels whole orders; fewer units are a refund with restock there.
            raise ChannelRejected(
                f"Shopify cancels whole orders only; cancel {_units(_counts(request))} of "
                f"order {request.external_reference} in Shopify (refund and restock)"
            )
        answer = self._call(
            "POST",
            f"orders/{request.external_reference}/cancel.json",
            json={"reason": "other", "email": False, "restock": False},
        )
        order = answer.get("order") or {}
        return ChannelAnswer(reference=str(order["id"]) if "id" in order else None)

    def _call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        why = "no answer"
        wait: float | None = None
        for attempt in range(1, self._max_tries + 1):
            try:
                response = self._client.request(method, self._root + path, **kwargs)
            except httpx.HTTPError as exc:
                why, wait = f"{method} {path}: {type(exc).__name__}", None
            else:
                if response.status_code == 429:
                    wait = _retry_after(response, self._max_wait)
                    why = f"{method} {path}: 429 rate limited (Retry-After {wait:g}s)"
                elif response.status_code >= 500:
                    why, wait = f"{method} {path}: {response.status_code}", None
                elif response.status_code >= 400:
                    raise ChannelRejected(
                        f"{method} {path}: Shopify answered {response.status_code} "
                        f"{response.text[:300]}"
                    )
                else:
                    body = response.json() if response.content else {}
                    return body if isinstance(body, dict) else {}
            if attempt < self._max_tries:
                self._sleep(wait if wait is not None else min(0.5 * 2 ** (attempt - 1), 4.0))
        raise ChannelUnavailable(f"{why} after {self._max_tries} tries", retry_after=wait)


def _allocate(
    fulfillment_orders: list[dict[str, Any]], skus: dict[Any, Any], wanted: Counter[str]
) -> list[dict[str, Any]]:
    """Spread the wanted units per SKU over the open fulfillment order lines (taking them
    from `wanted`); the `line_items_by_fulfillment_order` of the request."""
    groups = []
    for fo in fulfillment_orders:
        if fo.get("status") not in ("open", "in_progress", "scheduled"):
            continue
        lines = []
        for line in fo.get("line_items", []):
            sku = str(skus.get(line.get("line_item_id")) or "")
            take = min(wanted.get(sku, 0), int(line.get("fulfillable_quantity") or 0))
            if sku and take > 0:
                lines.append({"id": line["id"], "quantity": take})
                wanted[sku] -= take
        if lines:
            groups.append({"fulfillment_order_id": fo["id"], "fulfillment_order_line_items": lines})
    return groups


def _retry_after(response: httpx.Response, cap: float) -> float:
    try:
        seconds = float(response.headers.get("Retry-After", "1"))
    except ValueError:
        seconds = 1.0
    return min(max(seconds, 0.0), cap)


def _counts(request: ChannelFulfillment | ChannelCancel) -> Counter[str]:
    """Units per SKU (an order may carry one SKU on several lines)."""
    counts: Counter[str] = Counter()
    for line in request.lines:
        counts[line.sku] += line.quantity
    return counts


def _units(units: dict[str, int]) -> str:
    return ", ".join(f"{n} × {sku}" for sku, n in sorted(units.items()))
