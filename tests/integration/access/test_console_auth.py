"""The console's sign-in rules over HTTP, on both backends: redirects to sign in, cookie
attributes, CSRF on every POST (403, nothing changed), logout and disabling really end a
session, the login rate limit, and roles enforced by the server on every page."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from openoms.adapters.db import models as m
from openoms.adapters.db.models import utcnow
from openoms.adapters.db.session import Database
from openoms.services.access import LOGIN_FAILURES, disable_console_user
from tests.integration.conftest import Api
from tests.integration.console_client import PASSWORD, SESSION_COOKIE, Browser, add_user
from tests.network import stock_network
from tests.payloads import order_payload

Browsers = Callable[[], Browser]
pytestmark = pytest.mark.usefixtures("cheap_passwords")  # passwords are not what these test


def sessions(db: Database) -> list[tuple[str, bool]]:
    """(user email, open) of every session."""
    with db.reading() as session:
        rows = session.execute(
            select(m.ConsoleUser.email, m.ConsoleSession.ended_at)
            .join(m.ConsoleUser, m.ConsoleUser.id == m.ConsoleSession.user_id)
            .order_by(m.ConsoleSession.id)
        ).all()
    return [(email, ended is None) for email, ended in rows]


def failures(db: Database) -> int:
    with db.reading() as session:
        return int(session.scalar(select(func.count()).select_from(m.ConsoleLoginFailure)) or 0)


def test_a_page_without_a_session_sends_the_browser_to_sign_in(api: Api, console: Browsers) -> None:
    browser = console()
    page = browser.client.get("/console/orders?status=CREATED")
    assert page.status_code == 303
    assert page.headers["location"] == "/console/login?next=%2Fconsole%2Forders%3Fstatus%3DCREATED"
    htmx = browser.client.get("/console/orders", headers={"HX-Request": "true"})
    assert htmx.status_code == 401
    assert htmx.headers["HX-Redirect"] == "/console/login?next=%2Fconsole%2Forders"


def test_signing_in_sets_a_signed_http_only_lax_cookie_and_goes_back(
    api: Api, console: Browsers
) -> None:
    add_user(api.db, "ann@example.com", "agent")
    browser = console()
    answer = browser.sign_in("ann@example.com", next_="/console/orders?status=CREATED")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/console/orders?status=CREATED"
    cookie = next(
        c for c in answer.headers.get_list("set-cookie") if c.startswith(SESSION_COOKIE + "=")
    )
    attributes = {part.strip().split("=")[0].lower() for part in cookie.split(";")[1:]}
    assert {"httponly", "max-age", "path", "samesite"} <= attributes
    assert "Max-Age=43200" in cookie
    assert "Path=/console" in cookie
    assert "SameSite=lax" in cookie
    orders = browser.client.get("/console/orders")
    assert orders.status_code == 200
    assert orders.headers["Cache-Control"] == "no-store"
    assert orders.headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in orders.headers["Content-Security-Policy"]
    assert sessions(api.db) == [("ann@example.com", True)]


def test_signing_in_never_sends_the_browser_to_another_site(api: Api, console: Browsers) -> None:
    add_user(api.db, "ann@example.com", "agent")
    for target in ("//evil.example/console", "https://evil.example/", "/api/v1/keys"):
        answer = console().sign_in("ann@example.com", next_=target)
        assert answer.headers["location"] == "/console/", target


def test_a_wrong_password_is_refused_and_counted(api: Api, console: Browsers) -> None:
    add_user(api.db, "ann@example.com", "agent")
    browser = console()
    answer = browser.sign_in("ann@example.com", "not my password")
    assert answer.status_code == 401
    assert "The email or password is not right, or the account is disabled." in answer.text
    assert SESSION_COOKIE not in browser.client.cookies
    assert failures(api.db) == 1
    assert sessions(api.db) == []


def test_sign_in_is_rate_limited_per_email_and_client(api: Api, console: Browsers) -> None:
    add_user(api.db, "ann@example.com", "agent")
    browser = console()
    for _ in range(LOGIN_FAILURES):
        assert browser.sign_in("ann@example.com", "not my password").status_code == 401
    limited = browser.sign_in("ann@example.com")  # the right password, too late
    assert limited.status_code == 429
    assert "Too many failed sign-ins for ann@example.com from this address." in limited.text
    assert sessions(api.db) == []
    assert failures(api.db) == LOGIN_FAILURES


def test_a_sign_in_without_its_csrf_token_is_refused(api: Api, console: Browsers) -> None:
    add_user(api.db, "ann@example.com", "agent")
    browser = console()
    browser.client.get("/console/login")  # the form's cookie, but not its token
    for token in ("", "forged"):
        answer = browser.client.post(
            "/console/login",
            data={"email": "ann@example.com", "password": PASSWORD, "csrf_token": token},
        )
        assert answer.status_code == 403
        assert "Nothing was changed" in answer.text
    assert sessions(api.db) == []
    assert failures(api.db) == 0


def test_a_post_without_the_sessions_csrf_token_is_refused_and_changes_nothing(
    api: Api, console: Browsers
) -> None:
    add_user(api.db, "ann@example.com", "agent")
    add_user(api.db, "bob@example.com", "agent")
    ann, bob = console(), console()
    ann.sign_in("ann@example.com")
    bob.sign_in("bob@example.com")
    for headers, data in (
        ({}, {}),
        ({}, {"csrf_token": "forged"}),
        ({}, {"csrf_token": bob.csrf()}),  # another session's token
        ({"X-CSRF-Token": bob.csrf()}, {}),
    ):
        answer = ann.client.post("/console/logout", headers=headers, data=data)
        assert answer.status_code == 403
    assert sessions(api.db) == [("ann@example.com", True), ("bob@example.com", True)]
    assert ann.client.get("/console/").status_code == 200
    by_header = ann.client.post("/console/logout", headers={"X-CSRF-Token": ann.csrf()})
    assert by_header.status_code == 303  # htmx sends the token as a header


def test_logout_ends_the_session_for_the_old_cookie_too(api: Api, console: Browsers) -> None:
    add_user(api.db, "ann@example.com", "agent")
    browser = console()
    browser.sign_in("ann@example.com")
    old = browser.session_cookie
    answer = browser.client.post("/console/logout", data={"csrf_token": browser.csrf()})
    assert answer.status_code == 303
    assert answer.headers["location"] == "/console/login?signed_out=1"
    replay = console()
    replay.client.cookies.set(SESSION_COOKIE, old)
    assert replay.client.get("/console/").status_code == 303
    assert sessions(api.db) == [("ann@example.com", False)]


def test_a_tampered_or_expired_cookie_signs_nobody_in(api: Api, console: Browsers) -> None:
    add_user(api.db, "ann@example.com", "agent")
    browser = console()
    browser.sign_in("ann@example.com")
    good = browser.session_cookie
    forged = console()
    forged.client.cookies.set(SESSION_COOKIE, good[:-2] + ("AA" if good[-2:] != "AA" else "BB"))
    assert forged.client.get("/console/").status_code == 303
    with api.db.transaction() as session:
        session.execute(update(m.ConsoleSession).values(expires_at=utcnow() - timedelta(seconds=1)))
    assert browser.client.get("/console/").status_code == 303


def test_disabling_a_user_ends_the_session_they_are_in(api: Api, console: Browsers) -> None:
    add_user(api.db, "ann@example.com", "agent")
    browser = console()
    browser.sign_in("ann@example.com")
    assert browser.client.get("/console/orders").status_code == 200
    with api.db.transaction() as session:
        disable_console_user(session, "ann@example.com")
    assert browser.client.get("/console/orders").status_code == 303
    assert console().sign_in("ann@example.com").status_code == 401


@pytest.mark.parametrize(
    ("role", "allowed"),
    [
        ("agent", {"/console/", "/console/orders", "order"}),
        ("finance", {"/console/", "/console/orders", "order"}),
        ("warehouse", {"/console/", "/console/fulfillment"}),
        ("admin", {"/console/", "/console/orders", "order", "/console/fulfillment"}),
    ],
)
def test_each_role_opens_its_pages_only(
    api: Api, console: Browsers, role: str, allowed: set[str]
) -> None:
    stock_network(api.db)
    captured = api.client.post("/api/v1/orders", json=order_payload(), headers=api.headers())
    assert captured.status_code == 201, captured.text
    pages = {
        "/console/": "/console/",
        "/console/orders": "/console/orders",
        "order": f"/console/orders/{captured.json()['id']}",
        "/console/fulfillment": "/console/fulfillment",
    }
    add_user(api.db, f"{role}@example.com", role)
    browser = console()
    browser.sign_in(f"{role}@example.com")
    answers = {name: browser.client.get(path).status_code for name, path in pages.items()}
    assert answers == {name: 200 if name in allowed else 403 for name in pages}
    refused = browser.client.get(
        pages["order"] if "order" not in allowed else "/console/fulfillment"
    )
    if role != "admin":
        assert "This page is for" in refused.text


def test_a_warehouse_user_limited_to_locations_sees_only_those(api: Api, console: Browsers) -> None:
    stock_network(api.db)
    add_user(api.db, "wh@example.com", "warehouse", locations=("WH-MAN",))
    browser = console()
    browser.sign_in("wh@example.com")
    own = browser.client.get("/console/fulfillment")
    assert own.status_code == 200
    assert '<option value="WH-MAN" selected>WH-MAN</option>' in own.text
    assert "WH-LDN" not in own.text
    assert "STORE-LDN" not in own.text
    other = browser.client.get("/console/fulfillment?location=WH-LDN")
    assert other.status_code == 403
    assert "You work at WH-MAN; not at WH-LDN." in other.text


def test_a_sign_in_form_cookie_that_was_not_signed_here_is_refused(
    api: Api, console: Browsers
) -> None:
    add_user(api.db, "ann@example.com", "agent")
    browser = console()
    browser.client.cookies.set("openoms_login_csrf", "nonce.forged-signature", path="/console")
    answer = browser.client.post(
        "/console/login",
        data={"email": "ann@example.com", "password": PASSWORD, "csrf_token": "nonce"},
    )
    assert answer.status_code == 403
    assert sessions(api.db) == []


def test_a_console_request_that_does_not_validate_gets_a_page_not_json(
    api: Api, console: Browsers
) -> None:
    add_user(api.db, "ann@example.com", "agent")
    browser = console()
    browser.sign_in("ann@example.com")
    answer = browser.client.get("/console/orders?limit=lots")
    assert answer.status_code == 400
    assert answer.headers["content-type"].startswith("text/html")
    assert "This request could not be read (limit: " in answer.text
    assert "Nothing was changed." in answer.text
    api_answer = api.client.get("/api/v1/order-summaries?limit=lots", headers=api.headers())
    assert api_answer.status_code == 422  # the API keeps its problem+json
    assert api_answer.headers["content-type"] == "application/problem+json"
