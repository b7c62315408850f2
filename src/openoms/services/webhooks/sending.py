"""Sending one delivery: the `send_webhook` job's calling handler. Three steps, and no
transaction or lock is held during the HTTP call:

1. read (one short transaction): is it still pending, is the endpoint enabled, is it its
   turn (no earlier event of the same order unfinished for this endpoint), and build the
   signed request;
2. POST it (Standard Webhooks: `webhook-id` = the event id, the same on every retry;
   `webhook-timestamp`; `webhook-signature` made by the `standardwebhooks` library with
   the current secret, and the previous one during a rotation's overlap);
3. record (one short transaction): the attempt, then success, a retry on the schedule (or
   after `Retry-After` for 429/503), failure for good, or the endpoint disabled (410, or
   five days of failing everything).

A crash between 2 and 3 leaves the job leased; it runs again when the lease ends and
repeats the POST with the same `webhook-id`: a duplicate is only ever such a retry.
"""

from __future__ import annotations

import functools
import json
import logging
import random
import ssl
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy.orm import Session
from standardwebhooks import Webhook

from openoms import __version__
from openoms.adapters.db.models import WebhookAttempt, WebhookDelivery, utcnow
from openoms.adapters.db.repositories import webhooks as repo
from openoms.adapters.jobs import LEASE, JobContext, JobKind, Reschedule
from openoms.adapters.outbox import Outbox, event_envelope
from openoms.domain.webhooks import (
    WebhookUrlForbidden,
    check_target,
    literal_address,
    parse_retry_after,
    retry_delay,
    should_disable,
    split_url,
)
from openoms.services.webhooks.endpoints import (
    Resolver,
    disable_endpoint,
    resolve,
    signing_secrets,
)
from openoms.services.webhooks.fanout import WEBHOOK_CONSUMER, job_key
from openoms.services.webhooks.settings import WebhookSettings

log = logging.getLogger(__name__)

CONNECT_SECONDS = 2.0
TOTAL_SECONDS = 10.0
BODY_KEPT = 1024  # bytes of each answer kept in the delivery log
LEASE_MARGIN = timedelta(seconds=30)  # more than a send takes (10 s) and its two transactions
WAIT_FOR_TURN = timedelta(seconds=1)
# The least delay a reschedule asks for: the job machinery reads a zero delay as "back off".
SOON = timedelta(milliseconds=1)  # after the earlier event's retry, or a pass of polling
# The job's own attempt count is not the delivery's (waiting for its turn is a run too):
# the delivery's schedule decides when to give up, never the job machinery.
JOB_ATTEMPTS = 1_000_000


@dataclass(frozen=True, slots=True)
class Request:
    delivery_id: int
    attempts: int  # attempts made before this one: the record step checks nobody else ran
    url: str
    webhook_id: str
    body: bytes
    secrets: list[str]


@dataclass(frozen=True, slots=True)
class Answer:
    status_code: int | None
    body: str | None
    error: str | None
    latency_ms: int
    retry_after: str | None = None

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


@functools.cache
def tls_context() -> ssl.SSLContext:
    """The TLS settings of every sender in this process (httpx's defaults: certifi's CAs),
    made once: loading the CA bundle costs ~20 ms, and a worker builds its jobs' sender
    each time it starts."""
    return httpx.create_ssl_context()


class WebhookSender:
    """The handler of `send_webhook` jobs. `versions` maps event names to their catalog
    version (the composition root reads the catalog); `client` and `resolver` may be
    given (tests: an httpx MockTransport, a fake DNS)."""

    def __init__(
        self,
        versions: Mapping[str, int],
        settings: WebhookSettings,
        *,
        client: httpx.Client | None = None,
        resolver: Resolver = resolve,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self.versions = dict(versions)
        self.settings = settings
        self.client = client or httpx.Client(
            timeout=httpx.Timeout(TOTAL_SECONDS, connect=CONNECT_SECONDS),
            verify=tls_context(),
            follow_redirects=False,
            headers={"user-agent": f"openoms-webhooks/{__version__}"},
        )
        self.resolver = resolver
        self.jitter = jitter

    def job_kind(self) -> JobKind:
        return JobKind(handler=self, transactional=False, max_attempts=JOB_ATTEMPTS)

    def __call__(self, context: JobContext, payload: dict[str, Any]) -> Reschedule | None:
        delivery_id = int(payload["delivery_id"])
        if utcnow() - context.now > LEASE - LEASE_MARGIN:
            # Claimed in a batch whose earlier sends were slow: our lease runs out before
            # this send could end, and another worker may take the job then. Put it back
            # (due at once) rather than risk sending it twice.
            return Reschedule("its claim was about to run out", SOON)
        with context.db.transaction() as session:
            prepared = self._prepare(session, context.outbox, delivery_id, context.now)
        if not isinstance(prepared, Request):
            return prepared
        answer = self._post(prepared)
        with context.db.transaction() as session:
            return self._record(session, context.outbox, prepared, answer, context.now)

    # --- 1. read ---------------------------------------------------------------------

    def _prepare(
        self, session: Session, outbox: Outbox, delivery_id: int, now: datetime
    ) -> Request | Reschedule | None:
        found = repo.delivery_to_send(session, delivery_id)
        if found is None:
            return None  # deleted with its endpoint
        delivery, endpoint, event = found
        if delivery.status != "pending":
            return None  # finished (a retry requeues it)
        if not endpoint.enabled:
            _finish(session, delivery, "failed", "endpoint disabled", now)
            return None
        earlier = repo.unfinished_earlier(session, delivery, fan_out_consumer=WEBHOOK_CONSUMER)
        if earlier:
            retry_at = repo.earliest_retry_of(session, delivery.endpoint_id, earlier)
            wait = max(retry_at - now, timedelta(0)) if retry_at is not None else timedelta(0)
            # The job machinery reschedules it to exactly this time (context.now + delay):
            # the delivery that finishes first brings it forward from there.
            delivery.waiting_until = now + wait + WAIT_FOR_TURN
            return Reschedule(
                f"waiting for event #{earlier[0]} of the same order", wait + WAIT_FOR_TURN
            )
        delivery.waiting_until = None
        envelope = event_envelope(event, self.versions.get(event.name, 1))
        return Request(
            delivery_id=delivery.id,
            attempts=delivery.attempts,
            url=endpoint.url,
            webhook_id=event.event_id,
            body=json.dumps(envelope, separators=(",", ":")).encode(),
            secrets=signing_secrets(endpoint, now),
        )

    # --- 2. send ---------------------------------------------------------------------

    def _post(self, request: Request) -> Answer:
        started = time.perf_counter()
        try:
            self._check_target(request.url)
        except WebhookUrlForbidden as exc:
            return Answer(None, None, f"refused: {exc.detail}", 0)
        timestamp = utcnow()
        signature = " ".join(
            Webhook(secret).sign(request.webhook_id, timestamp, request.body)
            for secret in request.secrets
        )
        headers = {
            "content-type": "application/json",
            "webhook-id": request.webhook_id,
            "webhook-timestamp": str(int(timestamp.timestamp())),
            "webhook-signature": signature,
        }
        try:
            with self.client.stream(
                "POST", request.url, content=request.body, headers=headers
            ) as r:
                kept = _read_some(r, started)
                return Answer(
                    r.status_code,
                    kept.decode("utf-8", errors="replace"),
                    None if 200 <= r.status_code < 300 else f"answered {r.status_code}",
                    _ms(started),
                    r.headers.get("retry-after"),
                )
        except httpx.TimeoutException as exc:
            return Answer(None, None, f"timed out: {type(exc).__name__}", _ms(started))
        except (httpx.HTTPError, OSError) as exc:
            return Answer(None, None, f"{type(exc).__name__}: {exc}"[:500], _ms(started))

    def _check_target(self, url: str) -> None:
        """The SSRF guard at send time, after DNS resolution (a name may have moved to a
        private address since the endpoint was registered)."""
        if self.settings.allow_private:
            return
        _, host, port = split_url(url)
        literal = literal_address(host)
        check_target(host, [literal] if literal is not None else self.resolver(host, port))

    # --- 3. record -------------------------------------------------------------------

    def _record(
        self, session: Session, outbox: Outbox, request: Request, answer: Answer, now: datetime
    ) -> Reschedule | None:
        delivery = repo.get_delivery(session, request.delivery_id, lock=True)
        if (
            delivery is None
            or delivery.status != "pending"
            or delivery.attempts != request.attempts
        ):
            return None  # its endpoint was deleted, or another run recorded this attempt
        _log_attempt(session, delivery, answer)
        if answer.ok:
            # No lock on the endpoint on success: workers sending to one endpoint at once
            # would queue on it.
            repo.clear_failing(session, delivery.endpoint_id)
            _finish(session, delivery, "succeeded", None, now)
            return None
        return self._failed(session, outbox, delivery, answer, now)

    def _failed(
        self,
        session: Session,
        outbox: Outbox,
        delivery: WebhookDelivery,
        answer: Answer,
        now: datetime,
    ) -> Reschedule | None:
        """After a failed attempt: disable the endpoint (410, or 5 days of failures), give
        up (schedule used up), or retry on the schedule or after `Retry-After`."""
        endpoint = repo.get_endpoint(session, delivery.endpoint_id, lock=True)
        if endpoint is None:  # the delivery is locked, so its endpoint exists
            raise RuntimeError(f"delivery {delivery.id} has no endpoint")
        if answer.status_code == 410:
            _finish(session, delivery, "failed", answer.error, now)
            disable_endpoint(
                session, outbox, endpoint, reason="the receiver answered 410 Gone", now=now
            )
            return None
        endpoint.failing_since = endpoint.failing_since or now
        if should_disable(endpoint.failing_since, now):
            _finish(session, delivery, "failed", answer.error, now)
            reason = "every attempt failed for 5 days"
            disable_endpoint(session, outbox, endpoint, reason=reason, now=now)
            return None
        delay = retry_delay(self.settings.schedule, delivery.attempts, self.jitter())
        if delay is None:
            _finish(session, delivery, "failed", answer.error, now)
            return None
        if answer.status_code in (429, 503):
            asked = parse_retry_after(answer.retry_after, now)
            delay = asked if asked is not None else delay
        delay = max(delay, SOON)
        delivery.next_attempt_at = now + delay
        return Reschedule(answer.error or "failed", delay)


def _log_attempt(session: Session, delivery: WebhookDelivery, answer: Answer) -> None:
    session.add(
        WebhookAttempt(
            delivery_id=delivery.id,
            attempted_at=utcnow(),
            status_code=answer.status_code,
            latency_ms=answer.latency_ms,
            response_body=answer.body,
            error=answer.error,
        )
    )
    delivery.attempts += 1
    delivery.last_status_code = answer.status_code
    delivery.last_error = answer.error


def _finish(
    session: Session, delivery: WebhookDelivery, status: str, error: str | None, now: datetime
) -> None:
    """Settle a delivery and let the next event of its order (for this endpoint) go."""
    delivery.status = status
    delivery.completed_at = now
    delivery.next_attempt_at = None
    if error is not None:
        delivery.last_error = error
    session.flush()
    following = repo.next_in_line(session, delivery)
    if following is not None and following.waiting_until is not None:
        # Missed when it decides to wait while this commits: it looks again after its wait.
        repo.bring_forward(session, job_key(following.id), following.waiting_until, now)


def _read_some(response: httpx.Response, started: float) -> bytes:
    """The first BODY_KEPT bytes of the answer; the rest is not waited for. Past
    TOTAL_SECONDS in all it is a timeout (each read has its own timeout too)."""
    kept = b""
    for chunk in response.iter_bytes():
        kept += chunk
        if len(kept) >= BODY_KEPT:
            break
        if time.perf_counter() - started > TOTAL_SECONDS:
            raise httpx.ReadTimeout("the answer took more than 10 s")
    return kept[:BODY_KEPT]


def _ms(started: float) -> int:
    return round((time.perf_counter() - started) * 1000)
