"""What the outbox's consumers need (webhook endpoints, flows, channel adapters) is kept per
process under the `outbox_subscriptions` version, which triggers change with every change of
an endpoint, a flow or an adapter: a change made through another process (another Database
and Outbox here) counts from the next event recorded anywhere, and while nothing changed an
event costs no look-up of them."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import event, func, select, text
from sqlalchemy.orm import Session

from openoms.adapters.db.models import EventDelivery, OutboxSubscriptions, WebhookEndpoint
from openoms.adapters.db.session import Database
from openoms.adapters.outbox import Consumer, ConsumerRegistry, Needs, Outbox
from openoms.domain.events import DomainEvent
from openoms.schemas.flows import trigger_catalog
from openoms.services import webhooks
from openoms.services.channels import AdapterSettings, set_adapter
from openoms.services.flows import FlowDocument, put_flow
from openoms.services.orders import ChannelData, upsert_channel
from openoms.worker.consumers import default_registry

CREATED = "order_summary.created"
SHIPPED = "fulfillment_order.shipped"
AUTHORIZED = "payment.authorized"
LOOKED_UP = ("webhook_endpoints", "flows", "channel_adapters")


def _public(host: str, port: int) -> list[str]:
    return ["93.184.215.14"]  # what the endpoint's host resolves to: a public address


def _event(name: str = CREATED, n: int = 0) -> DomainEvent:
    return DomainEvent(
        name=name,
        aggregate_type="order_summary",
        aggregate_id=f"os_{n:04d}",
        payload={"n": n},
        order_summary_id=f"os_{n:04d}",
    )


def _record(db: Database, outbox: Outbox, name: str = CREATED) -> set[str]:
    """Record one event in its own transaction: the consumers that got a delivery."""
    with db.transaction() as session:
        (stored,) = outbox.record(session, [_event(name)])
        query = select(EventDelivery.consumer).where(EventDelivery.event_id == stored.id)
        return set(session.scalars(query))


@contextmanager
def _statements(db: Database) -> Iterator[list[str]]:
    seen: list[str] = []

    def count(_conn, _cursor, statement, *_args) -> None:  # type: ignore[no-untyped-def]
        if not statement.startswith(("BEGIN", "COMMIT", "ROLLBACK")):
            seen.append(" ".join(statement.split()))

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(db.engine, "before_cursor_execute", count)


def _lookups(statements: list[str]) -> list[str]:
    return [s for s in statements if s.startswith("SELECT") and any(t in s for t in LOOKED_UP)]


@pytest.fixture
def other(db: Database) -> Iterator[Database]:
    """The same database as another process sees it: its own engine and connections."""
    database = Database(db.url)
    yield database
    database.dispose()


def _create_endpoint(db: Database, event_types: list[str] | None) -> str:
    with db.transaction() as session:
        endpoint = webhooks.create_endpoint(
            session,
            url="https://hooks.example.com/openoms",
            event_types=event_types,
            channels=None,
            description="",
            allow_private=False,
            resolver=_public,
        )
        return endpoint.id


def _put_flow(db: Database, *, trigger: str = CREATED, enabled: bool = True) -> None:
    document = FlowDocument(
        trigger=trigger, actions=[{"type": "add_note", "note": "seen"}], enabled=enabled
    )
    with db.transaction() as session:
        put_flow(session, Outbox(default_registry()), trigger_catalog(), "note-all", document)


def _always(name: str) -> set[str]:
    """The consumers of `name` that need no subscription (no `needs`)."""
    return {c.name for c in default_registry().for_event(name) if c.needs is None}


def test_nothing_needed_writes_no_delivery_and_costs_no_lookup(db: Database) -> None:
    outbox = Outbox(default_registry())
    names = [CREATED, SHIPPED, "webhook_endpoint.disabled"]
    assert _always(CREATED) == {"authorize-payments", "routing"}
    assert _always("webhook_endpoint.disabled") == set()
    for name in names:
        assert _record(db, outbox, name) == _always(name)
    with _statements(db) as seen:
        for name in names:
            assert _record(db, outbox, name) == _always(name)
    assert _lookups(seen) == []
    # Per event: the INSERT of the event (returning the version), that of its deliveries
    # when there are any, and the test's own read of them.
    assert len(seen) == sum(2 + bool(_always(name)) for name in names)
    with db.reading() as session:
        consumers = set(session.scalars(select(EventDelivery.consumer)))
    assert consumers.isdisjoint({"webhooks", "flows", "channel-sync"})


def test_an_endpoint_created_in_another_process_hears_the_next_event(
    db: Database, other: Database
) -> None:
    outbox = Outbox(default_registry())
    assert "webhooks" not in _record(db, outbox)  # nothing needed: kept so

    _create_endpoint(other, [CREATED])

    assert "webhooks" in _record(db, outbox)
    assert "webhooks" not in _record(db, outbox, SHIPPED)  # not one of its types
    with _statements(db) as seen:
        assert "webhooks" in _record(db, outbox)
    assert _lookups(seen) == []  # kept again, under the new version


def _change_endpoint(db: Database, endpoint_id: str, changes: webhooks.EndpointChanges) -> None:
    with db.transaction() as session:
        webhooks.update_endpoint(
            session,
            Outbox(default_registry()),
            endpoint_id,
            changes,
            allow_private=False,
            resolver=_public,
        )


def test_an_endpoint_enabled_or_retyped_in_another_process_counts_at_once(
    db: Database, other: Database
) -> None:
    outbox = Outbox(default_registry())
    endpoint_id = _create_endpoint(other, [SHIPPED])
    assert "webhooks" not in _record(db, outbox)

    _change_endpoint(other, endpoint_id, webhooks.EndpointChanges(event_types=None))
    assert "webhooks" in _record(db, outbox)  # every type now

    _change_endpoint(other, endpoint_id, webhooks.EndpointChanges(enabled=False))
    assert "webhooks" not in _record(db, outbox)

    _change_endpoint(other, endpoint_id, webhooks.EndpointChanges(enabled=True))
    assert "webhooks" in _record(db, outbox)

    with other.transaction() as session:
        webhooks.delete_endpoint(session, endpoint_id)
    assert "webhooks" not in _record(db, outbox)


def test_the_test_event_never_goes_to_the_fan_out(db: Database) -> None:
    outbox = Outbox(default_registry())
    _create_endpoint(db, None)
    assert "webhooks" in _record(db, outbox)
    assert "webhooks" not in _record(db, outbox, webhooks.TEST_EVENT)


def test_a_flow_enabled_in_another_process_runs_on_the_next_event(
    db: Database, other: Database
) -> None:
    outbox = Outbox(default_registry())
    assert "flows" not in _record(db, outbox)

    _put_flow(other, enabled=False)
    assert "flows" not in _record(db, outbox)

    _put_flow(other, enabled=True)
    assert "flows" in _record(db, outbox)
    assert "flows" not in _record(db, outbox, SHIPPED)

    _put_flow(other, trigger=AUTHORIZED)
    assert "flows" not in _record(db, outbox)
    assert "flows" in _record(db, outbox, AUTHORIZED)


def test_a_channel_adapter_set_in_another_process_syncs_the_next_shipment(
    db: Database, other: Database
) -> None:
    outbox = Outbox(default_registry())
    assert "channel-sync" not in _record(db, outbox, SHIPPED)

    settings = AdapterSettings(type="shopify", shop_domain="shop.example", webhook_secret="s3")
    with other.transaction() as session:
        upsert_channel(session, Outbox(default_registry()), "web-uk", ChannelData())
        set_adapter(session, "web-uk", settings)
    assert "channel-sync" in _record(db, outbox, SHIPPED)
    assert "channel-sync" not in _record(db, outbox)  # not a subscribed event

    with other.transaction() as session:
        set_adapter(session, "web-uk", None)
    assert "channel-sync" not in _record(db, outbox, SHIPPED)


@pytest.mark.parametrize(
    "change",
    [
        "INSERT INTO webhook_endpoints (id, url, description, event_types, enabled, secret,"
        " created_at, updated_at) VALUES ('whe_sql', 'https://x.example', '', NULL, true,"
        " 's', '2026-12-07', '2026-12-07')",
        "UPDATE webhook_endpoints SET enabled = true",
        "UPDATE webhook_endpoints SET event_types = NULL",
        "DELETE FROM webhook_endpoints",
        "INSERT INTO flows (id, ref, version, trigger, enabled, created_at, updated_at)"
        " VALUES ('flow_sql', 'sql', 1, 'order_summary.created', true, '2026-12-07',"
        " '2026-12-07')",
        "UPDATE flows SET enabled = true",
        "UPDATE flows SET trigger = 'order_summary.created'",
        "DELETE FROM flows",
        "INSERT INTO channel_adapters (channel, type, shop_domain, webhook_secret, connector"
        " , created_at, updated_at) VALUES ('web-uk', 'shopify', 'shop.example', 's', 'sandbox',"
        " '2026-12-07', '2026-12-07')",
        "DELETE FROM channel_adapters",
    ],
)
def test_every_watched_change_gives_a_new_version_even_by_hand(db: Database, change: str) -> None:
    """Migration 0017's triggers are in the schema (a table rebuilt without them fails
    here), and catch a change made by hand in SQL as well as through the services."""
    settings = AdapterSettings(type="shopify", shop_domain="us.example", webhook_secret="s3")
    with db.transaction() as session:
        upsert_channel(session, Outbox(default_registry()), "web-uk", ChannelData())
        upsert_channel(session, Outbox(default_registry()), "web-us", ChannelData())
        set_adapter(session, "web-us", settings)
        session.execute(
            text(
                "INSERT INTO webhook_endpoints (id, url, description, event_types, enabled,"
                " secret, created_at, updated_at) VALUES ('whe_old', 'https://x.example', '',"
                " '[\"a.b\"]', false, 's', '2026-12-07', '2026-12-07')"
            )
        )
        session.execute(
            text(
                "INSERT INTO flows (id, ref, version, trigger, enabled, created_at, updated_at)"
                " VALUES ('flow_old', 'old', 1, 'a.b', false, '2026-12-07', '2026-12-07')"
            )
        )
    before = _version(db)
    with db.transaction() as session:
        session.execute(text(change))
    assert _version(db) not in (None, before)


def test_an_unrelated_change_keeps_the_version(db: Database) -> None:
    endpoint_id = _create_endpoint(db, [CREATED])
    before = _version(db)
    with db.transaction() as session:
        webhooks.rotate_secret(session, endpoint_id)
        session.execute(text("UPDATE webhook_endpoints SET failing_since = updated_at"))
    assert _version(db) == before


def test_needs_read_while_the_version_changes_are_not_kept(db: Database) -> None:
    """On PostgreSQL a change can commit between the event's INSERT (which read the version)
    and the reads of the needs: what they read is used for that record only. Here the
    reading consumer itself creates an endpoint after the INSERT, in the recording
    transaction, which then rolls back: kept, its needs would outlive the endpoint."""
    reads: list[int] = []

    def needs(session: Session) -> Needs:
        reads.append(1)
        if len(reads) == 1:
            _create_in(session)
        endpoints = session.scalar(select(func.count()).select_from(WebhookEndpoint))
        return Needs(frozenset({CREATED})) if endpoints else Needs()

    _record(db, Outbox(default_registry()))  # the version row exists (conftest empties it)
    assert _version(db) is not None
    registry = ConsumerRegistry([Consumer("watcher", ("*",), lambda s, e: None, needs=needs)])
    outbox = Outbox(registry)
    with db.rehearsal() as session:  # rolled back at the end
        (stored,) = outbox.record(session, [_event()])
        query = select(EventDelivery.consumer).where(EventDelivery.event_id == stored.id)
        assert list(session.scalars(query)) == ["watcher"]
    assert _record(db, outbox) == set()
    assert _record(db, outbox) == set()
    assert len(reads) == 2  # read again after the first; kept from the second on


def test_a_change_another_process_commits_while_the_needs_are_read(
    db: Database, other: Database
) -> None:
    """PostgreSQL, READ COMMITTED: an endpoint whose creation commits after the event's
    INSERT read the version, but before the needs are read, is seen by that read (the event
    gets its delivery); the next event finds the new version and reads once more, then the
    needs are kept. (That needs read as the version moves are not kept is
    `test_needs_read_while_the_version_changes_are_not_kept`.)"""
    if db.dialect != "postgresql":
        pytest.skip("SQLite: no other writer commits while a recording transaction is open")
    _record(db, Outbox(default_registry()))  # the version row exists (conftest empties it)
    reads: list[int] = []

    def needs(session: Session) -> Needs:
        reads.append(1)
        if len(reads) == 1:
            _create_endpoint(other, None)  # committed by another connection, mid-record
        endpoints = session.scalar(select(func.count()).select_from(WebhookEndpoint))
        return Needs(frozenset({CREATED})) if endpoints else Needs()

    registry = ConsumerRegistry([Consumer("watcher", ("*",), lambda s, e: None, needs=needs)])
    outbox = Outbox(registry)
    assert _record(db, outbox) == {"watcher"}
    assert _record(db, outbox) == {"watcher"}
    assert _record(db, outbox) == {"watcher"}
    assert len(reads) == 2


def test_a_missing_version_row_is_written_again_by_the_next_event(db: Database) -> None:
    outbox = Outbox(default_registry())
    with db.transaction() as session:
        session.execute(text("DELETE FROM outbox_subscriptions"))
    with _statements(db) as seen:
        assert "webhooks" not in _record(db, outbox)
    assert len(_lookups(seen)) == 3  # endpoints, flows, adapters: read, not kept
    assert _version(db) is not None
    with _statements(db) as seen:
        assert "webhooks" not in _record(db, outbox)
        assert "webhooks" not in _record(db, outbox)
    assert len(_lookups(seen)) == 3  # read under the new version once, then kept
    _create_endpoint(db, None)
    assert "webhooks" in _record(db, outbox)


def _create_in(session: Session) -> None:
    webhooks.create_endpoint(
        session,
        url="https://hooks.example.com/openoms",
        event_types=None,
        channels=None,
        description="",
        allow_private=False,
        resolver=_public,
    )


def _version(db: Database) -> str | None:
    with db.reading() as session:
        return session.scalar(select(OutboxSubscriptions.version))
