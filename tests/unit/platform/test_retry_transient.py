"""A deadlock or serialization failure runs the transaction again; other errors do not."""

from __future__ import annotations

import pytest
from sqlalchemy.exc import DBAPIError

from openoms.adapters.db.session import retry_transient


class _DriverError(Exception):
    def __init__(self, sqlstate: str) -> None:
        super().__init__(sqlstate)
        self.sqlstate = sqlstate


def _failing(sqlstates: list[str]) -> tuple[list[int], object]:
    calls: list[int] = []

    def operation() -> str:
        calls.append(1)
        if sqlstates:
            raise DBAPIError("UPDATE …", {}, _DriverError(sqlstates.pop(0)))
        return "done"

    return calls, operation


def test_deadlocks_and_serialization_failures_are_retried() -> None:
    calls, operation = _failing(["40P01", "40001"])
    assert retry_transient(operation) == "done"  # type: ignore[arg-type]
    assert len(calls) == 3


def test_other_database_errors_propagate_at_once() -> None:
    calls, operation = _failing(["23505"])
    with pytest.raises(DBAPIError):
        retry_transient(operation)  # type: ignore[arg-type]
    assert len(calls) == 1


def test_gives_up_after_the_last_attempt() -> None:
    calls, operation = _failing(["40P01"] * 5)
    with pytest.raises(DBAPIError):
        retry_transient(operation, attempts=3)  # type: ignore[arg-type]
    assert len(calls) == 3
