"""The console over the `db` fixture, driven like a browser without one: sign in through
the form (its CSRF token and cookie), read the CSRF token of a signed-in page, and the
people the tests sign in as."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import httpx
from fastapi.testclient import TestClient

from openoms.adapters.db.session import Database
from openoms.services.access import create_console_user

PASSWORD = "correct horse battery"
SESSION_COOKIE = "openoms_session"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def add_user(
    db: Database, email: str, role: str, *, locations: tuple[str, ...] = (), name: str | None = None
) -> str:
    """A console user with PASSWORD; its id."""
    with db.transaction() as session:
        return create_console_user(
            session, email=email, role=role, password=PASSWORD, name=name, locations=locations
        ).id


def csrf_of(html: str) -> str:
    found = _CSRF.search(html)
    assert found, "no CSRF field on the page"
    return found.group(1)


@dataclass
class Browser:
    """One cookie jar on the console (redirects are not followed: tests check them)."""

    client: TestClient
    cookies: dict[str, str] = field(default_factory=dict)

    def sign_in(self, email: str, password: str = PASSWORD, *, next_: str = "") -> httpx.Response:
        form = self.client.get("/console/login")
        assert form.status_code == 200
        return self.client.post(
            "/console/login",
            data={
                "email": email,
                "password": password,
                "csrf_token": csrf_of(form.text),
                "next": next_,
            },
        )

    def csrf(self) -> str:
        home = self.client.get("/console/")
        assert home.status_code == 200, home.status_code
        return csrf_of(home.text)

    @property
    def session_cookie(self) -> str:
        value = self.client.cookies.get(SESSION_COOKIE)
        assert value, "not signed in"
        return value
