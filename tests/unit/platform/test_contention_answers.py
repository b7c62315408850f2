"""A deadlock or serialization failure that outlasts the retries answers 503
`temporarily_unavailable` (send it again); any other database error stays a 500."""

from __future__ import annotations

import logging

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.exc import DBAPIError

from openoms.api.errors import install_error_handlers


class _DriverError(Exception):
    def __init__(self, sqlstate: str) -> None:
        super().__init__(f"driver says {sqlstate}")
        self.sqlstate = sqlstate


def _app() -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)

    @app.post("/fails/{sqlstate}")
    def fails(sqlstate: str) -> None:
        raise DBAPIError("UPDATE inventory_records …", {}, _DriverError(sqlstate))

    return app


@pytest.mark.parametrize("sqlstate", ["40P01", "40001"])
def test_contention_that_outlasts_the_retries_is_503(
    sqlstate: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="openoms.api"):
        answer = TestClient(_app()).post(f"/fails/{sqlstate}")
    assert answer.status_code == 503
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["code"] == "temporarily_unavailable"
    assert "inventory_records" not in answer.text  # the cause is logged, never answered
    assert "kept failing on contention" in caplog.text


def test_any_other_database_error_is_a_500() -> None:
    answer = TestClient(_app(), raise_server_exceptions=False).post("/fails/23505")
    assert answer.status_code == 500
    assert answer.json()["code"] == "internal_error"
