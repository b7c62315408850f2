"""The Shopify connector: tells a shop about shipments and cancellations through the Admin
REST API (`X-Shopify-Access-Token`).

A shipment is three calls: the order's line items (to know each line's SKU), its
fulfillment orders (what is still fulfillable, per fulfillment order line), then one
`POST fulfillments.json` with the tracking. A retry after a lost answer finds the units
fulfilled already and creates nothing twice. A cancellation is `POST
orders/{id}/cancel.json`. Money (the `shopify` payment gateway, adapters/channels/payments.py)
is `POST orders/{id}/transactions.json` (kind capture or void, with the parent transaction)
and `POST orders/{id}/refunds.json` for a refund; `GET orders/{id}/transactions.json` looks
an authorization up. A 429 waits `Retry-After` (at most `max_wait` seconds) and a 5xx
or a network error waits a little, both up to `max_tries` times; past that the call raises
`ChannelUnavailable` (the job reschedules it), and any other 4xx `ChannelRejected`. The
access token is never logged."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import httpx

from openoms.domain.errors import DomainError
from openoms.domain.money import Money, format_minor
from openoms.domain.ports import (
    AuthorizationLookup,
    AuthorizationState,
    ChannelAnswer,
    ChannelAuthorizationQuery,
    ChannelCancel,
    ChannelFulfillment,
    ChannelRejected,
    ChannelTransaction,
    ChannelUnavailable,
)
from openoms.domain.shopify import REFUND_NOTE

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

    def transact(self, channel: str, request: ChannelTransaction) -> ChannelAnswer:
        """A capture or void (`POST orders/{id}/transactions.json`) of the order's `parent`
        transaction, or a refund of it (`POST orders/{id}/refunds.json`, as Shopify requires,
        its note naming openoms' idempotency key). A refund sent again after a lost answer
        finds the refund with its key and makes none; Shopify's transactions take no key, so
        a capture sent again is refused by Shopify (422) when it would exceed what is left."""
        if request.kind == "refund":
            return self._refund(request)
        transaction: dict[str, Any] = {"kind": request.kind}
        if _numeric(request.parent):
            transaction["parent_id"] = int(request.parent or "0")
        # Else (`shopify-order-{id}`: no transaction id was known) Shopify acts on the
        # order's own authorization.
        if request.kind != "void":
            transaction["amount"] = format_minor(request.amount, request.currency)
            transaction["currency"] = request.currency
        answer = self._call(
            "POST",
            f"orders/{request.external_reference}/transactions.json",
            json={"transaction": transaction},
        )
        return _made(answer.get("transaction"), request)

    def _refund(self, request: ChannelTransaction) -> ChannelAnswer:
        order_id = request.external_reference
        note = f"{REFUND_NOTE}{request.idempotency_key}"
        found = self._call("GET", f"orders/{order_id}/refunds.json")
        for refund in found.get("refunds") or []:
            if isinstance(refund, dict) and refund.get("note") == note:
                return _made(_first(refund.get("transactions")), request)
        listed = self._call("GET", f"orders/{order_id}/transactions.json")
        parent = next(
            (
                t
                for t in listed.get("transactions") or []
                if isinstance(t, dict) and str(t.get("id")) == request.parent
            ),
            {},
        )
        transaction: dict[str, Any] = {
            "kind": "refund",
            "amount": format_minor(request.amount, request.currency),
            "gateway": parent.get("gateway"),
        }
        if _numeric(request.parent):
            transaction["parent_id"] = int(request.parent or "0")
        body = {
            "refund": {
                "currency": request.currency,
                "notify": False,
                "note": note,
                "transactions": [transaction],
            }
        }
        answer = self._call("POST", f"orders/{order_id}/refunds.json", json=body)
        refund = answer.get("refund") or {}
        return _made(_first(refund.get("transactions")), request)

    def authorization(self, channel: str, query: ChannelAuthorizationQuery) -> AuthorizationLookup:
        """`GET orders/{id}/transactions.json`: the authorization (or sale) `reference` — the
        order's first successful one for `shopify-order-{id}` — with what its successful
        captures took and whether it was voided."""
        answer = self._call("GET", f"orders/{query.external_reference}/transactions.json")
        transactions = [t for t in answer.get("transactions") or [] if isinstance(t, dict)]
        done = [t for t in transactions if t.get("status") == "success"]
        found = next(
            (
                t
                for t in done
                if t.get("kind") in ("authorization", "sale")
                and (not query.reference.isdigit() or str(t.get("id")) == query.reference)
            ),
            None,
        )
        if found is None:
            return AuthorizationLookup(query.reference, AuthorizationState.UNKNOWN)
        currency = str(found.get("currency") or query.currency)
        try:
            amount = Money.parse(str(found.get("amount")), currency).minor
            children = [t for t in done if t.get("parent_id") == found.get("id")]
            captured = sum(
                Money.parse(str(t.get("amount")), currency).minor
                for t in children
                if t.get("kind") == "capture"
            )
        except DomainError:
            raise ChannelRejected(
                f"Shopify order {query.external_reference}: transaction amounts unreadable"
            ) from None
        left = 0 if found.get("kind") == "sale" else max(amount - captured, 0)
        if any(t.get("kind") == "void" for t in children):
            state, left = AuthorizationState.REVERSED, 0
        else:
            state = AuthorizationState.OPEN if left else AuthorizationState.CAPTURED
        return AuthorizationLookup(query.reference, state, amount, currency, left)

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


def _numeric(reference: str | None) -> bool:
    return bool(reference) and str(reference).isdigit()


def _first(transactions: Any) -> dict[str, Any]:
    if isinstance(transactions, list) and transactions and isinstance(transactions[0], dict):
        return transactions[0]
    return {}


def _made(transaction: Any, request: ChannelTransaction) -> ChannelAnswer:
    """Shopify's answer for a transaction: its id, or ChannelRejected unless it succeeded."""
    made = transaction if isinstance(transaction, dict) else {}
    if made.get("status") not in (None, "success"):
        raise ChannelRejected(
            f"Shopify answered {request.kind} of order {request.external_reference} with "
            f"status {made.get('status')!r}: {str(made.get('message') or '')[:200]}"
        )
    return ChannelAnswer(reference=str(made["id"]) if "id" in made else None)


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
