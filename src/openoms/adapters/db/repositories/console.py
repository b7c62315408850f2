"""Queries of the console's people: users, sessions, failed sign-ins, shared secrets."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from openoms.adapters.db.models import (
    ConsoleLoginFailure,
    ConsoleSecret,
    ConsoleSession,
    ConsoleUser,
    utcnow,
)
from openoms.adapters.db.session import dialect_insert


def user_by_email(session: Session, email: str) -> ConsoleUser | None:
    return session.scalars(select(ConsoleUser).where(ConsoleUser.email == email)).one_or_none()


def list_users(session: Session) -> list[ConsoleUser]:
    """Users oldest first."""
    return list(
        session.scalars(select(ConsoleUser).order_by(ConsoleUser.created_at, ConsoleUser.id))
    )


def live_session(
    session: Session, token_hash: str, now: datetime
) -> tuple[ConsoleSession, ConsoleUser] | None:
    """The session with this token hash and its user, unless ended, expired or the user is
    disabled."""
    row = session.execute(
        select(ConsoleSession, ConsoleUser)
        .join(ConsoleUser, ConsoleUser.id == ConsoleSession.user_id)
        .where(
            ConsoleSession.token_hash == token_hash,
            ConsoleSession.ended_at.is_(None),
            ConsoleSession.expires_at > now,
            ConsoleUser.disabled.is_(False),
        )
    ).one_or_none()
    return None if row is None else (row[0], row[1])


def end_session(session: Session, token_hash: str, now: datetime) -> bool:
    """End the session with this token hash; True when one was open."""
    result = session.execute(
        update(ConsoleSession)
        .where(ConsoleSession.token_hash == token_hash, ConsoleSession.ended_at.is_(None))
        .values(ended_at=now)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def end_sessions_of(session: Session, user_id: str, now: datetime) -> int:
    """End every open session of a user; how many were open."""
    result = session.execute(
        update(ConsoleSession)
        .where(ConsoleSession.user_id == user_id, ConsoleSession.ended_at.is_(None))
        .values(ended_at=now)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def count_failures(
    session: Session, email: str, client: str, since: datetime
) -> tuple[int, datetime | None]:
    """Failed sign-ins for (email, client) since `since`, and the oldest of them."""
    count, oldest = session.execute(
        select(func.count(), func.min(ConsoleLoginFailure.failed_at)).where(
            ConsoleLoginFailure.email == email,
            ConsoleLoginFailure.client == client,
            ConsoleLoginFailure.failed_at > since,
        )
    ).one()
    return int(count), oldest


def add_failure(session: Session, email: str, client: str, now: datetime) -> None:
    session.add(ConsoleLoginFailure(email=email, client=client, failed_at=now))
    session.flush()


def clear_failures(session: Session, email: str, client: str) -> None:
    session.execute(
        delete(ConsoleLoginFailure).where(
            ConsoleLoginFailure.email == email, ConsoleLoginFailure.client == client
        )
    )


def purge_failures(session: Session, before: datetime) -> None:
    """Forget failed sign-ins older than the rate limit's window."""
    session.execute(delete(ConsoleLoginFailure).where(ConsoleLoginFailure.failed_at <= before))


def secret(session: Session, name: str, candidate: str) -> str:
    """The shared secret `name`, stored as `candidate` if there is none yet (a racing
    process's value wins if it was first; both then read the same)."""
    insert = dialect_insert(session, ConsoleSecret.__table__)  # type: ignore[arg-type]
    session.execute(
        insert.values(name=name, value=candidate, created_at=utcnow()).on_conflict_do_nothing(
            index_elements=["name"]
        )
    )
    value = session.scalar(select(ConsoleSecret.value).where(ConsoleSecret.name == name))
    assert value is not None
    return value
