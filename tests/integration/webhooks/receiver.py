"""What the webhook integration tests share: a receiver behind an httpx MockTransport that
verifies every signature with the official `standardwebhooks` library and answers from a
script, a worker whose `send_webhook` jobs post to it, and events recorded the way the
services record them."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from openoms.adapters.db.session import Database
from openoms.adapters.outbox import Outbox
from openoms.domain.events import DomainEvent
from openoms.services.webhooks import WEBHOOK_JOB, WebhookSender, WebhookSettings
from openoms.worker.consumers import catalog_versions, default_jobs, default_registry
from openoms.worker.runner import Worker
from tests.integration.worker import WorkerClock, make_worker

URL = "https://hooks.example.com/openoms"
SCHEDULE = (0.0, 10.0, 20.0, 30.0)


@dataclass
class Received:
    webhook_id: str
    headers: dict[str, str]
    body: dict[str, Any]
    status: int


@dataclass
class Receiver:
    """Answers `answers[webhook_id]` in turn (then `default`), records every request, and
    checks each signature against every secret in `secrets`: `verified` lists the ones
    that verified each request."""

    secrets: list[str] = field(default_factory=list)
    answers: dict[str, list[httpx.Response]] = field(default_factory=dict)
    default: Callable[[], httpx.Response] = lambda: httpx.Response(204)
    received: list[Received] = field(default_factory=list)
    verified: list[list[str]] = field(default_factory=list)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        headers = dict(request.headers)
        ok = []
        for secret in self.secrets:
            try:
                Webhook(secret).verify(request.content, headers)
                ok.append(secret)
            except WebhookVerificationError:
                continue  # recorded as not verified by this secret
        self.verified.append(ok)
        webhook_id = headers["webhook-id"]
        queue = self.answers.get(webhook_id)
        answer = queue.pop(0) if queue else self.default()
        body = json.loads(request.content)
        self.received.append(Received(webhook_id, headers, body, answer.status_code))
        return answer

    def ok(self) -> list[Received]:
        return [r for r in self.received if 200 <= r.status < 300]

    def types(self) -> list[str]:
        return [r.body["type"] for r in self.ok()]


def sender(receiver: Receiver, **settings: Any) -> WebhookSender:
    values = {"schedule": SCHEDULE, "allow_private": False, **settings}
    client = httpx.Client(transport=httpx.MockTransport(receiver))
    return WebhookSender(
        catalog_versions(),
        WebhookSettings(**values),
        client=client,
        resolver=lambda host, port: ["93.184.215.14"],  # a public address
        jitter=lambda: 0.0,
    )


def webhook_worker(
    db: Database, receiver: Receiver, clock: WorkerClock | None = None, **settings: Any
) -> Worker:
    """The standard consumers and jobs, with `send_webhook` posting to `receiver`."""
    jobs = default_jobs(db)
    jobs.kinds[WEBHOOK_JOB] = sender(receiver, **settings).job_kind()
    return make_worker(db, jobs=jobs, clock=clock or WorkerClock())


def record(db: Database, name: str, order_summary_id: str | None, **payload: Any) -> str:
    """Record one event as a service does; its public id."""
    event = DomainEvent(
        name=name,
        aggregate_type="test",
        aggregate_id=order_summary_id or "none",
        order_summary_id=order_summary_id,
        payload=payload,
    )
    with db.transaction() as session:
        (stored,) = Outbox(default_registry()).record(session, [event])
        return stored.event_id
