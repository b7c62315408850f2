"""Console sign-in: sessions, their end, and the login rate limit.

A session is a row; the browser holds its secret token (the console signs the cookie that
carries it), and only the token's sha256 is stored. A session ends at logout, when its user
is disabled, or SESSION_HOURS after sign-in, whichever comes first.

Failed sign-ins are rows too, so the limit holds across every API process: LOGIN_FAILURES
failures for one (email, client) within LOGIN_WINDOW refuse further attempts from that
client for that email until the oldest failure leaves the window. A success clears them.
"""

from __future__ import annotations

import hashlib
import math
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from openoms.adapters.db.ids import new_id
from openoms.adapters.db.models import ConsoleSession, utcnow
from openoms.adapters.db.repositories import console as repo
from openoms.domain.errors import ValidationFailed
from openoms.services.access.people import (
    ConsoleIdentity,
    identity_of,
    normal_email,
    password_hasher,
    verify_password,
)

SESSION_HOURS = 12
LOGIN_FAILURES = 5
LOGIN_WINDOW = timedelta(minutes=15)
COOKIE_KEY_ROW = "session-cookie-signing"  # the row holding the key, not the key
WRONG = "The email or password is not right, or the account is disabled."


@dataclass(frozen=True, slots=True)
class SignIn:
    """The outcome of a sign-in attempt: a session token and who it signs in, or the
    sentence that says why not (`limited` when the rate limit refused it unread). Commit it
    either way: a failure is recorded for the rate limit."""

    token: str | None = None
    identity: ConsoleIdentity | None = None
    refusal: str | None = None
    limited: bool = False


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def sign_in(
    session: Session, email: str, password: str, *, client: str, now: datetime | None = None
) -> SignIn:
    """Check `password` for `email` from `client` (the caller's address) and open a session,
    within the login rate limit."""
    now = now or utcnow()
    try:
        address = normal_email(email)
    except ValidationFailed:
        address = email.strip().lower()[:254]
    client = client[:100]
    count, oldest = repo.count_failures(session, address, client, now - LOGIN_WINDOW)
    if count >= LOGIN_FAILURES and oldest is not None:
        wait = max(1, math.ceil((oldest + LOGIN_WINDOW - now).total_seconds() / 60))
        return SignIn(
            refusal=f"Too many failed sign-ins for {address} from this address. "
            f"Try again in {wait} minute{'s' if wait != 1 else ''}.",
            limited=True,
        )
    user = repo.user_by_email(session, address)
    if not verify_password(user, password) or user is None or user.disabled:
        repo.purge_failures(session, now - LOGIN_WINDOW)
        repo.add_failure(session, address, client, now)
        return SignIn(refusal=WRONG)
    repo.clear_failures(session, address, client)
    if password_hasher().check_needs_rehash(user.password_hash):
        user.password_hash = password_hasher().hash(password)
    token = secrets.token_urlsafe(32)
    row = ConsoleSession(
        id=new_id("ses"),
        token_hash=_digest(token),
        user_id=user.id,
        client=client,
        created_at=now,
        expires_at=now + timedelta(hours=SESSION_HOURS),
        ended_at=None,
    )
    session.add(row)
    session.flush()
    return SignIn(token=token, identity=identity_of(user, row.id))


def session_identity(
    session: Session, token: str, *, now: datetime | None = None
) -> ConsoleIdentity | None:
    """Who the session `token` signs in, or None: unknown, ended, expired, user disabled."""
    found = repo.live_session(session, _digest(token), now or utcnow())
    if found is None:
        return None
    row, user = found
    return identity_of(user, row.id)


def sign_out(session: Session, token: str, *, now: datetime | None = None) -> bool:
    """End the session `token` (its cookie no longer signs anyone in); True if it was open."""
    return repo.end_session(session, _digest(token), now or utcnow())


def signing_secret(session: Session) -> str:
    """The secret every console process signs cookies with, made on first use."""
    return repo.secret(session, COOKIE_KEY_ROW, secrets.token_urlsafe(48))
