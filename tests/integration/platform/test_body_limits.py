"""Request bodies are capped (issue 11, item 3): 1 MiB for JSON, a larger cap of its own for
inventory imports. Over the cap is 413 problem+json `payload_too_large` and nothing is
stored; a body that declares its length is refused before it is read, and a streamed one
is read no further than the cap."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient

from openoms.adapters.db import models as m
from openoms.adapters.outbox import Outbox
from openoms.api.app import create_app
from openoms.worker.consumers import default_registry
from tests.integration.conftest import Api
from tests.integration.helpers import count, row_counts
from tests.payloads import order_payload

MIB = 1 << 20
TOUCHED = (m.Order, m.OrderSummary, m.Event, m.IdempotencyRecord, m.InventoryRecord)


def padded_order(size: int) -> bytes:
    """A valid-looking order of about `size` bytes (a long item name list)."""
    payload = order_payload()
    item = {**payload["items"][0], "name": "x" * 300}
    room = size - len(json.dumps(payload))
    payload["items"] = [item] * (room // (len(json.dumps(item)) + 2))
    return json.dumps(payload).encode()


def call(app: FastAPI, path: str, headers: dict[str, str], chunks: list[bytes]) -> Any:
    """POST `chunks` as a streamed body (no Content-Length) straight to the ASGI app;
    (status, problem body, chunks the app pulled)."""
    pulled = 0
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        nonlocal pulled
        if pulled == len(chunks):
            return {"type": "http.disconnect"}
        pulled += 1
        return {
            "type": "http.request",
            "body": chunks[pulled - 1],
            "more_body": pulled < len(chunks),
        }

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "client": ("127.0.0.1", 1234),
        "server": ("testserver", 80),
        "state": {},
    }
    asyncio.run(app(scope, receive, send))  # type: ignore[arg-type]
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return sent[0]["status"], json.loads(body), pulled


def test_a_json_body_over_1_mib_is_413_and_stores_nothing(api: Api) -> None:
    before = row_counts(api.db, TOUCHED)
    body = padded_order(MIB + 10_000)
    answer = api.client.post(
        "/api/v1/orders",
        content=body,
        headers=api.headers(**{"Content-Type": "application/json"}),
    )
    assert answer.status_code == 413, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    problem = answer.json()
    assert (problem["code"], problem["status"], problem["max_bytes"]) == (
        "payload_too_large",
        413,
        MIB,
    )
    assert problem["detail"] == "The request body is larger than 1048576 bytes."
    assert row_counts(api.db, TOUCHED) == before


def test_a_body_at_the_cap_is_read(api: Api) -> None:
    body = padded_order(MIB - 20_000)
    assert len(body) <= MIB
    answer = api.client.post(
        "/api/v1/orders", content=body, headers=api.headers(**{"Content-Type": "application/json"})
    )
    assert answer.status_code != 413
    assert answer.status_code == 422  # read and validated: 300-character names are too long


def test_a_streamed_body_is_read_no_further_than_the_cap(api: Api) -> None:
    app = api.client.app
    chunks = [b"x" * (256 * 1024)] * 8  # 2 MiB in 256 KiB chunks
    headers = {**api.headers(), "Content-Type": "application/json"}
    status, problem, pulled = call(app, "/api/v1/orders", headers, chunks)  # type: ignore[arg-type]
    assert (status, problem["code"]) == (413, "payload_too_large")
    assert pulled == 5  # the fifth chunk passed 1 MiB: nothing after it was read
    assert count(api.db, m.Order) == 0


def test_imports_have_their_own_larger_cap(api: Api) -> None:
    with api.db.transaction() as session:
        session.add(m.Location(id="loc_WH-1", ref="WH-1", name="WH-1", type="warehouse"))
    line = json.dumps({"location": "WH-1", "sku": "S", "on_hand": 1})
    lines = [json.dumps({"location": "WH-1", "sku": f"S{i}", "on_hand": 1}) for i in range(40_000)]
    body = ("\n".join(lines) + "\n").encode()
    assert len(body) > 1.5 * MIB
    headers = api.headers("warehouse", **{"Content-Type": "application/x-ndjson"})
    answer = api.client.post("/api/v1/inventory/import", content=body, headers=headers)
    assert answer.status_code == 200, answer.text[:500]
    assert answer.json()["applied"] == 40_000

    # A smaller configured cap refuses the same file, applying nothing.
    small = create_app(api.db, Outbox(default_registry()), max_import_bytes=MIB)
    with TestClient(small) as client:
        refused = client.post(
            "/api/v1/inventory/import", content=body + line.encode(), headers=headers
        )
    assert refused.status_code == 413
    assert (refused.json()["code"], refused.json()["max_bytes"]) == ("payload_too_large", MIB)
    assert count(api.db, m.InventoryRecord) == 40_000
