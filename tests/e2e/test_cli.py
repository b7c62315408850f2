"""The `openoms` command, run as a subprocess against a fresh database on each backend."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from openoms.adapters.db import models as m
from openoms.adapters.db.migrate import current_revision_is_head, upgrade
from openoms.adapters.db.session import Database
from openoms.demo import demo_orders
from openoms.services.keys import Scope, authenticate, create_api_key
from openoms.services.views import order_summary_view
from tests.conftest import BACKENDS
from tests.e2e.common import OPENOMS, cli_env, fresh_database
from tests.integration.helpers import count
from tests.payloads import order_payload

DIALECT = {"sqlite": "sqlite", "postgres": "postgresql"}


# --- helpers ------------------------------------------------------------------------------


def run_cli(
    *args: str, database_url: str, cwd: Path, columns: int = 200
) -> subprocess.CompletedProcess[str]:
    """`openoms ARGS` with only OPENOMS_DATABASE_URL configured; a fixed terminal width keeps
    rich from wrapping report lines differently from one machine to the next."""
    return subprocess.run(
        [str(OPENOMS), *args],
        env=cli_env(database_url, COLUMNS=str(columns)),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def flat(text_: str) -> str:
    """Output without rich's box drawing and line wrapping, for matching messages."""
    return " ".join(re.sub(r"[│╭╮╰╯─]", " ", text_).split())


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of an empty database (no schema yet) on each backend."""
    with fresh_database(request.param, tmp_path, request) as url:
        yield url


@pytest.fixture
def database(database_url: str) -> Iterator[Database]:
    """The same database, migrated, for arranging and checking what the commands stored."""
    upgrade(database_url)
    db = Database(database_url)
    yield db
    db.dispose()


def backend_of(database_url: str) -> str:
    return "sqlite" if database_url.startswith("sqlite") else "postgresql"


# --- db upgrade ---------------------------------------------------------------------------


def test_db_upgrade_creates_the_schema_and_is_safe_to_repeat(
    database_url: str, tmp_path: Path
) -> None:
    first = run_cli("db", "upgrade", database_url=database_url, cwd=tmp_path)
    second = run_cli("db", "upgrade", database_url=database_url, cwd=tmp_path)

    expected = f"schema up to date on {backend_of(database_url)}\n"
    assert (first.returncode, first.stdout) == (0, expected), first.stderr
    assert (second.returncode, second.stdout) == (0, expected), second.stderr
    assert current_revision_is_head(database_url)
    db = Database(database_url)
    try:
        assert count(db, m.ApiKey) == 0  # migrating seeds nothing
        assert count(db, m.OrderSummary) == 0
    finally:
        db.dispose()


def test_default_database_is_var_openoms_db_under_the_working_directory(tmp_path: Path) -> None:
    result = subprocess.run(
        [str(OPENOMS), "db", "upgrade"],
        env=cli_env(),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert (result.returncode, result.stdout) == (0, "schema up to date on sqlite\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["var"]
    assert current_revision_is_head(f"sqlite:///{tmp_path / 'var' / 'openoms.db'}")


# --- keys ---------------------------------------------------------------------------------


def test_keys_create_prints_a_working_key_once(
    database: Database, database_url: str, tmp_path: Path
) -> None:
    result = run_cli(
        "keys",
        "create",
        "--scope",
        "storefront",
        "--scope",
        "warehouse",
        "--name",
        "web shop",
        database_url=database_url,
        cwd=tmp_path,
    )

    assert result.returncode == 0, result.stderr
    first, plaintext = result.stdout.splitlines()
    key_id, scopes = first.split("  scopes: ")
    assert re.fullmatch(r"key_[0-9A-Z]{26}", key_id)
    assert scopes == "storefront warehouse"
    assert re.fullmatch(r"oms_[a-z0-9]{8}_[A-Za-z0-9_-]{43}", plaintext)
    with database.reading() as session:
        principal = authenticate(session, plaintext)
        stored = session.get(m.ApiKey, key_id)
    assert principal is not None
    assert principal.api_key_id == key_id
    assert principal.name == "web shop"
    assert principal.scopes == frozenset({Scope.STOREFRONT, Scope.WAREHOUSE})
    assert stored is not None
    assert plaintext not in (stored.key_hash, stored.prefix)  # only a hash is kept
    assert count(database, m.ApiKey) == 1

    listing = run_cli("keys", "list", database_url=database_url, cwd=tmp_path)
    assert listing.returncode == 0, listing.stderr
    assert key_id in listing.stdout
    assert plaintext[:12] in listing.stdout  # the public prefix
    assert plaintext not in listing.stdout  # never the secret


def test_keys_create_refuses_a_bad_scope_or_name_and_creates_nothing(tmp_path: Path) -> None:
    # Backend-independent (argument parsing and the service's checks), so SQLite only.
    url = f"sqlite:///{tmp_path / 'openoms.db'}"
    upgrade(url)

    bad_scope = run_cli("keys", "create", "--scope", "bogus", database_url=url, cwd=tmp_path)
    no_scope = run_cli("keys", "create", "--name", "x", database_url=url, cwd=tmp_path)
    blank_name = run_cli(
        "keys", "create", "--scope", "agent", "--name", "  ", database_url=url, cwd=tmp_path
    )

    assert bad_scope.returncode == 2
    assert bad_scope.stdout == ""
    assert (
        "Invalid value for '--scope' / '-s': Value error, 'bogus' is not one of "
        "'storefront', 'warehouse', 'agent', 'admin'."
    ) in flat(bad_scope.stderr)
    assert no_scope.returncode == 2
    assert no_scope.stdout == ""
    assert "Missing option '--scope'" in flat(no_scope.stderr)
    assert blank_name.returncode == 1
    assert blank_name.stdout == ""
    assert flat(blank_name.stderr).endswith(
        "error: An API key needs a name of 1 to 200 characters."
    )
    db = Database(url)
    try:
        assert count(db, m.ApiKey) == 0
    finally:
        db.dispose()


def test_keys_revoke_stops_the_key_and_is_idempotent(
    database: Database, database_url: str, tmp_path: Path
) -> None:
    with database.transaction() as session:
        revoked_key, plaintext = create_api_key(session, name="old", scopes=[Scope.AGENT])
        kept_key, kept_plaintext = create_api_key(session, name="kept", scopes=[Scope.AGENT])

    revoked = run_cli("keys", "revoke", revoked_key.id, database_url=database_url, cwd=tmp_path)
    again = run_cli("keys", "revoke", revoked_key.id, database_url=database_url, cwd=tmp_path)
    unknown = run_cli("keys", "revoke", "key_nope", database_url=database_url, cwd=tmp_path)

    assert (revoked.returncode, revoked.stdout) == (0, f"revoked {revoked_key.id}\n")
    assert (again.returncode, again.stdout) == (0, f"revoked {revoked_key.id}\n")
    assert unknown.returncode == 1
    assert unknown.stdout == ""
    assert flat(unknown.stderr).endswith("error: No API key 'key_nope'.")
    with database.reading() as session:
        assert authenticate(session, plaintext) is None
        assert authenticate(session, kept_plaintext) is not None  # only that key
        revoked_at = dict(session.execute(select(m.ApiKey.id, m.ApiKey.revoked_at)).all())
    assert sorted(revoked_at) == sorted([revoked_key.id, kept_key.id])
    assert revoked_at[revoked_key.id] is not None
    assert revoked_at[kept_key.id] is None


# --- import orders ------------------------------------------------------------------------

MALFORMED = '{"channel": "web-uk", "external_reference": "IMP-BROKEN",'


def import_file(path: Path) -> Path:
    negative = order_payload(external_reference="IMP-3")
    negative["items"][0]["quantity"] = -1
    lines = [
        json.dumps(order_payload(external_reference="IMP-1")),
        json.dumps(order_payload(external_reference="IMP-2")),
        "",
        json.dumps(order_payload(external_reference="IMP-1")),
        MALFORMED,
        json.dumps(negative),
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


REJECTIONS = [
    "  line 5: not valid JSON: Expecting property name enclosed in double quotes "
    "at column 58 (json_invalid)",
    "  line 6, field items[0].quantity: items[0].quantity must be a positive whole number, "
    "got -1 (quantity_invalid)",
]


def test_import_orders_reports_every_line_and_stores_only_good_orders(
    database: Database, database_url: str, tmp_path: Path
) -> None:
    orders = import_file(tmp_path / "orders.jsonl")
    seeded = run_cli("seed", "--orders", "0", database_url=database_url, cwd=tmp_path)
    assert seeded.returncode == 0, seeded.stderr
    events_before = count(database, m.Event)

    result = run_cli("import", "orders", str(orders), database_url=database_url, cwd=tmp_path)

    assert result.returncode == 1
    assert result.stdout.splitlines() == [
        "5 lines: 2 accepted, 1 duplicate, 2 rejected",
        *REJECTIONS,
    ]
    assert "importing orders.jsonl" in result.stderr
    assert "6/6" in result.stderr  # the progress bar went through every physical line
    with database.reading() as session:
        summaries = dict(
            session.execute(select(m.OrderSummary.external_reference, m.OrderSummary.id)).all()
        )
        grand_totals = list(session.scalars(select(m.OrderSummary.grand_total)))
        events = session.execute(
            select(m.Event.name, m.Event.order_summary_id).where(
                m.Event.name == "order_summary.created"
            )
        ).all()
    assert sorted(summaries) == ["IMP-1", "IMP-2"]
    assert grand_totals == [7659, 7659]  # minor units: 76.59 each
    assert sorted(events) == sorted(
        ("order_summary.created", summary_id) for summary_id in summaries.values()
    )
    # nothing half-written for the rejected or duplicate lines
    assert count(database, m.Order) == 2
    assert count(database, m.OrderItemSummary) == 6  # two products and a delivery charge each
    assert count(database, m.OrderPaymentSummary) == 2
    assert count(database, m.Reservation) == 4  # one per delivery group
    # per order: a reservation per delivery group, then the summary
    assert count(database, m.Event) - events_before == 6

    rerun = run_cli("import", "orders", str(orders), database_url=database_url, cwd=tmp_path)

    assert rerun.returncode == 1
    assert rerun.stdout.splitlines() == [
        "5 lines: 0 accepted, 3 duplicate, 2 rejected",
        *REJECTIONS,
    ]
    assert count(database, m.OrderSummary) == 2
    assert count(database, m.Order) == 2
    assert count(database, m.Reservation) == 4
    assert count(database, m.Event) - events_before == 6


def test_import_orders_of_good_lines_exits_zero(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'openoms.db'}"
    orders = tmp_path / "good.jsonl"
    orders.write_text(
        "".join(json.dumps(o) + "\n" for o in demo_orders(3, prefix="GOOD")), encoding="utf-8"
    )
    assert run_cli("seed", "--orders", "0", database_url=url, cwd=tmp_path).returncode == 0

    result = run_cli("import", "orders", str(orders), database_url=url, cwd=tmp_path)

    assert (result.returncode, result.stdout) == (
        0,
        "3 lines: 3 accepted, 0 duplicate, 0 rejected\n",
    ), result.stderr
    db = Database(url)
    try:
        assert count(db, m.OrderSummary) == 3
        assert count(db, m.Event, m.Event.name == "order_summary.created") == 3
    finally:
        db.dispose()


def test_import_orders_of_a_missing_file_fails_before_touching_the_database(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'openoms.db'}"

    result = run_cli("import", "orders", "nope.jsonl", database_url=url, cwd=tmp_path)

    assert result.returncode == 1
    assert result.stdout == ""
    assert flat(result.stderr) == "error: nope.jsonl: no such file"
    assert not (tmp_path / "openoms.db").exists()


# --- seed and demo ------------------------------------------------------------------------


def test_seed_is_idempotent(database: Database, database_url: str, tmp_path: Path) -> None:
    first = run_cli("seed", database_url=database_url, cwd=tmp_path)
    second = run_cli("seed", database_url=database_url, cwd=tmp_path)

    assert (first.returncode, flat(first.stdout)) == (
        0,
        "demo network: 7 locations, 56 stock records applied; 12 orders captured, 0 already there",
    ), first.stderr
    assert (second.returncode, flat(second.stdout)) == (
        0,
        "demo network: 7 locations, 0 stock records applied; 0 orders captured, 12 already there",
    ), second.stderr
    with database.reading() as session:
        references = set(session.scalars(select(m.OrderSummary.external_reference)))
    assert references == {o["external_reference"] for o in demo_orders(12)}
    assert count(database, m.Event, m.Event.name == "order_summary.created") == 12
    assert count(database, m.Location) == 7
    assert count(database, m.InventoryRecord) == 56


def test_demo_captures_retries_refuses_and_shows_a_table(
    database: Database, database_url: str, tmp_path: Path
) -> None:
    result = run_cli("demo", database_url=database_url, cwd=tmp_path, columns=250)

    assert result.returncode == 0, result.stderr
    out = result.stdout
    captured = re.findall(r"^captured (web-\w\w) (RUN\d{20}-\d{5}) → (os_\w{26})$", out, re.M)
    assert len(captured) == 4
    first_id = captured[0][2]
    assert f"created again? False — same summary {first_id}\n" in out
    assert re.search(r"^refused: totals_mismatch — grand_total is 1\.00 but ", out, re.M)
    assert re.search(
        r"^┃ order summary +┃ channel +┃ status +┃ items +┃ grand total +┃ captured +┃"
        r" fulfillment +┃$",
        out,
        re.M,
    )
    assert re.search(r"^\d+ events and jobs handled$", out, re.M)
    with database.reading() as session:
        views = {c[2]: order_summary_view(session, c[2]) for c in captured}
    assert count(database, m.OrderSummary) == 4  # the refused order stored nothing
    table_rows = [line for line in out.splitlines() if line.startswith("│ os_")]
    assert len(table_rows) == 4
    for n, ((channel, reference, summary_id), row) in enumerate(
        zip(captured, table_rows, strict=True)
    ):
        view = views[summary_id]
        cells = [c.strip() for c in row.strip("│").split("│")]
        assert (view["external_reference"], view["channel"]) == (reference, channel)
        # every order was routed; the first one was shipped in full
        expected_status = "FULFILLED" if n == 0 else "WAITING_TO_FULFILL"
        assert cells[:3] == [summary_id, channel, expected_status]
        assert view["status"] == expected_status
        assert cells[4] == f"{view['totals']['grand_total']} {view['currency']}"
        fos = view["fulfillment_orders"]
        assert fos
        assert all(fo["location"] in cells[6] for fo in fos)
        # what shipped was invoiced and captured: all of the first order, none of the rest
        paid = view["totals"]["grand_total"] if n == 0 else "0.00"
        assert cells[5] == paid
        assert [p["captured"] for p in view["payment_summaries"]] == [paid]
        for item in view["items"]:
            if item["type"] == "product":
                assert item["quantity_allocated"] == item["quantity_ordered"]
    first = views[captured[0][2]]
    assert all(fo["status"] == "FULFILLED" for fo in first["fulfillment_orders"])
    assert all(
        shipment["tracking_number"]
        for fo in first["fulfillment_orders"]
        for shipment in fo["shipments"]
    )
