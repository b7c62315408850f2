"""The console's cookies and CSRF tokens.

- The session cookie carries the session's secret token, signed (itsdangerous, with a key
  every process reads from the database) and timestamped: a tampered or forged cookie is
  refused before the database is asked, and one older than the session's lifetime is
  refused even if its row were somehow still open. HttpOnly, SameSite=Lax, Secure when the
  request came over HTTPS, Max-Age the session's lifetime.
- A signed-in page's CSRF token is an HMAC of the session token: it changes with every
  session and needs no storage. The sign-in form, before any session exists, uses a signed
  double-submit cookie instead. A POST without a valid token is refused (403) before
  anything runs.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading

from fastapi import Request, Response
from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.concurrency import run_in_threadpool

from openoms.adapters.db.session import Database
from openoms.services.access import SESSION_HOURS, signing_secret

SESSION_COOKIE = "openoms_session"
LOGIN_CSRF_COOKIE = "openoms_login_csrf"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
SESSION_SECONDS = SESSION_HOURS * 3600
LOGIN_FORM_SECONDS = 3600

_lock = threading.Lock()


class CsrfRefused(Exception):
    """A POST without a valid CSRF token."""


class Keys:
    """The signing key and what is made with it."""

    def __init__(self, secret: str) -> None:
        self._secret = secret.encode()
        self._sessions = URLSafeTimedSerializer(secret, salt="openoms.console.session")
        self._login = URLSafeTimedSerializer(secret, salt="openoms.console.login-csrf")

    def session_cookie(self, token: str) -> str:
        return self._sessions.dumps(token)

    def session_token(self, cookie: str | None) -> str | None:
        """The token of a cookie this console signed within the session lifetime."""
        if not cookie:
            return None
        try:
            token = self._sessions.loads(cookie, max_age=SESSION_SECONDS)
        except BadSignature:  # also the expired ones (SignatureExpired is one)
            return None
        return token if isinstance(token, str) else None

    def csrf_token(self, session_token: str) -> str:
        return hmac.new(self._secret, b"csrf:" + session_token.encode(), hashlib.sha256).hexdigest()

    def login_nonce(self) -> tuple[str, str]:
        """A fresh sign-in form token and the signed cookie that vouches for it."""
        nonce = secrets.token_urlsafe(24)
        return nonce, self._login.dumps(nonce)

    def login_nonce_valid(self, cookie: str | None, presented: str) -> bool:
        if not cookie or not presented:
            return False
        try:
            nonce = self._login.loads(cookie, max_age=LOGIN_FORM_SECONDS)
        except BadSignature:
            return False
        return isinstance(nonce, str) and hmac.compare_digest(nonce, presented)


async def keys_of(request: Request) -> Keys:
    """The app's keys, read from (or made in) the database on first use."""
    keys: Keys | None = getattr(request.app.state, "console_keys", None)
    if keys is None:
        keys = await run_in_threadpool(_load_keys, request.app.state.db)
        request.app.state.console_keys = keys
    return keys


def _load_keys(db: Database) -> Keys:
    with _lock, db.transaction() as session:
        return Keys(signing_secret(session))


async def presented_csrf(request: Request) -> str:
    """The token a POST carries: the X-CSRF-Token header (htmx) or the form's field."""
    header = request.headers.get(CSRF_HEADER)
    if header:
        return header
    form = await request.form()
    value = form.get(CSRF_FIELD)
    return value if isinstance(value, str) else ""


def check_csrf(keys: Keys, session_token: str, presented: str) -> None:
    if not presented or not hmac.compare_digest(keys.csrf_token(session_token), presented):
        raise CsrfRefused()


def set_cookie(request: Request, response: Response, name: str, value: str, max_age: int) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path="/console",
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
    )


def clear_cookie(response: Response, name: str) -> None:
    response.delete_cookie(name, path="/console", httponly=True, samesite="lax")
