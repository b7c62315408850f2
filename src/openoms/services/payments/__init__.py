"""Payments: authorizing, verifying reported authorizations, ensuring funds (captures for
invoices and on order), refunds of credit memos and excess funds, reversals of what is no
longer needed, and an agent's capture or refund. Every gateway call is recorded before it
is made and settled after, outside any transaction.

This is the area's face: other areas, the API, the CLI and the worker import only these
names.
"""

from openoms.services.payments.actions import (
    PaymentDeclined,
    capture_payment,
    payments_of,
    prepare_capture,
    send_pending,
)
from openoms.services.payments.agent_refunds import (
    RefundDeclined,
    prepare_refund,
    refund_payment,
    send_pending_refunds,
)
from openoms.services.payments.authorizations import (
    authorize_payments,
)
from openoms.services.payments.captures import (
    ENSURE_FUNDS_JOB,
)
from openoms.services.payments.external import (
    record_external_capture,
    record_external_refund,
)
from openoms.services.payments.funds import (
    EnsureFundsResult,
    ensure_funds,
)
from openoms.services.payments.gateway_calls import (
    balance_of,
)
from openoms.services.payments.jobs import (
    authorize_after_routing,
    on_invoice_created,
    payment_consumers,
    payment_job_kinds,
)
from openoms.services.payments.refund_jobs import (
    queue_refunds,
    refund_consumers,
    refund_job,
)
from openoms.services.payments.refund_keys import (
    REFUND_JOB,
)
from openoms.services.payments.refunds import (
    ensure_refunds,
    refund_views,
    refunds_due,
    summary_refunds,
)
from openoms.services.payments.reversals import (
    REVERSE_JOB,
    reversal_consumers,
    reversal_job,
    reverse_unused_authorizations,
)
from openoms.services.payments.verification import (
    verification_job,
)

__all__ = [
    "ENSURE_FUNDS_JOB",
    "REFUND_JOB",
    "REVERSE_JOB",
    "EnsureFundsResult",
    "PaymentDeclined",
    "RefundDeclined",
    "authorize_after_routing",
    "authorize_payments",
    "balance_of",
    "capture_payment",
    "ensure_funds",
    "ensure_refunds",
    "on_invoice_created",
    "payment_consumers",
    "payment_job_kinds",
    "payments_of",
    "prepare_capture",
    "prepare_refund",
    "queue_refunds",
    "record_external_capture",
    "record_external_refund",
    "refund_consumers",
    "refund_job",
    "refund_payment",
    "refund_views",
    "refunds_due",
    "reversal_consumers",
    "reversal_job",
    "reverse_unused_authorizations",
    "send_pending",
    "send_pending_refunds",
    "summary_refunds",
    "verification_job",
]
