"""The `openoms` command, run as a subprocess against a fresh database on each backend."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import struct
import subprocess
import termios
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from openoms.adapters.db import models as m
from openoms.adapters.db.migrate import current_revision_is_head, upgrade
from openoms.adapters.db.session import Database
from openoms.adapters.outbox import Outbox
from openoms.cli.demo_run import SUMMARY_COLUMNS
from openoms.demo import SITES, demo_orders
from openoms.domain.money import format_minor
from openoms.services.access import Scope, authenticate, create_api_key
from openoms.services.finance import reconcile
from openoms.services.orders import ChannelData, upsert_channel
from openoms.services.views import order_summary_view
from openoms.worker.consumers import default_registry
from tests.conftest import BACKENDS
from tests.e2e.common import OPENOMS, cli_env, fresh_database, run_cli
from tests.integration.helpers import count, gateway_ledger, openoms_ledger
from tests.payloads import order_payload

DIALECT = {"sqlite": "sqlite", "postgres": "postgresql"}


# --- helpers ------------------------------------------------------------------------------


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


LONG_NAME = "Storefront key of the web-uk shop, rotated by the platform team"
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def keys_for_listing(url: str) -> list[tuple[str, str]]:
    """Two keys, one with a name longer than a narrow terminal: [(id, name)]."""
    upgrade(url)
    db = Database(url)
    try:
        with db.transaction() as session:
            made = [
                create_api_key(session, name=name, scopes=[Scope.STOREFRONT])[0]
                for name in ("short", LONG_NAME)
            ]
            return [(k.id, k.name) for k in made]
    finally:
        db.dispose()


def in_terminal(*args: str, database_url: str, cwd: Path, columns: int) -> str:
    """`openoms ARGS` with a pseudo-terminal of `columns` columns as its stdout; what it
    printed there, without its styling."""
    main, child = pty.openpty()
    fcntl.ioctl(child, termios.TIOCSWINSZ, struct.pack("HHHH", 24, columns, 0, 0))
    with subprocess.Popen(
        [str(OPENOMS), *args],
        env=cli_env(database_url, COLUMNS=str(columns)),
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=child,
        stderr=subprocess.DEVNULL,
    ) as process:
        os.close(child)
        chunks = []
        while True:
            try:
                chunk = os.read(main, 4096)
            except OSError:  # the terminal closed: the command is done
                break
            if not chunk:
                break
            chunks.append(chunk)
        assert process.wait(timeout=60) == 0
    os.close(main)
    return ANSI.sub("", b"".join(chunks).decode()).replace("\r\n", "\n")


def test_keys_list_piped_prints_whole_tab_separated_rows(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'openoms.db'}"
    keys = keys_for_listing(url)

    listing = run_cli("keys", "list", database_url=url, cwd=tmp_path, columns=80)

    assert listing.returncode == 0, listing.stderr
    header, *rows = listing.stdout.splitlines()
    assert header == "id\tname\tprefix\tscopes\tchannels\tcreated\trevoked"
    assert [tuple(row.split("\t")[:2]) for row in rows] == keys
    assert all(len(row.split("\t")) == 7 for row in rows)


def test_keys_list_in_an_80_column_terminal_cuts_no_id_or_name(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'openoms.db'}"
    keys = keys_for_listing(url)

    shown = in_terminal("keys", "list", database_url=url, cwd=tmp_path, columns=80)

    lines = shown.splitlines()
    assert max(len(line) for line in lines) <= 80
    for key_id, name in keys:
        assert any(key_id in line for line in lines), shown
        assert any(name in line for line in lines), shown
    assert "…" not in shown


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
        "'storefront', 'warehouse', 'agent', 'metrics', 'admin'."
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


def test_keys_create_binds_a_key_to_channels_and_lists_them(
    database: Database, database_url: str, tmp_path: Path
) -> None:
    with database.transaction() as session:
        for ref in ("web-uk", "web-us"):
            upsert_channel(session, Outbox(default_registry()), ref, ChannelData())

    def create(*args: str) -> subprocess.CompletedProcess[str]:
        return run_cli("keys", "create", *args, database_url=database_url, cwd=tmp_path)

    result = create("-s", "storefront", "-c", "web-uk", "-c", "web-us", "--name", "two shops")
    unknown = create("--scope", "storefront", "--channel", "web-fr")
    admin = create("--scope", "admin", "--channel", "web-uk")

    assert result.returncode == 0, result.stderr
    first, plaintext = result.stdout.splitlines()
    key_id, rest = first.split("  scopes: ")
    assert rest == "storefront  channels: web-uk, web-us"
    with database.reading() as session:
        principal = authenticate(session, plaintext)
    assert principal is not None
    assert principal.channels == frozenset({"web-uk", "web-us"})
    assert (unknown.returncode, unknown.stdout) == (1, "")
    assert flat(unknown.stderr).endswith(
        "error: channel 'web-fr' is not configured; configured channels: web-uk, web-us"
    )
    assert (admin.returncode, admin.stdout) == (1, "")
    assert flat(admin.stderr).endswith(
        "error: An admin key sees every channel; it cannot be bound to channels."
    )
    assert count(database, m.ApiKey) == 1

    with database.transaction() as session:
        unbound, _ = create_api_key(session, name="agents", scopes=[Scope.AGENT])
    listing = run_cli("keys", "list", database_url=database_url, cwd=tmp_path)
    assert listing.returncode == 0, listing.stderr
    # Piped, the listing is tab-separated rows under a header.
    header, *lines = listing.stdout.splitlines()
    assert header == "id\tname\tprefix\tscopes\tchannels\tcreated\trevoked"
    rows = {cells[0]: cells[1:5] for cells in (line.split("\t") for line in lines)}
    assert rows[key_id] == ["two shops", plaintext[:12], "storefront", "web-uk, web-us"]
    assert rows[unbound.id][3] == "all"


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


def test_a_bad_setting_is_refused_by_name(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'openoms.db'}"
    for command in (["serve", "--no-worker"], ["db", "upgrade"]):
        result = run_cli(
            *command, database_url=url, cwd=tmp_path, OPENOMS_RATE_LIMIT_PER_MINUTE="fast"
        )
        assert (result.returncode, result.stdout) == (1, "")
        assert flat(result.stderr).endswith(
            "error: OPENOMS_RATE_LIMIT_PER_MINUTE must be a whole number of 0 or more, not 'fast'"
        )


# --- import orders ------------------------------------------------------------------------

MALFORMED = '{"channel": "web-uk", "external_reference": "IMP-BROKEN",'


def import_file(path: Path) -> Path:
    negative = order_payload(external_reference="IMP-3")
    negative["items"][0]["quantity"] = -1
    nul = order_payload(external_reference="IMP-4")
    nul["customer"]["name"] = "Ada\x00"  # stored by SQLite, a crash on PostgreSQL: refused
    lines = [
        json.dumps(order_payload(external_reference="IMP-1")),
        json.dumps(order_payload(external_reference="IMP-2")),
        "",
        json.dumps(order_payload(external_reference="IMP-1")),
        MALFORMED,
        json.dumps(negative),
        json.dumps(nul),
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


REJECTIONS = [
    "  line 5: not valid JSON: Expecting property name enclosed in double quotes "
    "at column 58 (json_invalid)",
    "  line 6, field items[0].quantity: items[0].quantity must be a positive whole number, "
    "got -1 (quantity_invalid)",
    "  line 7, field customer.name: Value error, must not contain control characters "
    "(found U+0000) (payload_invalid)",
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
        "6 lines: 2 accepted, 1 duplicate, 3 rejected",
        *REJECTIONS,
    ]
    assert "importing orders.jsonl" in result.stderr
    assert "7/7" in result.stderr  # the progress bar went through every physical line
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
        "6 lines: 0 accepted, 3 duplicate, 3 rejected",
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


MONEY = r"-?\d+\.\d\d"


def one(pattern: str, out: str) -> tuple[str, ...]:
    """The groups of the one output line that matches `pattern` in full."""
    found = re.findall(f"^{pattern}$", out, re.M)
    assert len(found) == 1, (pattern, found)
    match = found[0]
    return match if isinstance(match, tuple) else (match,)


def table_rows(out: str) -> list[list[str]]:
    """The body rows of the demo's table: piped, it prints tab-separated lines under a
    header line, every cell whole."""
    lines = out.splitlines()
    start = lines.index("\t".join(SUMMARY_COLUMNS)) + 1
    rows = []
    for line in lines[start:]:
        if "\t" not in line:
            break
        rows.append(line.split("\t"))
    return rows


def minor(amount: str) -> int:
    return int(amount.replace(".", ""))


def test_demo_captures_retries_refuses_and_shows_a_table(
    database: Database, database_url: str, tmp_path: Path
) -> None:
    result = run_cli("demo", database_url=database_url, cwd=tmp_path, columns=250)

    assert result.returncode == 0, result.stderr
    out = result.stdout
    captured = re.findall(r"^captured (web-\w\w) (RUN\d{20}-\d{5}) → (os_\w{26})$", out, re.M)
    assert len(captured) == 4
    ids = [c[2] for c in captured]
    first_id, second_id = ids[0], ids[1]
    assert f"created again? False — same summary {first_id}\n" in out
    assert re.search(r"^refused: totals_mismatch — grand_total is 1\.00 but ", out, re.M)
    assert (
        "\norder summary\tchannel\tstatus\titems\tgrand total\tcaptured\trefunded\tchanges"
        "\tfulfillment\n" in out
    )
    assert re.search(r"^\d+ events and jobs handled$", out, re.M)
    with database.reading() as session:
        views = {summary_id: order_summary_view(session, summary_id) for summary_id in ids}
        ledgers = {o.order_summary_id: o for o in reconcile(session).orders}
    assert count(database, m.OrderSummary) == 4  # the refused order stored nothing
    first, second = views[first_id], views[second_id]

    assert_cancel(out, second)
    item = assert_refusal(out, first)
    assert_return(out, database, first, item)
    assert_discount(out, database, first, item)
    assert_reship(out, first, item)

    rows = table_rows(out)
    assert len(rows) == 4
    for n, ((channel, reference, summary_id), cells) in enumerate(zip(captured, rows, strict=True)):
        view = views[summary_id]
        assert (view["external_reference"], view["channel"]) == (reference, channel)
        # every order was routed; the first one was shipped in full
        expected_status = "FULFILLED" if n == 0 else "WAITING_TO_FULFILL"
        assert cells[:3] == [summary_id, channel, expected_status]
        assert view["status"] == expected_status
        assert cells[4] == f"{view['totals']['grand_total']} {view['currency']}"
        fos = view["fulfillment_orders"]
        assert fos
        assert all(fo["location"] in cells[8] for fo in fos)
        # what shipped was invoiced and captured: all of the first order, none of the rest;
        # what the first order's return and discount credited was refunded
        invoiced = sum(minor(i["grand_total"]) for i in view["invoices"])
        credited = sum(minor(c["grand_total"]) for c in view["credit_memos"])
        paid = [p["captured"] for p in view["payment_summaries"]]
        refunded = [p["refunded"] for p in view["payment_summaries"]]
        assert len(paid) == 1
        assert (minor(paid[0]), minor(refunded[0])) == (invoiced, credited)
        assert (cells[5], cells[6]) == (paid[0], refunded[0])
        assert invoiced - credited == (minor(view["totals"]["grand_total"]) if n == 0 else 0)
        assert cells[7] == str(len(view["change_orders"]))
        assert cells[7] == {0: "2", 1: "1"}.get(n, "0")  # return + discount; the cancel
        for product in view["items"]:
            if product["type"] == "product":
                allocated = product["quantity_ordered"] - product["quantity_canceled"]
                assert product["quantity_allocated"] == allocated
        # the documents and the money agree, and the line says so
        ledger = ledgers[summary_id]
        assert ledger.mismatches == []
        assert ledger.outstanding == 0
        grand = view["totals"]["grand_total"]
        net = format_minor(invoiced - credited, view["currency"])
        kept = format_minor(minor(paid[0]) - minor(refunded[0]), view["currency"])
        assert (
            f"{summary_id}: invoiced {paid[0]} − credited {refunded[0]} = {net} of grand "
            f"total {grand} {view['currency']}; captured {paid[0]} − refunded {refunded[0]} = "
            f"{kept}; no mismatch\n"
        ) in out
    assert all(
        fo["status"] == "FULFILLED" and all(s["tracking_number"] for s in fo["shipments"])
        for fo in first["fulfillment_orders"]
    )
    # The sandbox gateway's own ledger (its tables) tells the same story, and says so.
    assert gateway_ledger(database) == openoms_ledger(database)
    currency, (ledger,) = first["currency"], [ledgers[first_id]]
    shown = (
        f"captured {format_minor(ledger.captured, currency)} {currency}, "
        f"refunded {format_minor(ledger.refunded, currency)} {currency}"
    )
    assert f"sandbox gateway ledger: {shown}; the same as openoms'\n" in out


def product_of(view: dict[str, Any], sku: str) -> dict[str, Any]:
    return next(i for i in view["items"] if i["type"] == "product" and i["sku"] == sku)


def assert_cancel(out: str, second: dict[str, Any]) -> None:
    """One unit of the second order canceled before it shipped: a cancel change order, the
    grand total lowered by it, the FO line one unit shorter, nothing to refund."""
    currency = second["currency"]
    sku, change_total, before, after = one(
        rf"canceled 1× (\S+): change order cancel ({MONEY}) {currency}; "
        rf"grand total ({MONEY}) → ({MONEY}) {currency}",
        out,
    )
    fo_id, location, units_before, units_after = one(
        rf"fulfillment order (fo_\w{{26}}) at ([\w-]+): {re.escape(sku)} (\d+) → (\d+)", out
    )
    [change] = second["change_orders"]
    assert (change["kind"], change["grand_total"]) == ("cancel", change_total)
    assert [(ln["sku"], ln["quantity"]) for ln in change["lines"]] == [(sku, -1)]
    assert after == second["totals"]["grand_total"]
    assert minor(before) + minor(change_total) == minor(after) < minor(before)
    item = product_of(second, sku)
    assert (item["quantity_ordered"], item["quantity_canceled"]) == (int(units_before), 1)
    [fo] = [fo for fo in second["fulfillment_orders"] if fo["id"] == fo_id]
    [line] = [ln for ln in fo["lines"] if ln["sku"] == sku]
    assert (fo["location"], line["quantity"]) == (location, int(units_after))
    assert int(units_after) == int(units_before) - 1
    assert second["credit_memos"] == []  # nothing was invoiced, nothing to refund
    assert second["payment_summaries"][0]["refunded"] == "0.00"


def assert_refusal(out: str, first: dict[str, Any]) -> dict[str, Any]:
    """Canceling a shipped unit of the first order is refused with the numbers; the first
    order has no cancel change order. Returns the item the demo acts on."""
    item = next(i for i in first["items"] if i["type"] == "product" and i["quantity_ordered"] >= 2)
    sku, n = item["sku"], item["quantity_ordered"]
    assert (
        f"refused: cancel_exceeds_available — cannot cancel 1 {sku}: {n} of {n} {sku} are "
        "already shipped; nothing is left to cancel; return shipped units instead\n"
    ) in out
    assert item["quantity_canceled"] == 0
    assert "cancel" not in {c["kind"] for c in first["change_orders"]}
    return item


def assert_return(
    out: str, database: Database, first: dict[str, Any], item: dict[str, Any]
) -> None:
    """An RMA of one unit received and restocked at another location than it shipped from,
    credited and refunded."""
    sku, currency = re.escape(item["sku"]), first["currency"]
    return_id, shipped_from, where = one(
        rf"return (ro_\w{{26}}) of 1× {sku}: SUBMITTED → APPROVED → IN_TRANSIT → RECEIVED; "
        r"shipped from ([\w-]+), received and restocked at ([\w-]+)",
        out,
    )
    memo_id, amount = one(
        rf"credit memo (cm_\w{{26}}) ({MONEY}) {currency}; refunded \2 {currency}", out
    )[:2]
    stock_before, stock_after = one(rf"{sku} on hand at {where}: (\d+) → (\d+)", out)
    assert where != shipped_from
    assert shipped_from in {
        fo["location"]
        for fo in first["fulfillment_orders"]
        if fo["type"] != "reship" and any(ln["sku"] == item["sku"] for ln in fo["lines"])
    }
    [rma] = first["return_orders"]
    assert (rma["id"], rma["status"], rma["expected_location"]) == (return_id, "RECEIVED", where)
    [rma_line] = rma["lines"]
    assert (rma_line["sku"], rma_line["quantity_expected"], rma_line["quantity_received"]) == (
        item["sku"],
        1,
        1,
    )
    assert [(r["location"], r["quantity"], r["disposition"]) for r in rma_line["receipts"]] == [
        (where, 1, "restock")
    ]
    assert item["quantity_returned"] == 1
    memo = next(c for c in first["credit_memos"] if c["id"] == memo_id)
    assert (memo["grand_total"], memo["return_order_id"]) == (amount, return_id)
    [change] = [c for c in first["change_orders"] if c["kind"] == "return"]
    assert (change["grand_total"], memo["change_order_id"]) == (f"-{amount}", change["id"])
    assert refunds_of(database, memo_id) == [(minor(amount), "PROCESSED")]
    # seeded stock, one unit back; less what a reship then shipped from there
    seeded = next(s.stock for s in SITES if s.ref == where)
    reshipped_from_there = sum(
        ln["shipped"]
        for fo in first["fulfillment_orders"]
        if fo["type"] == "reship" and fo["location"] == where
        for ln in fo["lines"]
        if ln["sku"] == item["sku"]
    )
    assert (int(stock_before), int(stock_after)) == (seeded, seeded + 1)
    assert on_hand(database, where, item["sku"]) == seeded + 1 - reshipped_from_there


def assert_discount(
    out: str, database: Database, first: dict[str, Any], item: dict[str, Any]
) -> None:
    """10% off the kept, shipped units: one post-fulfillment change order, credited and
    refunded in full."""
    currency = first["currency"]
    total, credited, refunded = one(
        rf"10% off {re.escape(item['sku'])}: change orders post_fulfillment ({MONEY}) "
        rf"{currency}; credit memo ({MONEY}) {currency}, refunded ({MONEY}) {currency}",
        out,
    )
    assert minor(total) == -minor(credited) < 0
    assert refunded == credited
    [change] = [c for c in first["change_orders"] if c["kind"] == "adjust"]
    assert change["grand_total"] == total
    assert [(ln["sku"], ln["quantity"]) for ln in change["lines"]] == [(item["sku"], 0)]
    [memo] = [c for c in first["credit_memos"] if c["change_order_id"] == change["id"]]
    assert memo["grand_total"] == credited
    assert refunds_of(database, memo["id"]) == [(minor(credited), "PROCESSED")]


def assert_reship(out: str, first: dict[str, Any], item: dict[str, Any]) -> None:
    """One unit reshipped: a reship FO of one unit, shipped, never invoiced nor charged."""
    currency, sku = first["currency"], re.escape(item["sku"])
    fo_id, location = one(
        rf"reship rs_\w{{26}} of 1× {sku}: fulfillment order (fo_\w{{26}}) \(reship\) at "
        r"([\w-]+)",
        out,
    )
    assert f"shipped {fo_id}: label created\n" in out
    invoices, captured = one(
        rf"no invoice, no charge: invoices (\d+) → \1, captured ({MONEY}) → \2 {currency}", out
    )
    [fo] = [fo for fo in first["fulfillment_orders"] if fo["type"] == "reship"]
    assert (fo["id"], fo["location"], fo["status"]) == (fo_id, location, "FULFILLED")
    assert [(ln["sku"], ln["quantity"], ln["shipped"]) for ln in fo["lines"]] == [
        (item["sku"], 1, 1)
    ]
    assert item["quantity_reshipped"] == 1
    assert item["quantity_fulfilled"] == item["quantity_ordered"]  # originals only
    assert len(first["invoices"]) == int(invoices)
    assert [p["captured"] for p in first["payment_summaries"]] == [captured]
    # invoices are per shipment: none for the reship's, and the item billed for its units once
    sources = {invoice["source_key"] for invoice in first["invoices"]}
    assert sources.isdisjoint(f"shipment:{s['id']}" for s in fo["shipments"])
    billed = sum(
        line["quantity"]
        for invoice in first["invoices"]
        for line in invoice["lines"]
        if line["order_item_summary_id"] == item["id"]
    )
    assert billed == item["quantity_ordered"]


def refunds_of(database: Database, credit_memo_id: str) -> list[tuple[int, str]]:
    with database.reading() as session:
        rows = session.execute(
            select(m.Refund.amount, m.Refund.status).where(
                m.Refund.credit_memo_id == credit_memo_id
            )
        ).all()
    return [(amount, status) for amount, status in rows]


def on_hand(database: Database, location: str, sku: str) -> int:
    with database.reading() as session:
        return int(
            session.scalars(
                select(m.InventoryRecord.on_hand)
                .join(m.Location, m.Location.id == m.InventoryRecord.location_id)
                .where(m.Location.ref == location, m.InventoryRecord.sku == sku)
            ).one()
        )
