"""Sending webhooks on SQLite and PostgreSQL, through the worker's real outbox relay and job
machinery, to a receiver behind an httpx MockTransport that verifies each signature with
the `standardwebhooks` library: fan-out by type, retries on the schedule with one
webhook-id, Retry-After, 410, giving up after five days, per-order ordering that a failing
order does not spread to others, secret rotation, retry, replay and purge."""

from __future__ import annotations

from datetime import timedelta

import httpx
from sqlalchemy import select

from openoms.adapters.db import models as m
from openoms.adapters.db.models import utcnow
from openoms.adapters.db.session import Database
from openoms.adapters.jobs import JobContext, Reschedule
from openoms.adapters.outbox import Outbox
from openoms.services import webhooks as service
from openoms.worker.consumers import default_registry
from tests.integration.helpers import count
from tests.integration.webhooks.receiver import URL, Receiver, record, sender, webhook_worker
from tests.integration.worker import WorkerClock, drain


def endpoint(db: Database, **fields: object) -> tuple[str, str]:
    """A registered endpoint: (id, secret)."""
    values: dict[str, object] = {
        "url": URL,
        "event_types": None,
        "channels": None,
        "description": "test",
        "allow_private": False,
        **fields,
    }
    with db.transaction() as session:
        created = service.create_endpoint(session, **values)  # type: ignore[arg-type]
        return created.id, created.secret


def deliveries(db: Database, endpoint_id: str) -> list[tuple[str, str, int]]:
    """(event type, status, attempts) of the endpoint's deliveries in event order."""
    with db.reading() as session:
        rows = session.execute(
            select(m.Event.name, m.WebhookDelivery.status, m.WebhookDelivery.attempts)
            .join(m.Event, m.Event.id == m.WebhookDelivery.event_id)
            .where(m.WebhookDelivery.endpoint_id == endpoint_id)
            .order_by(m.WebhookDelivery.event_id)
        ).all()
    return [tuple(r) for r in rows]  # type: ignore[misc]


def test_every_event_is_sent_once_signed_in_the_envelope(db: Database) -> None:
    endpoint_id, secret = endpoint(db)
    picky_id, _ = endpoint(db, event_types=["order_summary.routed"])
    receiver = Receiver(secrets=[secret])
    first = record(db, "order_summary.created", "os_1", n=1)
    second = record(db, "order_summary.routed", "os_1", n=2)
    third = record(db, "location.upserted", None, n=3)

    drain(webhook_worker(db, receiver))

    by_endpoint = sorted((r.headers["webhook-id"], r.body["type"]) for r in receiver.ok())
    assert by_endpoint == sorted(
        [
            (first, "order_summary.created"),
            (second, "order_summary.routed"),
            (second, "order_summary.routed"),
            (third, "location.upserted"),
        ]
    )
    signed_by_first = [v for v in receiver.verified if v == [secret]]
    assert len(signed_by_first) == 3  # the other endpoint's secret signs its one delivery
    body = next(r.body for r in receiver.received if r.webhook_id == first)
    assert set(body) == {"id", "type", "version", "occurred_at", "data"}
    assert (body["id"], body["version"], body["data"]) == (first, 1, {"n": 1})
    assert body["occurred_at"].endswith("Z")
    assert deliveries(db, endpoint_id) == [
        ("order_summary.created", "succeeded", 1),
        ("order_summary.routed", "succeeded", 1),
        ("location.upserted", "succeeded", 1),
    ]
    assert deliveries(db, picky_id) == [("order_summary.routed", "succeeded", 1)]


def test_a_failing_delivery_is_retried_on_the_schedule_with_the_same_webhook_id(
    db: Database,
) -> None:
    endpoint_id, secret = endpoint(db)
    event_id = record(db, "order_summary.created", "os_1")
    receiver = Receiver(
        secrets=[secret],
        answers={event_id: [httpx.Response(500, text="boom"), httpx.Response(502)]},
    )
    clock = WorkerClock()
    worker = webhook_worker(db, receiver, clock)

    drain(worker)
    assert [r.status for r in receiver.received] == [500]
    clock.advance(timedelta(seconds=9))  # the schedule's second step is 10 s
    drain(worker)
    assert [r.status for r in receiver.received] == [500]
    clock.advance(timedelta(seconds=1))
    drain(worker)
    clock.advance(timedelta(seconds=20))
    drain(worker)

    assert [(r.webhook_id, r.status) for r in receiver.received] == [
        (event_id, 500),
        (event_id, 502),
        (event_id, 204),
    ]
    assert all(v == [secret] for v in receiver.verified)
    (view,) = _log(db, endpoint_id)
    assert (view["status"], view["attempt_count"], view["last_status_code"]) == (
        "succeeded",
        3,
        204,
    )
    assert [(a["status_code"], a["response_body"], a["error"]) for a in view["attempts"]] == [
        (500, "boom", "answered 500"),
        (502, "", "answered 502"),
        (204, "", None),
    ]
    with db.reading() as session:
        assert session.get(m.WebhookEndpoint, endpoint_id).failing_since is None  # type: ignore[union-attr]


def test_a_used_up_schedule_fails_the_delivery_and_replay_sends_it_again(db: Database) -> None:
    endpoint_id, secret = endpoint(db)
    event_id = record(db, "order_summary.created", "os_1")
    receiver = Receiver(secrets=[secret], answers={event_id: [httpx.Response(500)] * 4})
    clock = WorkerClock()
    worker = webhook_worker(db, receiver, clock)
    for _ in range(4):
        drain(worker)
        clock.advance(timedelta(seconds=30))
    assert deliveries(db, endpoint_id) == [("order_summary.created", "failed", 4)]

    with db.transaction() as session:
        replayed = service.replay_failed(session, endpoint_id, since=utcnow() - timedelta(hours=1))
    assert len(replayed) == 1
    drain(worker)

    assert [r.status for r in receiver.received] == [500, 500, 500, 500, 204]
    assert deliveries(db, endpoint_id) == [("order_summary.created", "succeeded", 5)]


def test_retry_after_is_honoured_on_429(db: Database) -> None:
    _, secret = endpoint(db)
    event_id = record(db, "order_summary.created", "os_1")
    busy = httpx.Response(429, headers={"Retry-After": "120"})
    receiver = Receiver(secrets=[secret], answers={event_id: [busy]})
    clock = WorkerClock()
    worker = webhook_worker(db, receiver, clock)
    drain(worker)
    clock.advance(timedelta(seconds=119))
    drain(worker)
    assert [r.status for r in receiver.received] == [429]
    clock.advance(timedelta(seconds=1))
    drain(worker)
    assert [r.status for r in receiver.received] == [429, 204]


def test_410_disables_the_endpoint_with_an_event_and_a_process_exception(db: Database) -> None:
    endpoint_id, secret = endpoint(db)
    gone = record(db, "order_summary.created", "os_1")
    later = record(db, "order_summary.routed", "os_1")
    receiver = Receiver(secrets=[secret], answers={gone: [httpx.Response(410)]})
    drain(webhook_worker(db, receiver))

    assert [(r.webhook_id, r.status) for r in receiver.received] == [(gone, 410)]
    assert deliveries(db, endpoint_id) == [
        ("order_summary.created", "failed", 1),
        ("order_summary.routed", "failed", 0),
    ]
    with db.reading() as session:
        found = session.get(m.WebhookEndpoint, endpoint_id)
        assert found is not None
        assert (found.enabled, found.disabled_reason) == (False, "the receiver answered 410 Gone")
        events = session.scalars(
            select(m.Event.payload).where(m.Event.name == "webhook_endpoint.disabled")
        ).all()
        assert events == [
            {
                "webhook_endpoint_id": endpoint_id,
                "url": URL,
                "reason": "the receiver answered 410 Gone",
            }
        ]
        (exception,) = session.scalars(select(m.ProcessException)).all()
        assert (exception.category, exception.status) == ("webhook", "NEW")
        assert exception.dedupe_key == f"webhook-endpoint:{endpoint_id}"
    assert later  # never sent: the endpoint is disabled

    with db.transaction() as session:
        service.update_endpoint(
            session,
            Outbox(default_registry()),
            endpoint_id,
            service.EndpointChanges(enabled=True),
            allow_private=False,
        )
        service.replay_failed(session, endpoint_id, since=utcnow() - timedelta(hours=1))
    drain(webhook_worker(db, receiver))
    orders = [(r.webhook_id, r.status) for r in receiver.received if r.body["data"] == {}]
    assert orders == [(gone, 410), (gone, 204), (later, 204)]
    # Enabling resolved the exception: that event went out too (the disabling's did not).
    assert [r.body["type"] for r in receiver.received if r.body["data"] != {}] == [
        "process_exception.resolved"
    ]
    with db.reading() as session:
        assert session.scalars(select(m.ProcessException.status)).all() == ["RESOLVED"]


def test_five_days_of_failures_disable_the_endpoint(db: Database) -> None:
    endpoint_id, secret = endpoint(db)
    record(db, "order_summary.created", "os_1")
    receiver = Receiver(secrets=[secret], default=lambda: httpx.Response(503))
    clock = WorkerClock()
    worker = webhook_worker(db, receiver, clock, schedule=(0.0, *[86400.0] * 9))
    for _ in range(5):
        drain(worker)
        clock.advance(timedelta(days=1))
    assert deliveries(db, endpoint_id) == [("order_summary.created", "pending", 5)]
    drain(worker)  # the sixth attempt, 5 days after the first failure

    assert deliveries(db, endpoint_id) == [("order_summary.created", "failed", 6)]
    with db.reading() as session:
        found = session.get(m.WebhookEndpoint, endpoint_id)
        assert found is not None
        assert (found.enabled, found.disabled_reason) == (False, "every attempt failed for 5 days")
    assert count(db, m.ProcessException) == 1


def test_an_orders_events_wait_for_its_failing_one_but_other_orders_go_on(db: Database) -> None:
    endpoint_id, secret = endpoint(db)
    a1 = record(db, "order_summary.created", "os_A")
    b1 = record(db, "order_summary.created", "os_B")
    a2 = record(db, "order_summary.routed", "os_A")
    b2 = record(db, "order_summary.routed", "os_B")
    receiver = Receiver(secrets=[secret], answers={a1: [httpx.Response(500)] * 2})
    clock = WorkerClock()
    worker = webhook_worker(db, receiver, clock)

    drain(worker)
    assert [(r.webhook_id, r.status) for r in receiver.received] == [
        (a1, 500),
        (b1, 204),
        (b2, 204),
    ]
    clock.advance(timedelta(seconds=10))
    drain(worker)
    clock.advance(timedelta(seconds=20))
    drain(worker)

    sent = [(r.webhook_id, r.status) for r in receiver.received]
    assert sent[3:] == [(a1, 500), (a1, 204), (a2, 204)]
    assert deliveries(db, endpoint_id) == [
        ("order_summary.created", "succeeded", 3),
        ("order_summary.created", "succeeded", 1),
        ("order_summary.routed", "succeeded", 1),
        ("order_summary.routed", "succeeded", 1),
    ]


def test_after_a_rotation_both_secrets_sign_for_24_hours(db: Database) -> None:
    endpoint_id, old = endpoint(db)
    with db.transaction() as session:
        new = service.rotate_secret(session, endpoint_id).secret
    assert new != old
    assert new.startswith("whsec_")
    record(db, "order_summary.created", "os_1")
    receiver = Receiver(secrets=[old, new])
    drain(webhook_worker(db, receiver))
    assert receiver.verified == [[old, new]]
    assert len(receiver.received[0].headers["webhook-signature"].split(" ")) == 2

    record(db, "order_summary.routed", "os_1")
    clock = WorkerClock(ahead=timedelta(hours=25))
    drain(webhook_worker(db, receiver, clock))
    assert receiver.verified == [[old, new], [new]]


def test_a_test_event_goes_to_its_endpoint_only(db: Database) -> None:
    endpoint_id, secret = endpoint(db)
    other_id, _ = endpoint(db)
    with db.transaction() as session:
        delivery_id = service.send_test(session, Outbox(default_registry()), endpoint_id)
    receiver = Receiver(secrets=[secret])
    drain(webhook_worker(db, receiver))

    assert receiver.types() == ["webhook.test"]
    assert receiver.ok()[0].body["data"] == {
        "webhook_endpoint_id": endpoint_id,
        "message": "a test event from openoms",
    }
    assert deliveries(db, other_id) == []
    assert _log(db, endpoint_id)[0]["id"] == delivery_id


def test_a_private_target_is_refused_at_send_time(db: Database) -> None:
    endpoint_id, secret = endpoint(db)
    record(db, "order_summary.created", "os_1")
    receiver = Receiver(secrets=[secret])
    worker = webhook_worker(db, receiver)
    worker.jobs.kinds["send_webhook"].handler.resolver = lambda h, p: ["10.0.0.7"]  # type: ignore[union-attr]
    drain(worker)

    assert receiver.received == []
    (view,) = _log(db, endpoint_id)
    (attempt,) = view["attempts"]
    assert attempt["status_code"] is None
    assert attempt["error"].startswith("refused: host 'hooks.example.com' is a non-public address")


def test_retry_of_a_delivery_sends_it_again_and_purge_drops_old_rows(db: Database) -> None:
    endpoint_id, secret = endpoint(db)
    event_id = record(db, "order_summary.created", "os_1")
    receiver = Receiver(secrets=[secret])
    worker = webhook_worker(db, receiver)
    drain(worker)
    (view,) = _log(db, endpoint_id)
    with db.transaction() as session:
        service.retry_delivery(session, view["id"])
    drain(worker)
    assert [r.webhook_id for r in receiver.received] == [event_id, event_id]
    assert deliveries(db, endpoint_id) == [("order_summary.created", "succeeded", 2)]

    kept = service.purge_deliveries(db, utcnow(), retention=timedelta(days=1))
    assert kept == 0
    purged = service.purge_deliveries(db, utcnow() + timedelta(days=2), retention=timedelta(days=1))
    assert purged == 1
    assert (count(db, m.WebhookDelivery), count(db, m.WebhookAttempt)) == (0, 0)
    assert count(db, m.WebhookEndpoint) == 1


def _log(db: Database, endpoint_id: str) -> list[dict[str, object]]:
    with db.reading() as session:
        return service.list_deliveries(session, endpoint_id, status=None, after_id=None, limit=50)


def test_a_job_whose_claim_is_about_to_run_out_is_put_back_unsent(db: Database) -> None:
    endpoint_id, secret = endpoint(db)
    record(db, "order_summary.created", "os_1")
    receiver = Receiver(secrets=[secret])
    drain(webhook_worker(db, Receiver(secrets=[secret], default=lambda: httpx.Response(500))))
    (view,) = _log(db, endpoint_id)
    late = JobContext(
        db=db,
        outbox=Outbox(default_registry()),
        job_id=0,
        attempt=1,
        now=utcnow() - timedelta(seconds=91),  # claimed 91 s ago: 29 s of its lease left
    )
    outcome = sender(receiver)(late, {"delivery_id": view["id"]})

    assert outcome == Reschedule("its claim was about to run out", timedelta(milliseconds=1))
    assert receiver.received == []
    assert deliveries(db, endpoint_id) == [("order_summary.created", "pending", 1)]


def test_the_fan_out_gets_a_delivery_only_for_events_an_endpoint_wants(db: Database) -> None:
    def fan_outs() -> list[str]:
        with db.reading() as session:
            return list(
                session.scalars(
                    select(m.Event.name)
                    .join(m.EventDelivery, m.EventDelivery.event_id == m.Event.id)
                    .where(m.EventDelivery.consumer == service.WEBHOOK_CONSUMER)
                    .order_by(m.Event.id)
                )
            )

    record(db, "order_summary.created", "os_1", n=1)  # no endpoint yet: no delivery
    endpoint_id, _ = endpoint(db, event_types=["order_summary.routed"])
    record(db, "order_summary.created", "os_1", n=2)  # a type nobody wants
    record(db, "order_summary.routed", "os_1", n=3)
    assert fan_outs() == ["order_summary.routed"]
    with db.transaction() as session:
        changes = service.EndpointChanges(enabled=False)
        outbox = Outbox(default_registry())
        service.update_endpoint(session, outbox, endpoint_id, changes, allow_private=True)
    record(db, "order_summary.routed", "os_1", n=4)  # disabled: nobody wants anything
    assert fan_outs() == ["order_summary.routed"]
