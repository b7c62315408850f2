"""The JSON log format and request id sanity (api/logs.py)."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from openoms.adapters.db.session import Database
from openoms.api.logs import JsonFormatter, RequestIdFilter, request_id, sane_request_id


def record(message: str, *, exc: bool = False) -> logging.LogRecord:
    exc_info = None
    if exc:
        try:
            raise ValueError("boom")
        except ValueError:
            exc_info = sys.exc_info()
    entry = logging.LogRecord("openoms.x", logging.WARNING, __file__, 1, message, (), exc_info)
    RequestIdFilter().filter(entry)
    return entry


def test_a_line_is_one_json_object_with_the_request_id() -> None:
    token = request_id.set("rid-1")
    try:
        line = JsonFormatter().format(record("a\nb"))
    finally:
        request_id.reset(token)
    assert "\n" not in line
    parsed = json.loads(line)
    assert parsed == {
        "time": parsed["time"],
        "level": "WARNING",
        "logger": "openoms.x",
        "message": "a\nb",
        "request_id": "rid-1",
    }
    assert parsed["time"].endswith("+00:00")


def test_an_exception_is_carried_as_text() -> None:
    parsed = json.loads(JsonFormatter().format(record("failed", exc=True)))
    assert "request_id" not in parsed
    assert parsed["exception"].startswith("Traceback")
    assert parsed["exception"].endswith("ValueError: boom")


def test_only_a_sane_request_id_is_kept() -> None:
    assert sane_request_id("abc-DEF_123.x") == "abc-DEF_123.x"
    assert sane_request_id("x" * 128) == "x" * 128
    for insane in (None, "", "x" * 129, "a b", "tab\there", "é"):
        fresh = sane_request_id(insane)
        assert fresh != insane
        assert len(fresh) == 32


def test_database_errors_never_carry_parameters(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'p.db'}")
    try:
        with pytest.raises(OperationalError) as raised, db.reading() as session:
            session.execute(text("select * from nowhere where token = :t"), {"t": "tok_secret"})
    finally:
        db.dispose()
    assert "tok_secret" not in str(raised.value)
    assert "hidden due to hide_parameters" in str(raised.value)
