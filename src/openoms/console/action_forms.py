"""Reading the order page's action forms: a field per line (`quantity.<id>`,
`condition.<id>` …), free text, choices. What does not read is refused with a sentence
naming the field, before any service runs; the services refuse the rest as for the API."""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum
from typing import TypeVar

from starlette.datastructures import FormData

from openoms.domain.errors import ValidationFailed

MAX_TEXT = 500
E = TypeVar("E", bound=StrEnum)


class NothingChosen(ValidationFailed):
    code = "quantity_invalid"
    title = "Nothing chosen"


def text(form: FormData, name: str, *, limit: int = MAX_TEXT) -> str | None:
    """The field, stripped; None when blank. Longer than `limit` is refused."""
    value = form.get(name)
    if not isinstance(value, str) or not value.strip():
        return None
    if len(value.strip()) > limit:
        raise ValidationFailed(f"{name} is longer than {limit} characters", field=name)
    return value.strip()


def whole(value: str, field: str) -> int:
    if not value.strip().isdigit() or len(value.strip()) > 9:
        raise ValidationFailed(
            f"{field} must be a whole number, not {value.strip()!r}", field=field.split(" ")[0]
        )
    return int(value)


def quantities(form: FormData, *, prefix: str = "quantity.", what: str) -> list[tuple[str, int]]:
    """(id, units) of each `<prefix><id>` field above 0 (blank or 0: not that line);
    at least one, else 400 naming `what` (e.g. "to return")."""
    chosen = []
    for name, value in form.multi_items():
        if not name.startswith(prefix) or not isinstance(value, str) or not value.strip():
            continue
        key = name.removeprefix(prefix)
        units = whole(value, f"quantity of {key}")
        if units > 0:
            chosen.append((key, units))
    if not chosen:
        raise NothingChosen(f"choose at least one unit {what}", field="quantity")
    return chosen


def choice(form: FormData, name: str, kind: type[E], default: E) -> E:
    """The field as one of `kind`'s values (blank: `default`)."""
    value = text(form, name)
    if value is None:
        return default
    try:
        return kind(value)
    except ValueError:
        raise ValidationFailed(
            f"{name.split('.')[0]} must be one of {_listed(kind)}, not {value!r}",
            field=name.split(".")[0],
        ) from None


def _listed(kind: Iterable[StrEnum]) -> str:
    return ", ".join(member.value for member in kind)


def checked(form: FormData, name: str) -> bool:
    return form.get(name) == "true"
