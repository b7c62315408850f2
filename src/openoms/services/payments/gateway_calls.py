"""Calling a payment gateway and recording what it answered: the pieces every money
movement shares (authorize in payments/authorizations.py, capture in payments/captures.py,
refunds in payments/refunds.py).

A call is prepared in one short transaction (`GatewayCall`, holding the token in memory
only), sent with no transaction open (`call_gateway`), and settled in another short
transaction that logs it (`log_gateway_call`) under the locked order summary
(`locked_summary`): every change to a summary's payments is serialised on that lock.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy.orm import Session

from openoms.adapters.db import models as m
from openoms.adapters.db.repositories import finance as finance_repo
from openoms.adapters.db.repositories import fulfillment as fulfillment_repo
from openoms.adapters.db.repositories import payments as repo
from openoms.adapters.db.session import Database, retry_transient
from openoms.adapters.outbox import Outbox
from openoms.adapters.payments import Gateways, GatewayUnknown
from openoms.domain.events import DomainEvent
from openoms.domain.finance import Amounts
from openoms.domain.fulfillment import ProcessExceptionCategory
from openoms.domain.order import ItemType
from openoms.domain.payments import ItemBilling, OrderFunds, PaymentBalance, still_to_invoice
from openoms.domain.ports import GatewayRequest, GatewayResponse, GatewayResult
from openoms.services.exceptions import raise_exception
from openoms.services.finance import billed_per_item

log = logging.getLogger(__name__)
R = GatewayResult


class GatewayOperation(StrEnum):
    AUTHORIZE = "authorize"
    CAPTURE = "capture"
    REFUND = "refund"
    REVERSE = "reverse"


@dataclass(frozen=True, slots=True)
class GatewayCall:
    """A prepared call: what to send, to which gateway, for which row. Holds the token in
    memory only, between the prepare and settle transactions."""

    row_id: str  # the Payment (capture, refund) or PaymentAuthorization it settles
    payment_summary_id: str
    gateway: str
    operation: GatewayOperation
    request: GatewayRequest


def call_gateway(gateways: Gateways, call: GatewayCall) -> GatewayResponse:
    """Send one call, outside any transaction. An unknown gateway is PERMANENT_FAIL; an
    exception from the adapter is INDETERMINATE (the outcome is unknown: retry, same key)."""
    try:
        gateway = gateways.get(call.gateway)
    except GatewayUnknown as exc:
        return GatewayResponse(R.PERMANENT_FAIL, 0, None, exc.detail)
    method = {
        GatewayOperation.AUTHORIZE: gateway.authorize,
        GatewayOperation.CAPTURE: gateway.capture,
        GatewayOperation.REFUND: gateway.refund,
        GatewayOperation.REVERSE: gateway.reverse_authorization,
    }[call.operation]
    try:
        return method(call.request)
    except Exception as exc:
        log.warning("gateway %s %s raised %s", call.gateway, call.operation, type(exc).__name__)
        return GatewayResponse(R.INDETERMINATE, 0, None, f"{type(exc).__name__}: {exc}"[:500])


Settle = Callable[[Session, Outbox, str, GatewayCall, GatewayResponse], None]


def send_and_settle(
    db: Database,
    outbox: Outbox,
    gateways: Gateways,
    order_summary_id: str,
    calls: list[GatewayCall],
    settle: Settle,
) -> list[tuple[GatewayCall, GatewayResponse]]:
    """Send each prepared call with no transaction open, then `settle` each answer in its
    own short transaction (run afresh after a deadlock or serialization failure)."""
    results = [(call, call_gateway(gateways, call)) for call in calls]
    for call, response in results:

        def settle_one(call: GatewayCall = call, response: GatewayResponse = response) -> None:
            with db.transaction() as session:
                settle(session, outbox, order_summary_id, call, response)

        retry_transient(settle_one)
    return results


def retry_detail(results: Iterable[tuple[GatewayCall, GatewayResponse]]) -> str:
    """The soft declines and unknown answers among `results` (run again later), as
    `result: message` joined by `; `; empty when there are none."""
    unsettled = [r for _, r in results if r.result in (R.DECLINE, R.INDETERMINATE)]
    return "; ".join(f"{r.result.value}: {r.message}" for r in unsettled)


def log_gateway_call(
    session: Session,
    *,
    order_payment_summary_id: str | None,
    gateway: str,
    operation: GatewayOperation,
    request: GatewayRequest,
    response: GatewayResponse,
) -> m.PaymentGatewayLog:
    """Record a request and its answer. The token is never written: the payment summary id
    says which payment method it was."""
    entry = m.PaymentGatewayLog(
        order_payment_summary_id=order_payment_summary_id,
        gateway=gateway,
        operation=operation.value,
        idempotency_key=request.idempotency_key,
        amount=request.amount,
        currency=request.currency,
        result=response.result.value,
        gateway_reference=response.reference or request.reference,
        message=response.message[:2000] or None,
    )
    session.add(entry)
    return entry


def log_answer(
    session: Session, call: GatewayCall, response: GatewayResponse
) -> m.PaymentGatewayLog:
    """Record a prepared call's request and the gateway's answer to it."""
    return log_gateway_call(
        session,
        order_payment_summary_id=call.payment_summary_id,
        gateway=call.gateway,
        operation=call.operation,
        request=call.request,
        response=response,
    )


def balance_of(ps: m.OrderPaymentSummary) -> PaymentBalance:
    return PaymentBalance(
        authorized=ps.authorized,
        captured=ps.captured,
        refunded=ps.refunded,
        reversed=ps.reversed,
        pending_capture=ps.pending_capture,
        pending_refund=ps.pending_refund,
    )


def order_funds(session: Session, order_summary_id: str, *, with_items: bool = True) -> OrderFunds:
    """The order's money as `OrderFunds` sees it, read from its rows (payment summaries,
    invoices, credit memos and, `with_items`, what its items have still to be invoiced)."""
    held = pending = 0
    for ps in repo.payment_summaries(session, order_summary_id):
        held += ps.captured - ps.refunded - ps.pending_refund
        pending += ps.pending_capture
    invoiced, invoice_balances = finance_repo.document_sums(session, m.Invoice, order_summary_id)
    credited, credit_balances = finance_repo.document_sums(session, m.CreditMemo, order_summary_id)
    return OrderFunds(
        held=held,
        pending_capture=pending,
        invoiced=invoiced,
        invoice_balances=invoice_balances,
        credited=credited,
        credit_balances=credit_balances,
        to_invoice=_to_invoice(session, order_summary_id) if with_items else 0,
    )


def _to_invoice(session: Session, order_summary_id: str) -> int:
    billed = billed_per_item(session, order_summary_id)
    return still_to_invoice(
        [
            ItemBilling(
                group=item.delivery_group_summary_id,
                is_charge=item.type == ItemType.DELIVERY_CHARGE.value,
                net_units=item.quantity_ordered - item.quantity_canceled,
                invoiced_units=billed.get(item.id, Amounts()).quantity,
                total=item.total_price + item.adjustments + item.tax,
                billed=billed.get(item.id, Amounts()).total,
            )
            for item in fulfillment_repo.summary_items(session, order_summary_id)
        ]
    )


def excess_captured(session: Session, order_summary_id: str) -> int:
    """Captured funds that no invoice took and that are not refunded (or being refunded):
    what ensure funds applies first (`OrderFunds.excess`: parts of invoices a credit memo
    paid are not counted as paid by captured money)."""
    return order_funds(session, order_summary_id, with_items=False).excess


def refundable_excess(session: Session, order_summary_id: str) -> int:
    """Excess funds to refund now (`OrderFunds.refundable`): held beyond what the order owes,
    counting what is still to be invoiced, and beyond the open credit memo balances. Never
    more, so a capture on order is refunded at once for a cancel, and the rest only when
    nothing is left to invoice."""
    return order_funds(session, order_summary_id).refundable


def record_exception(
    session: Session,
    outbox: Outbox,
    summary: m.OrderSummary,
    *,
    dedupe_key: str,
    severity: str,
    message: str,
    action: dict[str, Any],
) -> None:
    raise_exception(
        session,
        outbox,
        order_summary_id=summary.id,
        category=ProcessExceptionCategory.PAYMENT,
        severity=severity,
        dedupe_key=dedupe_key,
        message=message,
        action=action,
    )


def payment_event(name: str, summary: m.OrderSummary, **payload: Any) -> DomainEvent:
    aggregate = str(payload.get("payment_id") or payload.get("payment_authorization_id"))
    return DomainEvent(
        name,
        "payment",
        aggregate,
        {"order_summary_id": summary.id, **payload},
        summary.id,
    )
