"""Queries of the access area: API keys."""

from __future__ import annotations

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from openoms.adapters.db.models import ApiKey


def key_by_hash(session: Session, key_hash: str) -> ApiKey | None:
    """The key (revoked or not) whose stored hash is `key_hash`."""
    return session.scalars(select(ApiKey).where(ApiKey.key_hash == key_hash)).one_or_none()


def hash_in_use(session: Session, key_hash: str) -> bool:
    """Whether a key (revoked or not) has this hash."""
    return session.scalar(select(ApiKey.id).where(ApiKey.key_hash == key_hash)) is not None


def list_keys(session: Session, *, include_revoked: bool) -> list[ApiKey]:
    """Keys oldest first."""
    query = select(ApiKey).order_by(ApiKey.created_at, ApiKey.id)
    if not include_revoked:
        query = query.where(ApiKey.revoked_at.is_(None))
    return list(session.scalars(query))


def any_key(session: Session) -> bool:
    """Whether any key exists, revoked ones included."""
    return bool(session.scalar(select(func.count()).select_from(ApiKey)))


def lock_key_table(session: Session) -> None:
    """Hold the key table so two processes starting at once cannot both install a key.
    SQLite transactions already hold the write lock from BEGIN IMMEDIATE; PostgreSQL needs a
    self-conflicting table lock."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("LOCK TABLE api_keys IN SHARE ROW EXCLUSIVE MODE"))
