"""Inventory records, availability and imports."""

from __future__ import annotations

import io
import tempfile
from datetime import UTC, date, datetime
from typing import IO, Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from openoms.adapters.db.session import Database
from openoms.adapters.outbox import Outbox
from openoms.api.auth import require_scope
from openoms.api.deps import get_db
from openoms.api.errors import PROBLEM_JSON
from openoms.api.params import WHOLE_NUMBER
from openoms.domain.errors import ValidationFailed
from openoms.domain.inventory import ImportFormatUnsupported
from openoms.schemas.inventory import (
    AvailabilityRequest,
    AvailabilityResponse,
    ImportFormat,
    InventoryImportResult,
    InventoryRecordPage,
    parse_inventory_lines,
)
from openoms.services.access import Principal, Scope
from openoms.services.inventory import (
    ImportMode,
    answer_availability,
    apply_inventory_import,
    invalid_import,
    list_inventory_records,
)

router = APIRouter(prefix="/api/v1", tags=["inventory"])
IMPORT_PATH = "/api/v1/inventory/import"  # its body cap is its own (create_app)
SPOOL_BYTES = 8 << 20  # an import body beyond this waits on disk, not in memory

PROBLEMS: dict[int | str, dict[str, Any]] = {
    status: {"description": text, "content": {PROBLEM_JSON: {}}}
    for status, text in {
        400: "A business rule is broken (stable `code`).",
        401: "No valid API key.",
        403: "The API key lacks the scope.",
        404: "A named location or location group does not exist.",
        422: "The payload does not match the schema.",
    }.items()
}

MEDIA_TYPES: dict[str, ImportFormat] = {
    "application/x-ndjson": "jsonl",
    "application/jsonl": "jsonl",
    "application/json-lines": "jsonl",
    "application/x-jsonlines": "jsonl",
    "text/csv": "csv",
}

Importer = Annotated[Principal, Depends(require_scope(Scope.WAREHOUSE))]
Asker = Annotated[Principal, Depends(require_scope(Scope.STOREFRONT, Scope.AGENT, Scope.WAREHOUSE))]
Reader = Annotated[Principal, Depends(require_scope(Scope.WAREHOUSE, Scope.AGENT))]

_IMPORT_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/x-ndjson": {
                "schema": {"type": "string"},
                "example": '{"location": "WH-1", "sku": "TEE-M", "on_hand": 12, '
                '"safety_stock": 2, "futures": [{"quantity": 10, "expected_date": '
                '"2026-12-01"}], "record_id": "wms-889"}\n',
            },
            "text/csv": {
                "schema": {"type": "string"},
                "example": "location,sku,on_hand,safety_stock,futures,record_id\n"
                "WH-1,TEE-M,12,2,10@2026-12-01;5@2027-01-10,wms-889\n",
            },
        },
    }
}


async def current_date() -> date:
    """Today (UTC), which futures are counted from: a dependency, so a test can fix it
    (async: a sync dependency would cost a thread pool hop per request)."""
    return datetime.now(UTC).date()


Today = Annotated[date, Depends(current_date)]


@router.post(
    IMPORT_PATH.removeprefix(router.prefix),
    response_model=InventoryImportResult,
    responses={
        413: {"description": "The file is over the import cap (256 MiB by default)."},
        415: {"description": "Body is neither JSON lines nor CSV."},
        **PROBLEMS,
    },
    openapi_extra=_IMPORT_BODY,
)
async def import_inventory(
    request: Request,
    _: Importer,
    mode: Annotated[
        Literal["delta", "full"],
        Query(
            description="delta: set the listed records; full: also zero unlisted SKUs "
            "of the listed locations."
        ),
    ] = "delta",
) -> dict[str, Any]:
    """Import stock levels: JSON lines (`application/x-ndjson` or `application/jsonl`) or CSV
    (`text/csv`, same columns; futures as `qty@YYYY-MM-DD` separated by `;`).

    Every line is validated first; any bad line (or unknown location) answers 400
    `inventory_import_invalid` with `errors: [{line, field, message}]` and applies nothing.
    Reservations are never changed. Lines with a `record_id` applied before are skipped, so
    sending the same file again is safe. Emits `inventory.imported`. The file may be up to
    256 MiB (`OPENOMS_MAX_IMPORT_BYTES`); larger is 413 `payload_too_large`."""
    fmt = _format(request.headers.get("content-type", ""))
    with tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES) as body:
        async for chunk in request.stream():
            body.write(chunk)
        body.seek(0)
        return await run_in_threadpool(
            _import, get_db(request), request.app.state.outbox, body, fmt, mode
        )


def _format(content_type: str) -> ImportFormat:
    media_type = content_type.split(";", 1)[0].strip().lower()
    fmt = MEDIA_TYPES.get(media_type)
    if fmt is None:
        raise ImportFormatUnsupported(
            f"Content-Type {media_type or '(none)'!r} is not an import format: send "
            "application/x-ndjson (JSON lines) or text/csv",
            supported=sorted(MEDIA_TYPES),
        )
    return fmt


def _import(
    db: Database, outbox: Outbox, body: IO[bytes], fmt: ImportFormat, mode: ImportMode
) -> dict[str, Any]:
    # Lines as a file reads them (a CSV field may hold a quoted line break), decoded as read.
    text = io.TextIOWrapper(body, encoding="utf-8-sig", newline="")
    try:
        records, errors = parse_inventory_lines(text, fmt)
    except UnicodeDecodeError as exc:
        raise ValidationFailed(f"the body is not UTF-8 text: {exc.reason}") from None
    finally:
        text.detach()  # the caller closes the body
    if errors:
        raise invalid_import(errors)
    return apply_inventory_import(db, outbox, records, mode=mode).as_dict()


@router.post(
    "/inventory/actions/get-availability",
    response_model=AvailabilityResponse,
    responses=PROBLEMS,
)
def availability(
    request: Request, payload: AvailabilityRequest, _: Asker, today: Today
) -> Response:
    """Per location and per location group, per SKU: `on_hand`, `reserved`, `safety_stock`,
    `available_to_fulfill` (on_hand − reserved − safety_stock) and `available_to_order`
    (plus futures expected within 30 days). A group sums its active locations. With no
    locations and no groups: every active location. At most 100 SKUs and 100 locations and
    groups together (else 400 `availability_request_too_large`)."""
    # The database taken here, not through Depends(get_db): a sync dependency would cost a
    # thread pool hop of its own. One statement on PostgreSQL, so no transaction around it.
    with get_db(request).reading_one_statement() as session:
        answer = answer_availability(
            session,
            skus=payload.skus,
            locations=payload.locations,
            location_groups=payload.location_groups,
            today=today,
        )
    # Up to 2,000 figures: written as JSON directly rather than validated again against
    # the response model (which only documents the shape here).
    return Response(answer.to_json(), media_type="application/json")


@router.get("/inventory", response_model=InventoryRecordPage, responses=PROBLEMS)
def list_records(
    _: Reader,
    db: Annotated[Database, Depends(get_db)],
    today: Today,
    location: Annotated[str | None, Query(description="Location ref.")] = None,
    sku: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500), WHOLE_NUMBER] = 100,
    cursor: Annotated[str | None, Query(description="next_cursor of the previous page.")] = None,
) -> dict[str, Any]:
    """Inventory records, oldest first, of one location and/or SKU, one page at a time."""
    with db.reading() as session:
        items, last_id = list_inventory_records(
            session,
            location=location,
            sku=sku,
            after_id=_decode(cursor),
            limit=limit,
            today=today,
        )
    return {"items": items, "next_cursor": None if last_id is None else str(last_id)}


def _decode(cursor: str | None) -> int | None:
    if not cursor:
        return None
    if not cursor.isdigit() or len(cursor) > 19:
        raise ValidationFailed("cursor is not one this API issued", field="cursor")
    return int(cursor)
