"""Console users: who may sign in to the console, with which role, at which locations.

Passwords are hashed with argon2id (argon2-cffi's defaults); only the hash is stored and a
password is never logged. Emails are compared lower-cased.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.orm import Session

from openoms.adapters.db.ids import new_id
from openoms.adapters.db.models import ConsoleUser, utcnow
from openoms.adapters.db.repositories import console as repo
from openoms.domain.errors import Conflict, NotFound, ValidationFailed
from openoms.services.inventory import location_ids_by_ref

MIN_PASSWORD = 10
MAX_PASSWORD = 1024
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


class ConsoleRole(StrEnum):
    AGENT = "agent"
    WAREHOUSE = "warehouse"
    FINANCE = "finance"
    ADMIN = "admin"  # may open every page


class ConsoleUserInvalid(ValidationFailed):
    """A console user's field is not valid; `field` names it."""

    code = "console_user_invalid"
    title = "Console user is not valid"


class ConsoleUserExists(Conflict):
    code = "console_user_exists"
    title = "A console user with this email exists"


class ConsoleUserNotFound(NotFound):
    code = "console_user_not_found"
    title = "Console user not found"


@dataclass(frozen=True, slots=True)
class ConsoleIdentity:
    """Who is signed in: the user and the session they came with. `locations` limits a
    warehouse user (None: every location)."""

    user_id: str
    email: str
    name: str
    role: ConsoleRole
    locations: tuple[str, ...] | None
    session_id: str

    def allows(self, *roles: ConsoleRole) -> bool:
        """True when the user holds one of `roles` (admin holds them all)."""
        return self.role is ConsoleRole.ADMIN or self.role in roles

    def sees_location(self, ref: str) -> bool:
        return self.locations is None or ref in self.locations

    @property
    def actor(self) -> str:
        """How an action records this user as the one who did it (an API key is recorded
        as `api_key:<id>`)."""
        return f"user:{self.email}"


def identity_of(user: ConsoleUser, session_id: str) -> ConsoleIdentity:
    locations = tuple(user.locations) if user.locations is not None else None
    return ConsoleIdentity(
        user.id, user.email, user.name, ConsoleRole(user.role), locations, session_id
    )


@cache
def password_hasher() -> PasswordHasher:
    return PasswordHasher()


@cache
def _decoy_hash() -> str:
    """A hash to verify against when the email is unknown, so an unknown email takes as
    long to refuse as a wrong password (no user enumeration by timing)."""
    return password_hasher().hash("not a password of anyone")


def normal_email(email: str) -> str:
    """`email` trimmed and lower-cased; ConsoleUserInvalid (field email) unless it looks
    like one."""
    value = email.strip().lower()
    if len(value) > 254 or not _EMAIL.fullmatch(value):
        raise ConsoleUserInvalid(f"email {email!r} is not an email address", field="email")
    return value


def check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise ConsoleUserInvalid(
            f"password must have at least {MIN_PASSWORD} characters", field="password"
        )
    if len(password) > MAX_PASSWORD:
        raise ConsoleUserInvalid(
            f"password must have at most {MAX_PASSWORD} characters", field="password"
        )


def create_console_user(
    session: Session,
    *,
    email: str,
    role: str,
    password: str,
    name: str | None = None,
    locations: Sequence[str] = (),
) -> ConsoleUser:
    """Create a console user. Each bad field is ConsoleUserInvalid naming it (email, role,
    name, password, location: only warehouse users are limited to locations, and each must
    exist); a taken email is ConsoleUserExists."""
    address = normal_email(email)
    try:
        the_role = ConsoleRole(role)
    except ValueError:
        known = ", ".join(r.value for r in ConsoleRole)
        raise ConsoleUserInvalid(f"role {role!r} is not one of {known}", field="role") from None
    display = (name if name is not None else address.split("@", 1)[0]).strip()
    if not display or len(display) > 200:
        raise ConsoleUserInvalid("name must have 1 to 200 characters", field="name")
    refs = _locations(session, the_role, locations)
    check_password(password)
    if repo.user_by_email(session, address) is not None:
        raise ConsoleUserExists(f"a console user {address!r} exists", field="email")
    user = ConsoleUser(
        id=new_id("usr"),
        email=address,
        name=display,
        role=the_role.value,
        locations=refs,
        password_hash=password_hasher().hash(password),
        disabled=False,
        created_at=utcnow(),
    )
    session.add(user)
    session.flush()
    return user


def _locations(session: Session, role: ConsoleRole, refs: Iterable[str]) -> list[str] | None:
    wanted = sorted({ref.strip() for ref in refs})
    if not wanted:
        return None
    if role is not ConsoleRole.WAREHOUSE:
        raise ConsoleUserInvalid(
            f"only warehouse users are limited to locations, not {role.value} users",
            field="location",
        )
    try:
        location_ids_by_ref(session, set(wanted))
    except NotFound as exc:
        raise ConsoleUserInvalid(exc.detail, field="location") from None
    return wanted


def list_console_users(session: Session) -> list[ConsoleUser]:
    """Every console user, oldest first (password hashes are the caller's to leave out)."""
    return repo.list_users(session)


def disable_console_user(session: Session, email: str, *, now: datetime | None = None) -> int:
    """Disable a user and end every session of theirs at once; how many sessions ended.
    Unknown email: ConsoleUserNotFound."""
    user = repo.user_by_email(session, normal_email(email))
    if user is None:
        raise ConsoleUserNotFound(f"no console user {email!r}", field="email")
    user.disabled = True
    session.flush()
    return repo.end_sessions_of(session, user.id, now or utcnow())


def ensure_console_user(
    session: Session, *, email: str, role: str, password: str, name: str
) -> ConsoleUser:
    """The user `email` with this role and password, enabled: created when missing, else
    brought back to them (the demo admin `make run` prints a fresh password for)."""
    user = repo.user_by_email(session, normal_email(email))
    if user is None:
        return create_console_user(session, email=email, role=role, password=password, name=name)
    check_password(password)
    user.role = ConsoleRole(role).value
    user.password_hash = password_hasher().hash(password)
    user.disabled = False
    session.flush()
    return user


def verify_password(user: ConsoleUser | None, password: str) -> bool:
    """True when `password` is the user's; an absent user costs the same time and fails."""
    hasher = password_hasher()
    try:
        return hasher.verify(user.password_hash if user else _decoy_hash(), password) and (
            user is not None
        )
    except (VerificationError, InvalidHashError):
        return False
