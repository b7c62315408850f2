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
