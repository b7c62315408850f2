"""The public wire contract (DESIGN.md §12): payloads in and bodies out, shared by the API,
the CLI importers and the console."""

from __future__ import annotations

from typing import Any


def field_path(loc: tuple[Any, ...] | list[Any]) -> str:
    """A Pydantic error location as the API names fields: `items[0].unit_price`."""
    parts = [p for p in loc if p not in ("body", "query", "path", "header")]
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or ".".join(str(p) for p in loc)
