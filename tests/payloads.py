"""Keyword-only factories of API payloads (DESIGN.md §12)."""

from __future__ import annotations

import copy
from typing import Any

EXAMPLE_ORDER: dict[str, Any] = {
    "channel": "web-uk",
    "external_reference": "WEB-10001",
    "currency": "GBP",
    "lifecycle": "MANAGED",
    "ordered_at": "2026-11-20T10:00:00Z",
    "customer": {"name": "Ada Lovelace", "email": "ada@example.com"},
    "delivery_groups": [
        {
            "ref": "home",
            "method": "ship",
            "service": "standard",
            "recipient": {
                "name": "Ada Lovelace",
                "address": {
                    "line1": "1 Main St",
                    "city": "London",
                    "postal_code": "EC1A 1BB",
                    "country": "GB",
                    "lat": 51.52,
                    "lon": -0.10,
                },
            },
            "delivery_charge": {"amount": "4.99", "tax": "1.00"},
        },
        {"ref": "store", "method": "pickup", "pickup_location": "STORE-LDN"},
    ],
    "items": [
        {
            "sku": "TEE-M",
            "quantity": 3,
            "unit_price": "20.00",
            "tax": "12.00",
            "delivery_group": "home",
            "adjustments": [{"amount": "-6.00", "reason": "3 for 2"}],
        },
        {
            "sku": "MUG",
            "quantity": 1,
            "unit_price": "8.00",
            "tax": "1.60",
            "delivery_group": "store",
        },
    ],
    "adjustments": [{"amount": "-5.00", "reason": "WELCOME5"}],
    "payments": [{"gateway": "sandbox", "token": "tok_visa", "amount": "76.59"}],
}


def order_payload(*, external_reference: str = "WEB-10001", **overrides: Any) -> dict[str, Any]:
    """The §12 example order (grand total 76.59), with top-level fields overridden."""
    payload = copy.deepcopy(EXAMPLE_ORDER)
    payload["external_reference"] = external_reference
    payload.update(copy.deepcopy(overrides))
    return payload
