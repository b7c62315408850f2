"""API keys and scopes: create, authenticate, revoke, and the initial admin key.

Only a sha256 hash of the whole key is stored, so a configured `OPENOMS_ADMIN_KEY` can be any
printable string; generated keys look like `oms_<8 char prefix>_<43 char secret>`. A plain
(fast) hash is enough because keys are long random secrets, not passwords; a short configured
key is the operator's choice and is warned about. Keys are never logged.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
import string
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy.orm import Session

from openoms.adapters.db.ids import new_id
from openoms.adapters.db.models import ApiKey, utcnow
from openoms.adapters.db.repositories import access as repo
from openoms.domain.errors import ApiKeyInvalid, ApiKeyNotFound, ChannelUnknown, Forbidden
from openoms.services.orders import known_channels, unknown_channel

log = logging.getLogger("openoms.keys")

MAX_KEY_LENGTH = 512
SHORT_KEY_WARNING = 16
_PREFIX_ALPHABET = string.ascii_lowercase + string.digits
_GENERATED = re.compile(r"oms_[a-z0-9]{8}_[A-Za-z0-9_-]{43}")


class Scope(StrEnum):
    STOREFRONT = "storefront"
    WAREHOUSE = "warehouse"
    AGENT = "agent"
    METRICS = "metrics"  # scrape GET /metrics
    ADMIN = "admin"  # implies every other scope


class ChannelForbidden(Forbidden):
    """A key bound to channels named another channel (e.g. capturing into it)."""

    code = "channel_forbidden"
    title = "API key is not bound to this channel"


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: an active API key and what it may do. `channels` is the key's binding:
    None for an unbound key (it sees every channel), else the only channels whose orders it
    may capture, read or act on."""

    api_key_id: str
    name: str
    scopes: frozenset[Scope]
    channels: frozenset[str] | None = None

    @property
    def actor(self) -> str:
        """How an action records this key as the one who did it (a console user is
        recorded as `user:<email>`)."""
        return f"api_key:{self.api_key_id}"

    def sees(self, channel: str) -> bool:
        """True when the key may see and act on orders of `channel`."""
        return self.channels is None or channel in self.channels

    def check_channel(self, channel: str) -> None:
        """ChannelForbidden (403) unless the key is bound to `channel` or unbound; it says
        which channels the key has, never anything about orders."""
        if not self.sees(channel):
            bound = ", ".join(sorted(self.channels or ()))
            raise ChannelForbidden(
                f"This API key is bound to {bound}; it cannot act on channel {channel!r}.",
                field="channel",
                channels=sorted(self.channels or ()),
            )

    def allows(self, *scopes: Scope) -> bool:
        """True when the key holds at least one of `scopes` (admin holds them all).

        With no scopes given, any authenticated key is allowed."""
        if not scopes or Scope.ADMIN in self.scopes:
            return True
        return any(scope in self.scopes for scope in scopes)


def hash_key(presented: str) -> str:
    """The stored form of a key: hex sha256 of its UTF-8 bytes."""
    return hashlib.sha256(presented.encode()).hexdigest()


def generate_key() -> str:
    prefix = "".join(secrets.choice(_PREFIX_ALPHABET) for _ in range(8))
    return f"oms_{prefix}_{secrets.token_urlsafe(32)}"


def is_plausible_key(presented: str) -> bool:
    """Cheap shape check before hashing: printable ASCII (keys travel in an HTTP header)."""
    return (
        0 < len(presented) <= MAX_KEY_LENGTH
        and presented.isascii()
        and presented.isprintable()
        and presented == presented.strip()
    )


def display_prefix(key: str) -> str:
    """A non-secret label for listings: the public part of a generated key; for a configured
    key only its first four characters, and only when it is long enough to spare them."""
    if _GENERATED.fullmatch(key):
        return key[:12]
    return f"{key[:4]}…" if len(key) >= 24 else "…"


def parse_scopes(scopes: Iterable[Scope | str]) -> frozenset[Scope]:
    parsed: set[Scope] = set()
    for scope in scopes:
        try:
            parsed.add(Scope(scope))
        except ValueError:
            known = ", ".join(s.value for s in Scope)
            raise ApiKeyInvalid(
                f"Unknown scope {scope!r}; known scopes: {known}.", field="scopes"
            ) from None
    if not parsed:
        raise ApiKeyInvalid("An API key needs at least one scope.", field="scopes")
    return frozenset(parsed)


def principal_of(api_key: ApiKey) -> Principal:
    return Principal(
        api_key_id=api_key.id,
        name=api_key.name,
        scopes=frozenset(Scope(s) for s in api_key.scopes.split()),
        channels=None if api_key.channels is None else frozenset(api_key.channels),
    )


def check_binding(
    session: Session, scopes: frozenset[Scope], channels: Iterable[str] | None
) -> list[str] | None:
    """The sorted, distinct channel refs of a binding (None: unbound). Each must be a
    configured channel (ChannelUnknown names the configured ones); an admin key sees
    everything, so binding one, or binding to no channel at all, is ApiKeyInvalid."""
    if channels is None:
        return None
    refs = sorted(set(channels))
    if Scope.ADMIN in scopes:
        raise ApiKeyInvalid(
            "An admin key sees every channel; it cannot be bound to channels.", field="channels"
        )
    if not refs:
        raise ApiKeyInvalid(
            "A channel binding needs at least one channel (leave it out for an unbound key).",
            field="channels",
        )
    known = set(known_channels(session))
    for ref in refs:
        if ref not in known:
            raise unknown_channel(session, ref, ChannelUnknown, field="channels")
    return refs


def create_api_key(
    session: Session,
    *,
    name: str,
    scopes: Iterable[Scope | str],
    channels: Iterable[str] | None = None,
    secret: str | None = None,
) -> tuple[ApiKey, str]:
    """Create a key with `scopes`, bound to `channels` when given (see `check_binding`);
    returns the row and the plaintext key, which is shown once and never stored. `secret`
    installs a chosen key instead of generating one."""
    parsed = parse_scopes(scopes)
    bound = check_binding(session, parsed, channels)
    name = name.strip()
    if not 0 < len(name) <= 200:
        raise ApiKeyInvalid("An API key needs a name of 1 to 200 characters.", field="name")
    plaintext = generate_key() if secret is None else secret
    if not is_plausible_key(plaintext):
        raise ApiKeyInvalid(
            f"An API key must be 1 to {MAX_KEY_LENGTH} printable ASCII characters "
            "with no leading or trailing spaces.",
            field="secret",
        )
    digest = hash_key(plaintext)
    if repo.hash_in_use(session, digest):
        raise ApiKeyInvalid("This key is already in use.", field="secret")
    api_key = ApiKey(
        id=new_id("key"),
        name=name,
        prefix=display_prefix(plaintext),
        key_hash=digest,
        scopes=" ".join(sorted(parsed)),
        channels=bound,
    )
    session.add(api_key)
    session.flush()
    return api_key, plaintext


def authenticate(session: Session, presented: str) -> Principal | None:
    """The principal for an active key, or None for a malformed, unknown or revoked one."""
    if not is_plausible_key(presented):
        return None
    digest = hash_key(presented)
    api_key = repo.key_by_hash(session, digest)
    if api_key is None or api_key.revoked_at is not None:
        return None
    # The indexed lookup compares hashes the caller cannot steer, so it leaks nothing useful;
    # this exact, constant-time re-check guards against lenient (e.g. case-folding) collations.
    if not hmac.compare_digest(api_key.key_hash, digest):
        return None
    return principal_of(api_key)


def revoke_api_key(session: Session, api_key_id: str, *, now: datetime | None = None) -> ApiKey:
    """Revoke a key (idempotent: a revoked key keeps its first revocation time).

    Processes that cache principals (the API) honour this within their cache TTL."""
    api_key = get_api_key(session, api_key_id)
    if api_key.revoked_at is None:
        api_key.revoked_at = now or utcnow()
        session.flush()
        log.info("revoked API key %s", api_key.id)
    return api_key


def get_api_key(session: Session, api_key_id: str) -> ApiKey:
    """The key (revoked or not); ApiKeyNotFound (404) when there is none."""
    api_key = session.get(ApiKey, api_key_id)
    if api_key is None:
        raise ApiKeyNotFound(f"No API key {api_key_id!r}.")
    return api_key


def list_api_keys(session: Session, *, include_revoked: bool = True) -> list[ApiKey]:
    return repo.list_keys(session, include_revoked=include_revoked)


def ensure_initial_admin_key(session: Session, configured: str | None) -> str | None:
    """On first start (no API key at all, revoked ones included) install an admin key.

    With `configured` (OPENOMS_ADMIN_KEY) that key is installed and None returned; otherwise
    one is generated and its plaintext returned for the caller to print once. When any key
    exists this does nothing and returns None."""
    repo.lock_key_table(session)  # two processes starting at once must not both install one
    if repo.any_key(session):
        if configured is not None and authenticate(session, configured) is None:
            log.warning("OPENOMS_ADMIN_KEY is set but API keys already exist; it was not installed")
        return None
    if configured is not None:
        if len(configured) < SHORT_KEY_WARNING:
            log.warning("OPENOMS_ADMIN_KEY is shorter than %d characters", SHORT_KEY_WARNING)
        api_key, _ = create_api_key(
            session,
            name="Initial admin key (OPENOMS_ADMIN_KEY)",
            scopes=[Scope.ADMIN],
            secret=configured,
        )
        log.info("installed OPENOMS_ADMIN_KEY as admin key %s", api_key.id)
        return None
    api_key, plaintext = create_api_key(session, name="Initial admin key", scopes=[Scope.ADMIN])
    log.info("generated the initial admin key %s", api_key.id)
    return plaintext
