"""Finance: invoices for what shipped, credit memos for what a change owes back, the
exchange credit that pays an exchange's new items (`credit.py`), and reconciliation.

This is the area's face: other areas, the API, the CLI and the worker import only these
names.
"""

from openoms.services.finance.credit import (
    apply_exchange_credit,
    held_memo_ids,
    settled_exchange_memos,
)
from openoms.services.finance.credit_memos import (
    apply_credit,
    create_credit_memo,
)
from openoms.services.finance.documents import (
    CreditMemoStatus,
    InvoiceStatus,
    billed_per_item,
    documents_of,
)
from openoms.services.finance.invoicing import (
    invoice_shipment,
    invoicing_consumers,
    shipment_source_key,
)
from openoms.services.finance.reconciliation import (
    Ledger,
    reconcile,
)

__all__ = [
    "CreditMemoStatus",
    "InvoiceStatus",
    "Ledger",
    "apply_credit",
    "apply_exchange_credit",
    "billed_per_item",
    "create_credit_memo",
    "documents_of",
    "held_memo_ids",
    "invoice_shipment",
    "invoicing_consumers",
    "reconcile",
    "settled_exchange_memos",
    "shipment_source_key",
]
