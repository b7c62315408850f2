"""An order's events as a timeline a person reads: when, what, who (where the event
records it) and the few facts that say what changed."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

# Payload keys that name who did it, in the order they are trusted.
# Holds record theirs as `by` (`api_key:<id>`, or `user:<email>` from the console).
ACTOR_KEYS = ("actor", "performed_by", "requested_by", "api_key_name", "user", "by")
# Ids and bulky values a reader of the timeline does not need.
HIDDEN = {"order_summary_id", "items", "lines", "allocations", "payload", *ACTOR_KEYS}
MAX_FACTS = 6


def timeline(events: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Newest first, each with `when`, `what` (the event's name in words), `name`, `who`
    (None when the event does not say) and `facts` (key, value) for its short fields."""
    rows = [
        {
            "id": event["id"],
            "when": event["occurred_at"],
            "name": event["name"],
            "what": event["name"].replace(".", ": ", 1).replace("_", " "),
            "who": actor(event.get("payload") or {}),
            "facts": facts(event.get("payload") or {}),
        }
        for event in events
    ]
    rows.reverse()
    return rows


def actor(payload: Mapping[str, Any]) -> str | None:
    for key in ACTOR_KEYS:
        value = payload.get(key)
        if isinstance(value, str) and value:
            return value
        if isinstance(value, Mapping):
            named = value.get("name") or value.get("email") or value.get("id")
            kind = value.get("kind") or value.get("type")
            if named:
                return f"{named} ({kind})" if kind else str(named)
    return None


def facts(payload: Mapping[str, Any]) -> list[tuple[str, str]]:
    shown = []
    for key, value in payload.items():
        if key in HIDDEN or key.endswith("_id"):
            continue
        if isinstance(value, str | int | float | bool) and len(str(value)) <= 80:
            shown.append((key.replace("_", " "), str(value)))
        if len(shown) == MAX_FACTS:
            break
    return shown
