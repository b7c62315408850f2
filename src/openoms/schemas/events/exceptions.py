"""The events of process exceptions: payload models and declarations."""

from __future__ import annotations

from pydantic import Field

from openoms.schemas.events.base import EventPayload, EventType


class ProcessExceptionPayload(EventPayload):
    process_exception_id: str
    order_summary_id: str | None
    category: str
    severity: str
    status: str
    message: str
    occurrences: int


class ProcessExceptionResolved(ProcessExceptionPayload):
    note: str | None
    previous_status: str | None = Field(
        default=None, description="Only when an agent resolved it (not the failure going away)."
    )
    by: str | None = Field(
        default=None,
        description="Who resolved it, when a person did: `api_key:<id>` through the API, "
        "`user:<email>` in the console.",
    )


BY = Field(
    default=None,
    description="Who did it: `api_key:<id>` through the API, `user:<email>` in the console.",
)


class ProcessExceptionMoved(ProcessExceptionPayload):
    note: str | None
    previous_status: str
    by: str | None = BY


class ProcessExceptionRetryRequested(ProcessExceptionPayload):
    note: str | None
    job_kind: str
    by: str | None = BY


def _moved(verb: str) -> EventType:
    return EventType(
        f"process_exception.{verb}",
        "process_exception",
        ProcessExceptionMoved,
        f"An agent moved a process exception to {verb.upper()}.",
    )


TYPES: tuple[EventType, ...] = (
    EventType(
        "process_exception.raised",
        "process_exception",
        ProcessExceptionPayload,
        "A new process exception was opened for a failure that needs attention.",
    ),
    _moved("ignored"),
    _moved("paused"),
    _moved("triaged"),
    _moved("voided"),
    EventType(
        "process_exception.resolved",
        "process_exception",
        ProcessExceptionResolved,
        "A process exception was resolved: its failure went away, or an agent resolved it.",
    ),
    EventType(
        "process_exception.retry_requested",
        "process_exception",
        ProcessExceptionRetryRequested,
        "An agent asked for an open exception's failed job to run again.",
    ),
)
