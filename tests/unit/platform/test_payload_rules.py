"""The rules every payload shares (openoms.schemas.common), checked on the models
themselves: every request body of the API is a `Payload`, and a `Payload` is strict, keeps
what it is sent, and refuses control characters naming the field."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.routing import iter_route_contexts
from pydantic import BaseModel, Field, ValidationError

from openoms.adapters.db.session import Database
from openoms.adapters.outbox import Outbox
from openoms.api.app import create_app
from openoms.schemas.common import Identifier, IsoDateTime, Payload, Quantity, Text
from openoms.worker.consumers import default_registry


class Line(Payload):
    sku: Identifier = Field(min_length=1, max_length=100)
    quantity: Quantity
    gift: bool = False


class Sample(Payload):
    name: Text
    note: str | None = None
    tags: list[Identifier] = Field(default_factory=list)
    at: IsoDateTime | None = None
    lines: list[Line] = Field(default_factory=list)


def errors(data: dict[str, Any]) -> list[tuple[tuple[Any, ...], str]]:
    with pytest.raises(ValidationError) as caught:
        Sample.model_validate(data)
    return [(e["loc"], e["msg"]) for e in caught.value.errors()]


def test_every_request_body_of_the_api_is_a_payload() -> None:
    app = create_app(Database("sqlite://"), Outbox(default_registry()))
    bodies = {
        route.path: route.body_field.field_info.annotation
        for route in iter_route_contexts(app.routes)
        # The console's HTML forms (/console) are not API payloads: its form fields are
        # checked by its routes and the services they call.
        if getattr(route, "body_field", None) is not None and not route.path.startswith("/console/")
    }
    assert len(bodies) > 30
    loose = {
        path: kind
        for path, kind in bodies.items()
        if not any(
            isinstance(k, type) and issubclass(k, BaseModel) and issubclass(k, Payload)
            for k in getattr(kind, "__args__", (kind,))
        )
    }
    assert loose == {}


def test_a_payload_keeps_what_it_is_sent() -> None:
    sample = Sample.model_validate(
        {"name": " Ada ", "note": "line one\nline two\t(tabbed)", "tags": ["a"]}
    )
    assert (sample.name, sample.note) == (" Ada ", "line one\nline two\t(tabbed)")


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (
            {"name": "Ada\x00"},
            [(("name",), "Value error, must not contain control characters (found U+0000)")],
        ),
        (
            {"name": "Ada\u009b"},
            [(("name",), "Value error, must not contain control characters (found U+009B)")],
        ),
        (
            {"name": "Ada", "note": "\x7f"},
            [(("note",), "Value error, must not contain control characters (found U+007F)")],
        ),
        (
            {"name": "Ada\nLovelace"},
            [(("name",), "Value error, must be one line without tabs (found U+000A)")],
        ),
        ({"name": "  "}, [(("name",), "Value error, must not be blank")]),
        (
            {"name": "Ada", "tags": ["ok", "b\x00"]},
            [(("tags",), "Value error, must not contain control characters (found U+0000)")],
        ),
        (
            {"name": "Ada", "tags": [" padded"]},
            [(("tags", 0), "Value error, must not start or end with spaces")],
        ),
        (
            {"name": "Ada", "lines": [{"sku": "A\x00", "quantity": 1}]},
            [
                (
                    ("lines", 0, "sku"),
                    "Value error, must not contain control characters (found U+0000)",
                )
            ],
        ),
    ],
)
def test_control_characters_and_padding_are_refused_by_field(
    data: dict[str, Any], expected: list[tuple[tuple[Any, ...], str]]
) -> None:
    assert errors(data) == expected


@pytest.mark.parametrize(
    ("line", "field"),
    [
        ({"sku": "A", "quantity": True}, "quantity"),
        ({"sku": "A", "quantity": "3"}, "quantity"),
        ({"sku": "A", "quantity": 3.0}, "quantity"),
        ({"sku": "A", "quantity": 1_000_001}, "quantity"),
        ({"sku": "A", "quantity": 1, "gift": "yes"}, "gift"),
        ({"sku": "A", "quantity": 1, "gift": 1}, "gift"),
        ({"sku": 7, "quantity": 1}, "sku"),
    ],
)
def test_json_types_are_strict(line: dict[str, Any], field: str) -> None:
    assert [loc for loc, _ in errors({"name": "Ada", "lines": [line]})] == [("lines", 0, field)]


@pytest.mark.parametrize("value", [0.5, 1_700_000_000, "0.5", "1700000000", "2026-11-20", "soon"])
def test_a_date_time_is_an_iso_8601_string(value: Any) -> None:
    assert [loc for loc, _ in errors({"name": "Ada", "at": value})] == [("at",)]


def test_an_iso_8601_date_time_is_read() -> None:
    sample = Sample.model_validate({"name": "Ada", "at": "2026-11-20T10:00:00+01:00"})
    assert sample.at is not None
    assert sample.at.isoformat() == "2026-11-20T10:00:00+01:00"
