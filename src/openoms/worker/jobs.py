"""The standard worker: outbox consumers plus the periodic housekeeping jobs."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from functools import partial

from openoms.adapters.db.repositories.idempotency import RETENTION, purge_idempotency_records
from openoms.adapters.db.session import Database
from openoms.adapters.jobs import JobRegistry
from openoms.adapters.outbox import ConsumerRegistry, Outbox
from openoms.services.inventory import expire_due
from openoms.services.routing import schedule_runs
from openoms.services.webhooks import WebhookSettings, purge_deliveries
from openoms.worker.runner import Worker

log = logging.getLogger(__name__)


def purge_idempotency(db: Database, now: datetime) -> None:
    with db.transaction() as session:
        purged = purge_idempotency_records(session, now - RETENTION)
    if purged:
        log.info("purged %d idempotency records older than %s", purged, RETENTION)


def expire_reservations(db: Database, now: datetime, *, outbox: Outbox) -> None:
    expired = expire_due(db, outbox, now)
    if expired:
        log.info("expired %d reservations", expired)


def purge_webhook_deliveries(db: Database, now: datetime, *, retention: timedelta) -> None:
    purged = purge_deliveries(db, now, retention=retention)
    if purged:
        log.info("purged %d webhook deliveries older than %s", purged, retention)


def schedule_routing_runs(db: Database, now: datetime) -> None:
    queued = schedule_runs(db, now)
    if queued:
        log.info("queued %d scheduled routing run(s)", queued)


def standard_worker(
    db: Database, registry: ConsumerRegistry, jobs: JobRegistry, *, poll_seconds: float
) -> Worker:
    """What `openoms serve` runs in-process and `openoms worker` runs on its own."""
    worker = Worker(db, registry, poll_seconds=poll_seconds, jobs=jobs)
    worker.add_periodic("purge-idempotency-records", 3600, purge_idempotency)
    retention = WebhookSettings.from_env().retention  # OPENOMS_WEBHOOK_RETENTION_DAYS
    worker.add_periodic(
        "purge-webhook-deliveries", 3600, partial(purge_webhook_deliveries, retention=retention)
    )
    worker.add_periodic(
        "expire-reservations", 5, partial(expire_reservations, outbox=Outbox(registry))
    )
    # Every worker looks; the tick's job key makes each channel's run queued once.
    worker.add_periodic("schedule-routing-runs", 5, schedule_routing_runs)
    return worker
