"""How a refused line of an imported file (orders, inventory, locations) is reported: by
the edge that reads the file and by the service that applies it alike."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class LineError:
    """A refused line of an imported file: where, which field, why, and the stable code
    when a domain rule refused it. Printed as `line 6, field items[0].quantity: … (code)`."""

    line: int
    field: str | None
    message: str
    code: str | None = None

    def __str__(self) -> str:
        where = f"line {self.line}" + (f", field {self.field}" if self.field else "")
        return f"{where}: {self.message}" + (f" ({self.code})" if self.code else "")
