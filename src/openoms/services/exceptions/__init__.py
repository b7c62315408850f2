"""The exceptions area: the names other areas, the API and the worker may use."""

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
