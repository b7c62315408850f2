"""Order capture payload (DESIGN.md §12). Structure is checked here (422); business rules
(positive quantities, known currency, amounts that add up) in the domain (400). Also the
reading of an order file, one payload per line (`read_order_lines`)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, GetJsonSchemaHandler, ValidationError
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

from openoms.domain.errors import DomainError
from openoms.domain.file_lines import LineError
from openoms.domain.money import Money
from openoms.domain.order import (
    Address,
    Adjustment,
    Customer,
    DeliveryGroup,
    DeliveryMethod,
    Lifecycle,
    OrderDraft,
    OrderLine,
    PaymentMethod,
    Recipient,
)
from openoms.schemas import field_path
from openoms.schemas.common import (
    AMOUNT_PATTERN,
    Identifier,
    IsoDateTime,
    Payload,
    Quantity,
    Text,
)
from openoms.services.orders import (
    MAX_BATCH,
    BatchRow,
    ErrorPolicy,
    OrderFileLine,
    RowError,
    RowOutcome,
    row_path,
)

Amount = Annotated[
    str,
    Field(
        pattern=AMOUNT_PATTERN,
        description='Decimal string in the order\'s currency, e.g. "12.34" (at most 15 '
        "integer digits).",
        examples=["12.34"],
    ),
]
Ref = Annotated[Identifier, Field(min_length=1, max_length=100)]


class AddressIn(Payload):
    line1: Text = Field(min_length=1, max_length=300)
    line2: Text | None = Field(default=None, max_length=300)
    city: Text = Field(min_length=1, max_length=200)
    region: Text | None = Field(default=None, max_length=200)
    postal_code: Text | None = Field(default=None, max_length=40)
    country: str = Field(pattern=r"^[A-Z]{2}$", description="ISO 3166-1 alpha-2 country code.")
    lat: float | None = Field(default=None, ge=-90, le=90)
    lon: float | None = Field(default=None, ge=-180, le=180)


class RecipientIn(Payload):
    name: Text = Field(min_length=1, max_length=300)
    email: Identifier | None = Field(default=None, max_length=320)
    phone: Text | None = Field(default=None, max_length=50)
    address: AddressIn | None = None


class ChargeIn(Payload):
    amount: Amount = "0"
    tax: Amount = "0"


class DeliveryGroupIn(Payload):
    """Where and how a set of items is delivered; each group is routed on its own."""

    ref: Ref = Field(description="The group's name within the order; items point at it.")
    method: Literal["ship", "pickup"] = "ship"
    service: Identifier | None = Field(default=None, max_length=100, examples=["standard"])
    recipient: RecipientIn | None = None
    pickup_location: Identifier | None = Field(
        default=None, max_length=100, description="Location ref; required for pickup groups."
    )
    delivery_charge: ChargeIn | None = None


class AdjustmentIn(Payload):
    amount: Amount = Field(description="Negative: a discount. Total for the line or order.")
    reason: str = Field(default="", max_length=200)
    tax: Amount = Field(default="0", description="Tax effect of the adjustment (zero or negative).")


class ItemIn(Payload):
    sku: Identifier = Field(min_length=1, max_length=100)
    name: Text | None = Field(default=None, max_length=300)
    quantity: Quantity = Field(description="Units ordered; a positive whole number.")
    unit_price: Amount = Field(description="Price of one unit before adjustments and tax.")
    tax: Amount = Field(default="0", description="Tax for the whole line.")
    delivery_group: Ref
    adjustments: list[AdjustmentIn] = Field(default_factory=list, max_length=50)
    total: Amount | None = Field(
        default=None,
        description="Optional check: quantity × unit_price + adjustments + tax must equal it.",
    )


class CustomerIn(Payload):
    name: Text = Field(min_length=1, max_length=300)
    email: Identifier | None = Field(default=None, max_length=320)


class PaymentIn(Payload):
    gateway: Identifier = Field(min_length=1, max_length=50, examples=["sandbox"])
    token: Identifier = Field(min_length=1, max_length=255, description="Gateway payment token.")
    amount: Amount = Field(description="Amount authorized on this payment method.")
    authorization_reference: Identifier | None = Field(default=None, max_length=200)


class OrderCreate(Payload):
    """An order placed on a channel. (channel, external_reference) identifies it: capturing
    the same pair again returns the existing order summary."""

    channel: Ref
    external_reference: Identifier = Field(min_length=1, max_length=200)
    currency: str = Field(pattern=r"^[A-Z]{3}$", description="ISO 4217 code.")
    lifecycle: Literal["MANAGED", "UNMANAGED"] = "MANAGED"
    ordered_at: IsoDateTime
    customer: CustomerIn
    delivery_groups: list[DeliveryGroupIn] = Field(min_length=1, max_length=50)
    items: list[ItemIn] = Field(min_length=1, max_length=2000)
    adjustments: list[AdjustmentIn] = Field(default_factory=list, max_length=50)
    payments: list[PaymentIn] = Field(default_factory=list, max_length=10)
    grand_total: Amount | None = Field(
        default=None, description="Optional check against the computed grand total."
    )

    def to_draft(self) -> OrderDraft:
        """The domain draft; amounts parsed exactly in the order's currency."""
        c = self.currency

        def money(text: str, field: str) -> int:
            return Money.parse(text, c, field=field).minor

        def adjustments(items: list[AdjustmentIn], where: str) -> tuple[Adjustment, ...]:
            return tuple(
                Adjustment(
                    amount=money(a.amount, f"{where}[{j}].amount"),
                    reason=a.reason,
                    tax=money(a.tax, f"{where}[{j}].tax"),
                )
                for j, a in enumerate(items)
            )

        groups = []
        for i, g in enumerate(self.delivery_groups):
            charge = g.delivery_charge or ChargeIn()
            groups.append(
                DeliveryGroup(
                    ref=g.ref,
                    method=DeliveryMethod(g.method),
                    service=g.service,
                    pickup_location=g.pickup_location,
                    recipient=_recipient(g.recipient),
                    charge=money(charge.amount, f"delivery_groups[{i}].delivery_charge.amount"),
                    charge_tax=money(charge.tax, f"delivery_groups[{i}].delivery_charge.tax"),
                )
            )
        lines = tuple(
            OrderLine(
                sku=it.sku,
                name=it.name,
                quantity=it.quantity,
                unit_price=money(it.unit_price, f"items[{i}].unit_price"),
                tax=money(it.tax, f"items[{i}].tax"),
                delivery_group=it.delivery_group,
                adjustments=adjustments(it.adjustments, f"items[{i}].adjustments"),
                declared_total=None if it.total is None else money(it.total, f"items[{i}].total"),
            )
            for i, it in enumerate(self.items)
        )
        return OrderDraft(
            channel=self.channel,
            external_reference=self.external_reference,
            currency=c,
            lifecycle=Lifecycle(self.lifecycle),
            ordered_at=self.ordered_at,
            customer=Customer(
                name=self.customer.name,
                email=self.customer.email.lower() if self.customer.email else None,
            ),
            delivery_groups=tuple(groups),
            lines=lines,
            adjustments=adjustments(self.adjustments, "adjustments"),
            payments=tuple(
                PaymentMethod(
                    gateway=p.gateway,
                    token=p.token,
                    amount=money(p.amount, f"payments[{i}].amount"),
                    authorization_reference=p.authorization_reference,
                )
                for i, p in enumerate(self.payments)
            ),
            declared_grand_total=(
                None if self.grand_total is None else money(self.grand_total, "grand_total")
            ),
        )


def _recipient(r: RecipientIn | None) -> Recipient | None:
    if r is None:
        return None
    address = None
    if r.address is not None:
        a = r.address
        address = Address(
            line1=a.line1,
            line2=a.line2,
            city=a.city,
            region=a.region,
            postal_code=a.postal_code,
            country=a.country,
            lat=a.lat,
            lon=a.lon,
        )
    return Recipient(name=r.name, email=r.email, phone=r.phone, address=address)


# --- order files (JSON lines) -------------------------------------------------------------


def read_order_lines(lines: Iterable[str]) -> Iterator[OrderFileLine]:
    """Each line of an order file, numbered from 1, as `import_orders` takes it: the
    order draft its payload asks for, the LineError saying why it cannot be read (not JSON,
    not a valid payload, an amount that is not one), or None when blank. Lazily: a line is
    read when the import gets to it."""
    for number, text in enumerate(lines, start=1):
        yield number, (_read_order_line(number, text) if text.strip() else None)


def _read_order_line(number: int, text: str) -> OrderDraft | LineError:
    try:
        return OrderCreate.model_validate(json.loads(text)).to_draft()
    except json.JSONDecodeError as exc:
        message = f"not valid JSON: {exc.msg} at column {exc.colno}"
        return LineError(number, None, message, "json_invalid")
    except ValidationError as exc:
        first = exc.errors()[0]
        location = field_path(first["loc"]) or None
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        return LineError(number, location, f"{first['msg']}{more}", "payload_invalid")
    except DomainError as exc:
        return LineError(number, exc.field, exc.detail, exc.code)


# --- bulk capture -------------------------------------------------------------------------


class _DocumentedAsOrderCreate:
    """A row of a bulk capture is taken as any JSON value, so that each row is validated on
    its own (`read_bulk_rows`); OpenAPI still documents it as an OrderCreate."""

    @classmethod
    def __get_pydantic_json_schema__(
        cls, _core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        return handler(OrderCreate.__pydantic_core_schema__)


BulkRowIn = Annotated[Any, _DocumentedAsOrderCreate]


class BulkOrdersCreate(Payload):
    """Up to 100 orders captured in one transaction, each deduplicated as a single capture.
    Each row is validated on its own: a malformed row is that row's error."""

    orders: list[BulkRowIn] = Field(
        min_length=1,
        json_schema_extra={"maxItems": MAX_BATCH},
        description=f"At most {MAX_BATCH} orders; more is 413 `bulk_too_large`.",
    )
    error_policy: Literal["reject_everything", "reject_failed_rows", "ignore_failed"] = Field(
        default="reject_everything",
        description="`reject_everything`: one failed row stores nothing (a problem lists every "
        "failed row). `reject_failed_rows`: the good rows are stored, each failed row is "
        "answered with its errors. `ignore_failed`: as reject_failed_rows, failed rows "
        "answered by index only.",
    )


class BulkRowErrorOut(BaseModel):
    path: str = Field(examples=["orders[3].items[1].quantity"])
    code: str
    message: str


class BulkRowOut(BaseModel):
    index: int = Field(description="The row's position in `orders`, from 0.")
    status: Literal["created", "existing", "failed"]
    order_summary_id: str | None
    errors: list[BulkRowErrorOut] = Field(
        description="Why the row failed (empty unless failed, and under ignore_failed)."
    )


class BulkCaptureOut(BaseModel):
    error_policy: str
    created: int
    existing: int
    failed: int
    results: list[BulkRowOut]


def read_bulk_rows(rows: list[Any]) -> list[BatchRow]:
    """Each row of a bulk capture as `capture_batch` takes it: its order draft, or every
    schema error of the row (422 `payload_invalid`, paths inside the row), or the domain
    error of an amount that is not one."""
    return [_read_bulk_row(row) for row in rows]


def _read_bulk_row(row: Any) -> BatchRow:
    try:
        return OrderCreate.model_validate(row).to_draft()
    except ValidationError as exc:
        return tuple(
            RowError(field_path(e["loc"]) or None, "payload_invalid", e["msg"], 422)
            for e in exc.errors()
        )
    except DomainError as exc:
        return (RowError.of(exc),)


def bulk_answer(policy: ErrorPolicy, outcomes: list[RowOutcome]) -> dict[str, Any]:
    """The body of a bulk capture's answer (BulkCaptureOut)."""
    counts = {status: 0 for status in ("created", "existing", "failed")}
    for outcome in outcomes:
        counts[outcome.status.value] += 1
    return {
        "error_policy": policy.value,
        **counts,
        "results": [
            {
                "index": o.index,
                "status": o.status.value,
                "order_summary_id": o.order_summary_id,
                "errors": [
                    {"path": row_path(o.index, e.field), "code": e.code, "message": e.message}
                    for e in o.errors
                ],
            }
            for o in outcomes
        ],
    }
