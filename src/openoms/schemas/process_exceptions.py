"""Process exception payloads and bodies (DESIGN.md §3, §4, §9): the queue of things that need
a person. Structure is checked here (422); legal moves by the service (409)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from openoms.domain.fulfillment import ProcessExceptionCategory, ProcessExceptionStatus
from openoms.schemas.common import Payload

MAX_NOTE = 2000


class ProcessExceptionNote(Payload):
    """An optional note for the move, kept on its event in the order's timeline."""

    note: str | None = Field(
        default=None,
        max_length=MAX_NOTE,
        description="Why, for whoever reads the timeline later.",
        examples=["customer called: new card on file"],
    )


class ProcessExceptionAction(BaseModel):
    kind: str | None = Field(
        description="The job that failed and that `retry` runs again: route_group, "
        "create_label, ensure_funds, authorize_payments, verify_authorizations or "
        "ensure_refunds."
    )
    payload: dict[str, Any] = Field(description="What the job works on.")


class ProcessException(BaseModel):
    """Something that needs a person: what failed, how bad, and the action to retry."""

    id: str
    order_summary_id: str | None
    category: ProcessExceptionCategory
    severity: str = Field(description="low, medium or high.")
    priority: int = Field(description="1 is the most urgent.")
    status: ProcessExceptionStatus = Field(
        description="NEW, TRIAGED and PAUSED are open (counted in the order summary's "
        "active_process_exception_count); RESOLVED, IGNORED and VOIDED are closed."
    )
    message: str
    action: ProcessExceptionAction
    occurrences: int = Field(description="How often the failure happened while open.")
    created_at: str = Field(description="ISO 8601, UTC.")
    updated_at: str = Field(description="ISO 8601, UTC.")


class ProcessExceptionPage(BaseModel):
    items: list[ProcessException]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page.")
