"""Schemathesis hooks for `make fuzz`: the inventory import takes JSON lines or CSV as a
string body, which Schemathesis cannot send without being told how."""

from __future__ import annotations

from typing import Any

import schemathesis


@schemathesis.serializer("application/x-ndjson", "application/jsonl", "text/csv")
def as_text(_context: Any, value: Any) -> bytes:
    """A generated string body as UTF-8 bytes (anything else as its text)."""
    return value if isinstance(value, bytes) else str(value).encode("utf-8", "surrogatepass")
