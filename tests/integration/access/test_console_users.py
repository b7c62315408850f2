"""Console users and sign-in as services: creating (each bad field named, nothing stored),
argon2 hashes, the login rate limit, session expiry and end, disabling; and the users CLI."""

from __future__ import annotations

from datetime import timedelta

import pytest
from argon2 import PasswordHasher
from sqlalchemy import func, select, update
from typer.testing import CliRunner

from openoms.adapters.db import models as m
from openoms.adapters.db.session import Database
from openoms.cli import app as cli
from openoms.services.access import (
    LOGIN_FAILURES,
    LOGIN_WINDOW,
    SESSION_HOURS,
    ConsoleRole,
    ConsoleUserExists,
    ConsoleUserInvalid,
    ConsoleUserNotFound,
    create_console_user,
    disable_console_user,
    ensure_console_user,
    session_identity,
    sign_in,
    sign_out,
)
from tests.integration.console_client import PASSWORD, add_user
from tests.network import stock_network


def count(db: Database, model: type[m.Base]) -> int:
    with db.reading() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_a_user_is_stored_with_a_lower_cased_email_and_an_argon2_hash(db: Database) -> None:
    with db.transaction() as session:
        user = create_console_user(
            session, email="  Ann.Agent@Example.COM ", role="agent", password=PASSWORD
        )
    with db.reading() as session:
        stored = session.get(m.ConsoleUser, user.id)
        assert stored is not None
        assert (stored.email, stored.name, stored.role) == (
            "ann.agent@example.com",
            "ann.agent",
            "agent",
        )
        assert stored.locations is None
        assert stored.disabled is False
        assert stored.password_hash.startswith("$argon2id$")
        assert PASSWORD not in stored.password_hash


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"email": "not-an-email"}, "email"),
        ({"role": "boss"}, "role"),
        ({"name": "  "}, "name"),
        ({"password": "short"}, "password"),
        ({"password": "x" * 1025}, "password"),
        ({"locations": ["WH-LDN"]}, "location"),  # an agent is not limited to locations
        ({"role": "warehouse", "locations": ["NOWHERE"]}, "location"),
    ],
)
def test_each_bad_field_is_named_and_nothing_is_stored(
    db: Database, fields: dict[str, object], field: str
) -> None:
    stock_network(db)
    given: dict[str, object] = {
        "email": "x@example.com",
        "role": "agent",
        "password": PASSWORD,
        **fields,
    }
    with pytest.raises(ConsoleUserInvalid) as refused, db.transaction() as session:
        create_console_user(session, **given)  # type: ignore[arg-type]
    assert refused.value.field == field
    assert count(db, m.ConsoleUser) == 0


def test_an_email_is_taken_once_whatever_its_case(db: Database) -> None:
    add_user(db, "ann@example.com", "agent")
    with pytest.raises(ConsoleUserExists) as refused, db.transaction() as session:
        create_console_user(session, email="ANN@example.com", role="admin", password=PASSWORD)
    assert refused.value.field == "email"
    assert count(db, m.ConsoleUser) == 1


def test_a_warehouse_user_keeps_its_locations_sorted(db: Database) -> None:
    stock_network(db)
    add_user(db, "wh@example.com", "warehouse", locations=("WH-MAN", "WH-LDN", "WH-MAN"))
    with db.reading() as session:
        user = session.scalars(select(m.ConsoleUser)).one()
        assert user.locations == ["WH-LDN", "WH-MAN"]


def test_sign_in_opens_a_session_that_expires(db: Database) -> None:
    add_user(db, "ann@example.com", "agent")
    with db.transaction() as session:
        outcome = sign_in(session, "Ann@Example.com", PASSWORD, client="10.0.0.1")
    assert outcome.token
    assert outcome.identity
    assert outcome.refusal is None
    assert outcome.identity.role is ConsoleRole.AGENT
    with db.reading() as session:
        row = session.scalars(select(m.ConsoleSession)).one()
        assert row.token_hash != outcome.token  # only its hash is stored
        assert row.expires_at - row.created_at == timedelta(hours=SESSION_HOURS)
        before = row.expires_at - timedelta(seconds=1)
        assert session_identity(session, outcome.token, now=before) == outcome.identity
        assert session_identity(session, outcome.token, now=row.expires_at) is None
        assert session_identity(session, outcome.token + "x") is None


def test_sign_out_ends_the_session(db: Database) -> None:
    add_user(db, "ann@example.com", "agent")
    with db.transaction() as session:
        token = sign_in(session, "ann@example.com", PASSWORD, client="c").token
    assert token
    with db.transaction() as session:
        assert sign_out(session, token) is True
    with db.transaction() as session:
        assert session_identity(session, token) is None
        assert sign_out(session, token) is False


def test_failed_sign_ins_are_limited_per_email_and_client(db: Database) -> None:
    add_user(db, "ann@example.com", "agent")
    for _ in range(LOGIN_FAILURES):
        with db.transaction() as session:
            outcome = sign_in(session, "ann@example.com", "wrong password!", client="1.1.1.1")
        assert (outcome.token, outcome.limited) == (None, False)
    with db.transaction() as session:
        limited = sign_in(session, "ann@example.com", PASSWORD, client="1.1.1.1")
    assert limited.token is None
    assert limited.limited
    assert limited.refusal == (
        "Too many failed sign-ins for ann@example.com from this address. Try again in 15 minutes."
    )
    assert count(db, m.ConsoleSession) == 0
    with db.transaction() as session:  # another client is not limited, and clears its own
        other = sign_in(session, "ann@example.com", PASSWORD, client="2.2.2.2")
    assert other.token is not None
    with db.reading() as session:
        oldest = session.scalar(select(func.min(m.ConsoleLoginFailure.failed_at)))
    assert oldest is not None
    with db.transaction() as session:  # once the window has passed, the client may try again
        later = sign_in(
            session, "ann@example.com", PASSWORD, client="1.1.1.1", now=oldest + LOGIN_WINDOW
        )
    assert later.token is not None
    assert count(db, m.ConsoleLoginFailure) == 0


def test_an_unknown_email_and_a_wrong_password_are_refused_alike(db: Database) -> None:
    add_user(db, "ann@example.com", "agent")
    with db.transaction() as session:
        unknown = sign_in(session, "nobody@example.com", PASSWORD, client="c")
        wrong = sign_in(session, "ann@example.com", "not the password", client="c")
    assert unknown.refusal == wrong.refusal
    assert count(db, m.ConsoleLoginFailure) == 2


def test_disabling_a_user_ends_their_sessions_and_refuses_them(db: Database) -> None:
    add_user(db, "ann@example.com", "agent")
    with db.transaction() as session:
        token = sign_in(session, "ann@example.com", PASSWORD, client="c").token
    assert token
    with db.transaction() as session:
        assert disable_console_user(session, "ANN@example.com") == 1
    with db.transaction() as session:
        assert session_identity(session, token) is None
        assert sign_in(session, "ann@example.com", PASSWORD, client="c").token is None
    with pytest.raises(ConsoleUserNotFound), db.transaction() as session:
        disable_console_user(session, "nobody@example.com")


def test_the_users_cli_creates_lists_and_disables(db: Database) -> None:
    stock_network(db)
    env = {"OPENOMS_DATABASE_URL": db.url, "COLUMNS": "200"}
    runner = CliRunner()
    created = runner.invoke(
        cli,
        [
            "users",
            "create",
            "wh@example.com",
            "--role",
            "warehouse",
            "--name",
            "Wendy",
            "--location",
            "WH-LDN",
            "--password-stdin",
        ],
        input=PASSWORD + "\n",
        env=env,
    )
    assert created.exit_code == 0, created.output
    assert "wh@example.com  role: warehouse  locations: WH-LDN" in created.output
    prompted = runner.invoke(
        cli,
        ["users", "create", "fin@example.com", "--role", "finance"],
        input=f"{PASSWORD}\n{PASSWORD}\n",
        env=env,
    )
    assert prompted.exit_code == 0, prompted.output
    assert PASSWORD not in prompted.output  # the prompt hides what is typed
    short = runner.invoke(
        cli,
        ["users", "create", "x@example.com", "--role", "agent", "--password-stdin"],
        input="short\n",
        env=env,
    )
    assert short.exit_code == 1
    assert "password: password must have at least 10 characters" in short.output
    listed = runner.invoke(cli, ["users", "list"], env=env)
    assert listed.exit_code == 0
    rows = [line.split("\t") for line in listed.output.splitlines() if line.startswith("usr_")]
    assert [(r[1], r[2], r[3], r[4], r[5]) for r in rows] == [
        ("wh@example.com", "Wendy", "warehouse", "WH-LDN", "active"),
        ("fin@example.com", "fin", "finance", "all", "active"),
    ]
    disabled = runner.invoke(cli, ["users", "disable", "wh@example.com"], env=env)
    assert disabled.exit_code == 0
    assert "disabled wh@example.com; 0 session(s) ended" in disabled.output
    missing = runner.invoke(cli, ["users", "disable", "nobody@example.com"], env=env)
    assert missing.exit_code == 1
    assert "email: no console user 'nobody@example.com'" in missing.output
    assert count(db, m.ConsoleUser) == 2


def test_a_hash_made_with_weaker_settings_is_replaced_at_sign_in(db: Database) -> None:
    add_user(db, "ann@example.com", "agent")
    weak = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash(PASSWORD)
    with db.transaction() as session:
        session.execute(update(m.ConsoleUser).values(password_hash=weak))
    with db.transaction() as session:
        assert sign_in(session, "ann@example.com", PASSWORD, client="c").token
    with db.reading() as session:
        stored = session.scalars(select(m.ConsoleUser.password_hash)).one()
    assert stored != weak
    assert not PasswordHasher().check_needs_rehash(stored)


def test_a_malformed_email_or_a_broken_hash_only_fails_the_sign_in(db: Database) -> None:
    add_user(db, "ann@example.com", "agent")
    with db.transaction() as session:
        session.execute(update(m.ConsoleUser).values(password_hash="not an argon2 hash"))
    with db.transaction() as session:
        assert sign_in(session, "not an email", PASSWORD, client="c").refusal
        assert sign_in(session, "ann@example.com", PASSWORD, client="c").token is None
    with db.reading() as session:
        emails = session.scalars(select(m.ConsoleLoginFailure.email)).all()
    assert sorted(emails) == ["ann@example.com", "not an email"]


def test_the_demo_admin_is_ensured_again_with_a_fresh_password(db: Database) -> None:
    add_user(db, "demo@example.com", "agent")
    with db.transaction() as session:
        disable_console_user(session, "demo@example.com")
    with db.transaction() as session:
        ensure_console_user(
            session, email="demo@example.com", role="admin", password="a fresh one 123", name="D"
        )
        ensure_console_user(  # created when missing
            session, email="new@example.com", role="admin", password="a fresh one 123", name="N"
        )
    with db.transaction() as session:
        old = sign_in(session, "demo@example.com", PASSWORD, client="c")
        fresh = sign_in(session, "demo@example.com", "a fresh one 123", client="c")
    assert old.token is None
    assert fresh.identity is not None
    assert fresh.identity.role is ConsoleRole.ADMIN
    assert count(db, m.ConsoleUser) == 2
