"""Keyword-only factories of API payloads: the §12 example order (grand total 76.59)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

# The README's example order, as shipped in examples/order.json: one copy, so the README's
# curl and the tests capture the very same order.
EXAMPLE_ORDER: dict[str, Any] = json.loads(
    (Path(__file__).parent.parent / "examples" / "order.json").read_text(encoding="utf-8")
)


def order_payload(*, external_reference: str = "WEB-10001", **overrides: Any) -> dict[str, Any]:
    """The §12 example order (grand total 76.59), with top-level fields overridden."""
    payload = copy.deepcopy(EXAMPLE_ORDER)
    payload["external_reference"] = external_reference
    payload.update(copy.deepcopy(overrides))
    return payload


def one_unit_each(ref: str, skus: list[str], **overrides: Any) -> dict[str, Any]:
    """An order of one unit of each of `skus` at 10.00, untaxed, in the example's home
    delivery group alone, with no adjustment and no payment (the routing runs' tests)."""
    payload = order_payload(external_reference=ref, **overrides)
    payload["delivery_groups"] = [payload["delivery_groups"][0]]
    payload["items"] = [
        {"sku": sku, "quantity": 1, "unit_price": "10.00", "tax": "0.00", "delivery_group": "home"}
        for sku in skus
    ]
    payload["adjustments"] = []
    payload["payments"] = []
    return payload
