"""The migrations build exactly the schema the models describe, on both backends."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text

from openoms.adapters.db.migrate import alembic_config, current_revision_is_head, upgrade
from openoms.adapters.db.models import Base
from openoms.adapters.db.session import Database
from openoms.config import normalise_database_url
from openoms.services.orders import (
    CapturePolicy,
    ChannelPolicy,
    RoutingStrategy,
    ShortagePolicy,
    channel_policy,
    known_channels,
)
from tests.conftest import BACKENDS
from tests.e2e.common import fresh_database


def test_migrated_schema_matches_the_models(db: Database) -> None:
    with db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, Base.metadata)

    assert differences == []
    assert current_revision_is_head(db.url)


def test_downgrade_to_nothing_and_back(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'roundtrip.db'}"
    upgrade(url)
    command.downgrade(alembic_config(url), "base")
    engine = create_engine(url)
    assert set(inspect(engine).get_table_names()) == {"alembic_version"}
    upgrade(url)
    assert set(inspect(engine).get_table_names()) == {*Base.metadata.tables, "alembic_version"}
    engine.dispose()


@pytest.mark.parametrize("backend", BACKENDS)
def test_channels_orders_already_use_are_configured_with_the_policy_they_ran_under(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    with fresh_database(backend, tmp_path, request) as url:
        upgrade(url, "0008")
        engine = create_engine(normalise_database_url(url))
        with engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO channels (ref, shortage_policy, routing_strategy, max_splits,"
                    " capture_policy, returnless_threshold, return_fee, refund_eligible_status,"
                    " verify_authorizations, updated_at) VALUES ('web-uk', 'backorder',"
                    " 'optimal', 1, 'on_order', '{}', '{}', 'RECEIVED', true, :now)"
                ),
                {"now": NOW},
            )
            for n, channel in enumerate(["web-uk", "marketplace", "marketplace", "legacy"]):
                connection.execute(INSERT_SUMMARY, summary_row(n, channel))
        engine.dispose()

        upgrade(url)

        database = Database(url)
        with database.reading() as session:
            policies = {ref: channel_policy(session, ref) for ref in known_channels(session)}
        database.dispose()
    assert sorted(policies) == ["legacy", "marketplace", "web-uk"]
    # The configured channel is untouched; each one in use gets the old default policy.
    assert policies["web-uk"] == ChannelPolicy(
        channel="web-uk",
        shortage_policy=ShortagePolicy.BACKORDER,
        routing_strategy=RoutingStrategy.OPTIMAL,
        max_splits=1,
        capture_policy=CapturePolicy.ON_ORDER,
        verify_authorizations=True,
    )
    for ref in ("legacy", "marketplace"):
        assert policies[ref] == ChannelPolicy(channel=ref, verify_authorizations=False)


NOW = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
INSERT_SUMMARY = text(
    "INSERT INTO order_summaries (id, original_order_id, channel, external_reference,"
    " currency, lifecycle, status, ordered_at, customer_name, total_product, total_delivery,"
    " total_adjustments, total_tax, grand_total, routing_attempts,"
    " active_process_exception_count, created_at, updated_at) VALUES (:id, :order_id,"
    " :channel, :reference, 'GBP', 'MANAGED', 'CREATED', :now, 'Ada', 0, 0, 0, 0, 0, 0, 0,"
    " :now, :now)"
)


def summary_row(n: int, channel: str) -> dict[str, object]:
    return {
        "id": f"os_{n}",
        "order_id": f"ord_{n}",
        "channel": channel,
        "reference": f"R-{n}",
        "now": NOW.replace(tzinfo=None),
    }


@pytest.mark.parametrize("backend", BACKENDS)
def test_open_exceptions_get_the_retry_job_their_action_named(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    route = {"group_summary_id": "odg_1", "round": 2, "reason": "no stock"}
    funds = {"order_summary_id": "os_0", "invoice_id": None}
    rows = [
        ("pe_route", "NEW", "medium", {"kind": "route_group", "payload": route}),
        ("pe_funds", "TRIAGED", "high", {"kind": "ensure_funds", "payload": funds}),
        ("pe_closed", "RESOLVED", "medium", {"kind": "route_group", "payload": route}),
        ("pe_reverse", "NEW", "low", {"kind": "reverse_authorizations", "payload": funds}),
    ]
    with fresh_database(backend, tmp_path, request) as url:
        upgrade(url, "0009")
        engine = create_engine(normalise_database_url(url))
        with engine.begin() as connection:
            connection.execute(INSERT_SUMMARY, summary_row(0, "web-uk"))
            for id, status, severity, action in rows:
                connection.execute(
                    text(
                        "INSERT INTO process_exceptions (id, order_summary_id, category,"
                        " severity, priority, status, message, action, dedupe_key,"
                        " occurrences, created_at, updated_at) VALUES (:id, 'os_0',"
                        " 'ROUTING', :severity, 3, :status, 'failed', :action, :id, 1,"
                        " :now, :now)"
                    ),
                    {
                        "id": id,
                        "status": status,
                        "severity": severity,
                        "action": json.dumps(action),
                        "now": NOW.replace(tzinfo=None),
                    },
                )
        engine.dispose()

        upgrade(url)

        engine = create_engine(normalise_database_url(url))
        with engine.connect() as connection:
            actions = {
                id: action if isinstance(action, dict) else json.loads(action)
                for id, action in connection.execute(
                    text("SELECT id, action FROM process_exceptions")
                )
            }
        engine.dispose()
    assert actions["pe_route"]["retry"] == {
        "kind": "route_group",
        "key": "route:odg_1:2",
        "payload": {"group_summary_id": "odg_1", "round": 2},
        "agent_payload": False,
    }
    assert actions["pe_funds"]["retry"] == {
        "kind": "ensure_funds",
        "key": None,
        "payload": funds,
        "held_payload": {**funds, "retry_blocked": True},
        "agent_payload": False,
    }
    # Closed exceptions are never retried; a kind that was never retryable stays so.
    assert "retry" not in actions["pe_closed"]
    assert "retry" not in actions["pe_reverse"]
    assert actions["pe_route"]["payload"] == route  # what the API shows is untouched


# An object of 0017's that already exists, so the migration fails after its first statements
# (the table and its row) have run.
_BLOCK_0017 = {
    "sqlite": "CREATE TRIGGER flows_subscriptions_insert AFTER INSERT ON flows BEGIN SELECT 1; END",
    "postgres": "CREATE FUNCTION outbox_subscriptions_changed() RETURNS trigger"
    " LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END $$",
}


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_failed_upgrade_leaves_nothing_of_itself_and_can_be_run_again(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    with fresh_database(backend, tmp_path, request) as url:
        upgrade(url, "0016")
        engine = create_engine(normalise_database_url(url))
        with engine.begin() as connection:
            connection.execute(text(_BLOCK_0017[backend]))

        with pytest.raises(Exception, match="already exists"):
            upgrade(url)

        assert "outbox_subscriptions" not in inspect(engine).get_table_names()
        with engine.connect() as connection:
            assert MigrationContext.configure(connection).get_current_heads() == ("0016",)
        with engine.begin() as connection:
            blocker = "TRIGGER flows_subscriptions_insert"
            if backend == "postgres":
                blocker = "FUNCTION outbox_subscriptions_changed()"
            connection.execute(text(f"DROP {blocker}"))
        upgrade(url)
        assert current_revision_is_head(url)
        engine.dispose()
