"""A real webhook receiver for the end-to-end tests: an HTTP server on a free local port,
in a thread, that verifies every request with the official `standardwebhooks` library,
fails the first `fail_first` attempts of each webhook-id with a 500, and records
everything it was sent."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError


@dataclass
class Hit:
    webhook_id: str
    status: int
    verified: bool
    body: dict[str, Any]
    at: float


@dataclass
class Receiver:
    fail_first: int = 0
    delay_seconds: float = 0.0
    secret: str | None = None
    hits: list[Hit] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    url: str = ""

    def handle(self, body: bytes, headers: dict[str, str]) -> int:
        if self.delay_seconds:
            time.sleep(self.delay_seconds)
        try:
            assert self.secret is not None
            Webhook(self.secret).verify(body, headers)
            verified = True
        except (WebhookVerificationError, AssertionError):
            verified = False
        webhook_id = headers.get("webhook-id", "")
        with self.lock:
            tried = sum(1 for h in self.hits if h.webhook_id == webhook_id)
            status = 500 if tried < self.fail_first or not verified else 200
            self.hits.append(Hit(webhook_id, status, verified, json.loads(body), time.monotonic()))
        return status

    def successes(self) -> list[Hit]:
        with self.lock:
            return [h for h in self.hits if h.status == 200]


def _handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            headers = {k.lower(): v for k, v in self.headers.items()}
            status = receiver.handle(body, headers)
            answer = b'{"ok": true}' if status == 200 else b"try again"
            self.send_response(status)
            self.send_header("content-length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@contextmanager
def receiving(receiver: Receiver) -> Iterator[Receiver]:
    """Serve `receiver` on 127.0.0.1 (its `url` set) until the block ends."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(receiver))
    server.daemon_threads = True
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}/hooks"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
