"""Shopify orders as openoms orders: the pure part of the Shopify adapter.

`verify_hmac` checks a delivery's signature; `order_draft` maps an `orders/create` payload
to an `OrderDraft`; `check_totals` prices the draft as capture will and refuses it unless
its totals equal Shopify's `total_price`, `total_tax` and `total_discounts` to the cent;
`order_payment` reads `financial_status` into the payment the order is captured with;
`refund_amount` sums a refund's successful transactions. No session, no clock, no
network (docs/channels.md lists every mapping decision).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from openoms.domain.errors import DomainError, ValidationFailed
from openoms.domain.money import Money, distribute, format_minor
from openoms.domain.order import (
    Address,
    Adjustment,
    Customer,
    DeliveryGroup,
    DeliveryMethod,
    OrderDraft,
    OrderLine,
    PaymentMethod,
    PricedOrder,
    Recipient,
    price_order,
)

GROUP = "shopify"
GATEWAY = "shopify"  # the payment gateway adapter that captures and refunds through Shopify
# A refund openoms makes in Shopify carries this note and its idempotency key: a retry finds
# it, and its `refunds/create` webhook is known as openoms' own (recorded when it was sent).
REFUND_NOTE = "openoms refund "


class ShopifyOrderRefused(ValidationFailed):
    """An order openoms cannot take as it is (no SKU, a gift card, no address …)."""

    code = "shopify_order_refused"
    title = "Shopify order cannot be captured"


class ShopifyTotalsMismatch(DomainError):
    """The captured order's totals would differ from Shopify's: never accepted silently."""

    code = "shopify_totals_mismatch"
    status = 409
    title = "Shopify order totals do not match"


def verify_hmac(body: bytes, secret: str, signature: str | None) -> bool:
    """True when `signature` is the base64 HMAC-SHA256 of the raw `body` with `secret`,
    compared in constant time."""
    if not signature or not secret:
        return False
    expected = base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest())
    return hmac.compare_digest(expected, signature.strip().encode("ascii", "replace"))


@dataclass(frozen=True, slots=True)
class ShopifyOrder:
    """An `orders/create` payload mapped: the draft to capture, Shopify's order `name` (kept
    for search) and the shipping discount (counted in Shopify's `total_discounts`)."""

    draft: OrderDraft
    name: str | None
    shipping_discount: int


def order_reference(payload: Mapping[str, Any]) -> str:
    """Shopify's order id as the external reference (refunds carry it as `order_id`)."""
    raw = payload.get("id")
    if isinstance(raw, bool) or not isinstance(raw, int | str) or not str(raw).strip():
        raise ShopifyOrderRefused("the payload has no order id", field="id")
    return str(raw)


def order_draft(payload: Mapping[str, Any], *, channel: str) -> ShopifyOrder:
    """The openoms draft of a Shopify order, or ShopifyOrderRefused naming the field."""
    currency = _text(payload, "currency")
    included = payload.get("taxes_included") is True
    lines: list[OrderLine] = []
    for i, item in enumerate(_list(payload, "line_items")):
        lines.extend(_lines(item, i, currency, included, _discount_titles(payload)))
    if not lines:
        raise ShopifyOrderRefused("the order has no line items", field="line_items")
    charge, charge_tax, shipping_discount, service = _shipping(payload, currency, included)
    if not charge_tax and not any(line.tax for line in lines):
        lines = _order_level_tax(payload, lines, currency, included)
    group = DeliveryGroup(
        ref=GROUP,
        method=DeliveryMethod.SHIP,
        service=service,
        recipient=_recipient(payload),
        charge=charge,
        charge_tax=charge_tax,
    )
    draft = OrderDraft(
        channel=channel,
        external_reference=order_reference(payload),
        currency=currency,
        ordered_at=_ordered_at(payload),
        customer=_customer(payload),
        delivery_groups=(group,),
        lines=tuple(lines),
    )
    name = payload.get("name")
    return ShopifyOrder(draft, str(name) if name else None, shipping_discount)


def check_totals(order: ShopifyOrder, payload: Mapping[str, Any]) -> PricedOrder:
    """Price the draft as capture will; ShopifyTotalsMismatch (naming the figure, with
    both values) unless discounts, tax and the grand total equal Shopify's to the cent."""
    priced = price_order(order.draft)
    currency = order.draft.currency
    totals = priced.totals
    figures = (
        ("total_discounts", -totals.adjustments + order.shipping_discount),
        ("total_tax", totals.tax),
        ("total_price", totals.grand_total),
    )
    for figure, ours in figures:
        theirs = _money(payload, figure, currency)
        if ours != theirs:
            raise ShopifyTotalsMismatch(
                f"{figure} is {format_minor(theirs, currency)} in Shopify but the order "
                f"would capture {format_minor(ours, currency)}: nothing was captured",
                field=figure,
                figure=figure,
                shopify=format_minor(theirs, currency),
                openoms=format_minor(ours, currency),
            )
    return priced


@dataclass(frozen=True, slots=True)
class ShopifyPayment:
    """How a Shopify order is paid in openoms: `method` the payment it is captured with
    (None: on account), `captured` True when Shopify captured it already (`paid`), with the
    capture's reference in `capture_reference`."""

    method: PaymentMethod | None
    captured: bool = False
    capture_reference: str | None = None


# `financial_status` values refused, and why (docs/channels.md).
REFUSED_STATUSES = {
    "partially_paid": "part of the order is paid: openoms cannot tell how the rest is collected",
    "partially_refunded": "part of the payment was refunded before openoms saw the order",
    "refunded": "the payment was refunded before openoms saw the order",
    "voided": "the payment authorization was voided: nothing is left to collect",
}


def payment_token(channel: str, order_id: str) -> str:
    """The payment token of a Shopify order's payment summary: the channel (whose adapter's
    connector the `shopify` gateway calls) and Shopify's order id."""
    return f"{channel}:{order_id}"


def parse_payment_token(token: str) -> tuple[str, str]:
    """(channel, Shopify order id) of `payment_token`."""
    channel, _, order_id = token.rpartition(":")
    return channel, order_id


def order_payment(payload: Mapping[str, Any], *, channel: str, total: int) -> ShopifyPayment:
    """The payment of an `orders/create` payload of grand total `total` (minor units):

    - `authorized`: a `shopify` authorization of the total, its reference the successful
      `authorization` transaction's id when the payload has `transactions`, else
      `shopify-order-{id}` (Shopify captures an order's open authorization by the order);
    - `paid`: the same, already captured: the capture's reference is the successful `sale`
      or `capture` transaction's id (else `shopify-order-{id}`);
    - `pending` (a manual payment: bank deposit, cash on delivery), or a total of 0: on
      account, no payment;
    - anything else is refused, naming the status (`REFUSED_STATUSES`)."""
    order_id = order_reference(payload)
    status = payload.get("financial_status")
    if status == "pending":
        return ShopifyPayment(None)
    if status not in ("authorized", "paid"):
        why = REFUSED_STATUSES.get(str(status), "openoms does not know this payment state")
        raise ShopifyOrderRefused(
            f"financial_status {status!r} is not taken: {why}", field="financial_status"
        )
    if total == 0:  # nothing to collect (a fully discounted order): on account
        return ShopifyPayment(None)
    fallback = f"shopify-order-{order_id}"
    authorization = _transaction_id(payload, ("authorization",))
    captured = _transaction_id(payload, ("sale", "capture")) if status == "paid" else None
    reference = authorization or captured or fallback
    method = PaymentMethod(GATEWAY, payment_token(channel, order_id), total, reference)
    if status == "authorized":
        return ShopifyPayment(method)
    return ShopifyPayment(method, captured=True, capture_reference=captured or fallback)


def made_by_openoms(payload: Mapping[str, Any]) -> bool:
    """A `refunds/create` of a refund openoms itself sent (its note, `REFUND_NOTE`)."""
    note = payload.get("note")
    return isinstance(note, str) and note.startswith(REFUND_NOTE)


def refund_amount(payload: Mapping[str, Any], currency: str) -> int:
    """The money a `refunds/create` payload gave back: Σ its successful `refund`
    transactions (minor units)."""
    refunded = 0
    for i, transaction in enumerate(_transactions(payload)):
        if transaction.get("kind") != "refund" or transaction.get("status") not in (
            None,
            "success",
        ):
            continue
        refunded += _money(transaction, "amount", currency, where=f"transactions[{i}]")
    return refunded


def _transactions(payload: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    found = payload.get("transactions")
    if not isinstance(found, list):
        return []
    return [t for t in found if isinstance(t, Mapping)]


def _transaction_id(payload: Mapping[str, Any], kinds: tuple[str, ...]) -> str | None:
    """The id of the last successful transaction of one of `kinds`, if any."""
    found = None
    for transaction in _transactions(payload):
        if transaction.get("kind") in kinds and transaction.get("status") in (None, "success"):
            raw = transaction.get("id")
            if isinstance(raw, int | str) and not isinstance(raw, bool) and str(raw).strip():
                found = str(raw)
    return found


# --- lines -------------------------------------------------------------------------------


def _lines(
    item: Any, index: int, currency: str, included: bool, titles: Sequence[str]
) -> list[OrderLine]:
    where = f"line_items[{index}]"
    if not isinstance(item, Mapping):
        raise ShopifyOrderRefused(f"{where} is not an object", field=where)
    title = str(item.get("name") or item.get("title") or "")
    if item.get("gift_card") is True:
        raise ShopifyOrderRefused(
            f"{where} ({title}) is a gift card: Shopify issues gift cards itself and openoms "
            "does not fulfil them",
            field=f"{where}.gift_card",
        )
    sku = str(item.get("sku") or "").strip()
    if not sku:
        raise ShopifyOrderRefused(
            f"{where} ({title}) has no SKU: openoms reserves and ships stock by SKU; give the "
            "variant a SKU in Shopify, then retry",
            field=f"{where}.sku",
        )
    quantity = item.get("quantity")
    if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 1:
        raise ShopifyOrderRefused(f"{where}.quantity must be a whole number of units", field=where)
    price = _money(item, "price", currency, where=where)
    tax = sum(_money(t, "price", currency, where=f"{where}.tax_lines") for t in _taxes(item))
    discounts = [
        Adjustment(-_money(a, "amount", currency, where=f"{where}.discount_allocations"), reason)
        for a, reason in _allocations(item, titles)
    ]
    gross = price * quantity
    if not included:
        return [OrderLine(sku, quantity, price, GROUP, tax, title or None, tuple(discounts))]
    # Tax included: the line's net value is its gross price less its tax, which may not
    # divide by the quantity; the units then split over two lines a cent apart.
    net = gross - tax
    unit, extra = divmod(net, quantity)
    parts = [(quantity - extra, unit), (extra, unit + 1)] if extra else [(quantity, unit)]
    weights = [q * u for q, u in parts]
    taxes = distribute(tax, weights)
    shares = [distribute(a.amount, weights) for a in discounts]
    return [
        OrderLine(
            sku,
            q,
            u,
            GROUP,
            taxes[k],
            title or None,
            tuple(Adjustment(s[k], a.reason) for a, s in zip(discounts, shares, strict=True)),
        )
        for k, (q, u) in enumerate(parts)
    ]


def _order_level_tax(
    payload: Mapping[str, Any], lines: list[OrderLine], currency: str, included: bool
) -> list[OrderLine]:
    """Older payloads carry tax only in the order's `tax_lines`: it is spread over the
    product lines by their net price (largest remainder), so it adds up to the cent."""
    tax = sum(_money(t, "price", currency, where="tax_lines") for t in _taxes(payload))
    if not tax:
        return lines
    if included:
        raise ShopifyOrderRefused(
            "tax included in prices but given only for the whole order: openoms cannot tell "
            "each line's net price",
            field="tax_lines",
        )
    weights = [
        line.unit_price * line.quantity + sum(a.amount for a in line.adjustments) for line in lines
    ]
    shares = distribute(tax, weights)
    return [replace(line, tax=share) for line, share in zip(lines, shares, strict=True)]


def _discount_titles(payload: Mapping[str, Any]) -> list[str]:
    titles = []
    for app in payload.get("discount_applications") or []:
        if isinstance(app, Mapping):
            titles.append(str(app.get("code") or app.get("title") or app.get("type") or ""))
        else:
            titles.append("")
    return titles


def _allocations(item: Mapping[str, Any], titles: Sequence[str]) -> list[tuple[Any, str]]:
    found = []
    for allocation in item.get("discount_allocations") or []:
        index = (
            allocation.get("discount_application_index")
            if isinstance(allocation, Mapping)
            else None
        )
        title = titles[index] if isinstance(index, int) and 0 <= index < len(titles) else ""
        found.append((allocation, f"shopify discount {title}".strip()))
    return found


def _taxes(item: Mapping[str, Any]) -> list[Any]:
    taxes = item.get("tax_lines") or []
    return list(taxes) if isinstance(taxes, list) else []


# --- shipping, recipient, customer ------------------------------------------------------


def _shipping(
    payload: Mapping[str, Any], currency: str, included: bool
) -> tuple[int, int, int, str | None]:
    """(charge, its tax, the shipping discount, the first line's title)."""
    charge = tax = discount = 0
    service = None
    for i, line in enumerate(payload.get("shipping_lines") or []):
        where = f"shipping_lines[{i}]"
        if not isinstance(line, Mapping):
            raise ShopifyOrderRefused(f"{where} is not an object", field=where)
        line_tax = sum(
            _money(t, "price", currency, where=f"{where}.tax_lines") for t in _taxes(line)
        )
        line_discount = sum(
            _money(a, "amount", currency, where=f"{where}.discount_allocations")
            for a in line.get("discount_allocations") or []
        )
        price = _money(line, "price", currency, where=where)
        charge += price - line_discount - (line_tax if included else 0)
        tax += line_tax
        discount += line_discount
        service = service or (str(line.get("title") or line.get("code") or "") or None)
    return charge, tax, discount, service


def _recipient(payload: Mapping[str, Any]) -> Recipient:
    source = payload.get("shipping_address") or payload.get("billing_address")
    if not isinstance(source, Mapping) or not source.get("address1") or not source.get("city"):
        raise ShopifyOrderRefused(
            "the order has no shipping (or billing) address with address1 and city: openoms "
            "ships every Shopify order",
            field="shipping_address",
        )
    country = str(source.get("country_code") or "").strip()
    if not country:
        raise ShopifyOrderRefused(
            "shipping_address.country_code is missing", field="shipping_address"
        )
    name = str(source.get("name") or _full_name(source) or "").strip() or "Shopify customer"
    return Recipient(
        name=name,
        phone=_optional(source.get("phone")),
        email=_optional(payload.get("email")),
        address=Address(
            line1=str(source["address1"]),
            line2=_optional(source.get("address2")),
            city=str(source["city"]),
            region=_optional(source.get("province_code")),
            postal_code=_optional(source.get("zip")),
            country=country,
            lat=_coordinate(source.get("latitude")),
            lon=_coordinate(source.get("longitude")),
        ),
    )


def _customer(payload: Mapping[str, Any]) -> Customer:
    customer = payload.get("customer")
    name = _full_name(customer) if isinstance(customer, Mapping) else None
    if not name:
        address = payload.get("billing_address") or payload.get("shipping_address")
        name = _full_name(address) if isinstance(address, Mapping) else None
    email = _optional(payload.get("email")) or _optional(payload.get("contact_email"))
    return Customer(name=name or email or "Shopify customer", email=email)


def _full_name(source: Mapping[str, Any]) -> str | None:
    parts = [str(source.get(k) or "").strip() for k in ("first_name", "last_name")]
    return " ".join(p for p in parts if p) or None


def _ordered_at(payload: Mapping[str, Any]) -> datetime:
    raw = payload.get("processed_at") or payload.get("created_at")
    try:
        when = datetime.fromisoformat(str(raw))
    except ValueError:
        raise ShopifyOrderRefused(
            f"created_at {raw!r} is not an ISO 8601 time", field="created_at"
        ) from None
    if when.tzinfo is None:
        raise ShopifyOrderRefused("created_at has no time zone", field="created_at")
    return when


# --- values ------------------------------------------------------------------------------


def _money(source: Any, key: str, currency: str, *, where: str | None = None) -> int:
    field = f"{where}.{key}" if where else key
    raw = source.get(key) if isinstance(source, Mapping) else None
    if raw is None:
        raise ShopifyOrderRefused(f"{field} is missing", field=field)
    try:
        return Money.parse(str(raw), currency, field=field).minor
    except DomainError as exc:
        raise ShopifyOrderRefused(exc.detail, field=field) from None


def _text(payload: Mapping[str, Any], key: str) -> str:
    value = payload.get(key)
    if not isinstance(value, str) or not value.strip():
        raise ShopifyOrderRefused(f"{key} is missing", field=key)
    return value.strip().upper()


def _list(payload: Mapping[str, Any], key: str) -> list[Any]:
    value = payload.get(key)
    if not isinstance(value, list):
        raise ShopifyOrderRefused(f"{key} is missing", field=key)
    return value


def _optional(value: Any) -> str | None:
    text = str(value).strip() if value is not None else ""
    return text or None


def _coordinate(value: Any) -> float | None:
    try:
        return float(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None
