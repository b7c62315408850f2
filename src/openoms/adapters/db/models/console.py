"""Console people and their sign-ins: users, sessions, failed sign-ins, the signing secret."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from openoms.adapters.db.models.base import Base, utcnow


class ConsoleUser(Base):
    """A person who signs in to the console. `email` is stored lower-cased (unique);
    `password_hash` is an argon2id hash; `locations` (refs, sorted) limits a warehouse user
    to those locations, None: every location."""

    __tablename__ = "console_users"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20))
    locations: Mapped[list[str] | None] = mapped_column(JSON, default=None)
    password_hash: Mapped[str] = mapped_column(Text)
    disabled: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ConsoleSession(Base):
    """A signed-in browser. Only the sha256 of the session's secret token is stored; the
    cookie carries the token, signed. Ended (logout, user disabled) or past `expires_at`, it
    no longer signs anyone in."""

    __tablename__ = "console_sessions"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("console_users.id"), index=True)
    client: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]


class ConsoleLoginFailure(Base):
    """One failed sign-in for (email, client): the login rate limit counts these."""

    __tablename__ = "console_login_failures"

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
    )
    email: Mapped[str] = mapped_column(String(254), index=True)
    client: Mapped[str] = mapped_column(String(100))
    failed_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class ConsoleSecret(Base):
    """A secret the console's processes share (the cookie signing key), made once."""

    __tablename__ = "console_secrets"

    name: Mapped[str] = mapped_column(String(50), primary_key=True)
    value: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


__all__ = ["ConsoleLoginFailure", "ConsoleSecret", "ConsoleSession", "ConsoleUser"]
