"""Process exceptions: the queue of failures that need a person. Any area raises one
(`raise_exception`, with the retry job it records via `retry_action`) and resolves it when
the failure goes away; agents list, triage, pause, resolve, ignore, void and retry them.
This area knows no other: it sits at the bottom of the layers.

This is the area's face: other areas, the API, the CLI and the worker import only these
names.
"""

from openoms.services.exceptions.exception_queue import (
    ExceptionFilter,
    ExceptionMove,
    exception_view,
    get_exception,
    list_exceptions,
    move_exception,
)
from openoms.services.exceptions.exception_retry import (
    retry_action,
    retry_exception,
)
from openoms.services.exceptions.process_exceptions import (
    active_exception,
    raise_exception,
    resolve_exception,
)

__all__ = [
    "ExceptionFilter",
    "ExceptionMove",
    "active_exception",
    "exception_view",
    "get_exception",
    "list_exceptions",
    "move_exception",
    "raise_exception",
    "resolve_exception",
    "retry_action",
    "retry_exception",
]
