"""The imports area: the names other areas, the API and the worker may use."""

from openoms.services.imports.file_lines import (
    LineError,
    csv_integer,
    csv_typed,
)

__all__ = [
    "LineError",
    "csv_integer",
    "csv_typed",
]
