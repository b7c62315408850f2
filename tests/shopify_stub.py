"""A stand-in for Shopify's Admin REST API on a free local port (real HTTP, in a thread):
the order, fulfillment order, fulfillment and cancel calls the Shopify connector makes, and
an order's transactions (capture and void of an authorization, refunds; a capture beyond
what is left is refused with 422 as Shopify refuses it),
answers queued ahead to fail (429 with Retry-After, 5xx, 4xx), and a record of every
request. Its state is what the connector's requests made of it."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

TOKEN = "shpat_stub_token_0123"


@dataclass
class Seen:
    method: str
    path: str
    token: str | None
    body: Any


@dataclass
class ShopifyStub:
    """`orders`: order id → its lines as (line item id, sku, quantity). `faults`: answers
    served first, in order, as (status, headers)."""

    orders: dict[str, list[tuple[int, str, int]]] = field(default_factory=dict)
    faults: list[tuple[int, dict[str, str]]] = field(default_factory=list)
    always: tuple[int, dict[str, str]] | None = None
    seen: list[Seen] = field(default_factory=list)
    fulfilled: dict[int, int] = field(default_factory=dict)  # line item id → units
    fulfillments: list[dict[str, Any]] = field(default_factory=list)
    cancelled: list[str] = field(default_factory=list)
    transactions: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    refunds: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    transaction_status: str = "success"  # what a new capture or void comes out as
    lock: threading.Lock = field(default_factory=threading.Lock)
    url: str = ""

    def answer(
        self, method: str, path: str, token: str | None, body: Any
    ) -> tuple[int, dict[str, str], Any]:
        with self.lock:
            self.seen.append(Seen(method, path, token, body))
            if self.always is not None:
                return self.always[0], self.always[1], {"errors": "stub fault"}
            if self.faults:
                status, headers = self.faults.pop(0)
                return status, headers, {"errors": "stub fault"}
            if token != TOKEN:
                return 401, {}, {"errors": "[API] Invalid API key or access token"}
            return self._route(method, path, body)

    def _route(self, method: str, path: str, body: Any) -> tuple[int, dict[str, str], Any]:
        found = re.fullmatch(r"/admin/api/[\d-]+/(.+?)(\?.*)?", path)
        route = found.group(1) if found else ""
        if method == "GET" and (m := re.fullmatch(r"orders/(\w+)\.json", route)):
            lines = self.orders.get(m.group(1))
            if lines is None:
                return 404, {}, {"errors": "Not Found"}
            items = [{"id": i, "sku": sku, "quantity": q} for i, sku, q in lines]
            return 200, {}, {"order": {"id": int(m.group(1)), "line_items": items}}
        if method == "GET" and (m := re.fullmatch(r"orders/(\w+)/fulfillment_orders\.json", route)):
            lines = self.orders.get(m.group(1), [])
            fo_lines = [
                {
                    "id": 9000 + i,
                    "line_item_id": i,
                    "quantity": q,
                    "fulfillable_quantity": q - self.fulfilled.get(i, 0),
                }
                for i, _sku, q in lines
            ]
            return (
                200,
                {},
                {"fulfillment_orders": [{"id": 7000, "status": "open", "line_items": fo_lines}]},
            )
        if method == "POST" and route == "fulfillments.json":
            fulfillment = body["fulfillment"]
            for group in fulfillment["line_items_by_fulfillment_order"]:
                for line in group["fulfillment_order_line_items"]:
                    item = line["id"] - 9000
                    self.fulfilled[item] = self.fulfilled.get(item, 0) + line["quantity"]
            self.fulfillments.append(fulfillment)
            return (
                201,
                {},
                {"fulfillment": {"id": 5000 + len(self.fulfillments), "status": "success"}},
            )
        if method == "POST" and (m := re.fullmatch(r"orders/(\w+)/cancel\.json", route)):
            if m.group(1) in self.cancelled:
                return 422, {}, {"error": "Cannot cancel an order that has already been cancelled"}
            self.cancelled.append(m.group(1))
            return 200, {}, {"order": {"id": int(m.group(1))}}
        if m := re.fullmatch(r"orders/(\w+)/(transactions|refunds)\.json", route):
            return self._money(method, m.group(1), m.group(2), body)
        return 404, {}, {"errors": "Not Found"}

    def _money(
        self, method: str, order: str, what: str, body: Any
    ) -> tuple[int, dict[str, str], Any]:
        listed = self.transactions.setdefault(order, [])
        if method == "GET":
            return (
                200,
                {},
                {what: listed if what == "transactions" else self.refunds.get(order, [])},
            )
        if what == "refunds":
            known = {t["id"] for t in listed if t["kind"] in ("capture", "sale")}
            if any(t.get("parent_id") not in known for t in body["refund"]["transactions"]):
                return 422, {}, {"errors": {"parent_id": ["no captured transaction to refund"]}}
            made = [
                self._add(order, {**t, "status": "success"}) for t in body["refund"]["transactions"]
            ]
            refund = {
                "id": 6000 + len(self.refunds.get(order, [])),
                "note": body["refund"]["note"],
                "transactions": made,
            }
            self.refunds.setdefault(order, []).append(refund)
            return 201, {}, {"refund": refund}
        wanted = body["transaction"]
        parent = next((t for t in listed if t["id"] == wanted.get("parent_id")), None)
        if parent is None:
            return 422, {}, {"errors": {"parent_id": ["no such transaction"]}}
        if wanted["kind"] == "capture":
            taken = sum(
                Decimal(t["amount"])
                for t in listed
                if t.get("parent_id") == parent["id"] and t["kind"] == "capture"
            )
            if Decimal(wanted["amount"]) > Decimal(parent["amount"]) - taken:
                return 422, {}, {"errors": {"amount": ["exceeds the amount left to capture"]}}
        made = self._add(order, {**wanted, "status": self.transaction_status})
        return 201, {}, {"transaction": made}

    def _add(self, order: str, transaction: dict[str, Any]) -> dict[str, Any]:
        listed = self.transactions.setdefault(order, [])
        made = {"id": 8000 + len(listed), "currency": "USD", "gateway": "bogus", **transaction}
        made["amount"] = str(made.get("amount", "0.00"))
        listed.append(made)
        return made


def _handler(stub: ShopifyStub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            self._serve("GET")

        def do_POST(self) -> None:
            self._serve("POST")

        def _serve(self, method: str) -> None:
            raw = self.rfile.read(int(self.headers.get("content-length", "0")))
            body = json.loads(raw) if raw else None
            status, headers, answer = stub.answer(
                method, self.path, self.headers.get("X-Shopify-Access-Token"), body
            )
            data = json.dumps(answer).encode()
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@contextmanager
def serving(stub: ShopifyStub) -> Iterator[ShopifyStub]:
    """Serve `stub` on 127.0.0.1 (its `url` set) until the block ends."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(stub))
    server.daemon_threads = True
    stub.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield stub
    finally:
        server.shutdown()
        server.server_close()
