"""Settings read from the environment (OPENOMS_*), with embedded defaults."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

DEFAULT_SQLITE_PATH = Path("var") / "openoms.db"
MAX_BODY_BYTES = 1 << 20  # 1 MiB: every JSON request body
MAX_IMPORT_BYTES = 256 << 20  # 256 MiB: an inventory import file
# Per non-admin API key: 50 requests a second sustained, 500 at once. A storefront sends an
# order and reads a few statuses per checkout; it would need 3000 a minute, every minute, to
# meet this. A runaway script or a stolen key meets it in seconds.
DEFAULT_RATE_LIMIT_PER_MINUTE = 3000
DEFAULT_RATE_LIMIT_BURST = 500
DEFAULT_EVENT_STREAM_NAME = "OPENOMS"
# A JetStream stream name that is also one subject token once lower-cased (no dots,
# wildcards, spaces or path separators): the stream's subjects are `<name lower-cased>.>`.
_STREAM_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
_STREAM_SCHEMES = ("nats://", "tls://")


class SettingsInvalid(ValueError):
    """An OPENOMS_* variable that cannot be used; the message names it."""


@dataclass(frozen=True, slots=True)
class RateLimit:
    """`per_minute` requests a minute per API key after a `burst`; 0 per minute: no limit."""

    per_minute: int = 0
    burst: int = 0

    def __post_init__(self) -> None:
        if self.per_minute < 0 or self.burst < 0:
            raise ValueError("rate limits are whole numbers of 0 or more")

    @property
    def enabled(self) -> bool:
        return self.per_minute > 0

    @property
    def capacity(self) -> int:
        """The bucket's size: the burst, and at least one request."""
        return max(self.burst, 1)


@dataclass(frozen=True, slots=True)
class Settings:
    database_url: str
    admin_key: str | None
    worker_poll_seconds: float = 0.5
    rate_limit_per_minute: int = DEFAULT_RATE_LIMIT_PER_MINUTE
    rate_limit_burst: int = DEFAULT_RATE_LIMIT_BURST
    max_body_bytes: int = MAX_BODY_BYTES
    max_import_bytes: int = MAX_IMPORT_BYTES
    # NATS server URL(s), comma-separated: every event is also published to JetStream.
    event_stream_url: str | None = None
    event_stream_name: str = DEFAULT_EVENT_STREAM_NAME

    @property
    def rate_limit(self) -> RateLimit:
        return RateLimit(per_minute=self.rate_limit_per_minute, burst=self.rate_limit_burst)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """The settings in `environ` (default: this process's environment)."""
        env = os.environ if environ is None else environ
        url = env.get("OPENOMS_DATABASE_URL") or f"sqlite:///{DEFAULT_SQLITE_PATH}"
        return cls(
            database_url=normalise_database_url(url),
            admin_key=env.get("OPENOMS_ADMIN_KEY") or None,
            worker_poll_seconds=float(env.get("OPENOMS_WORKER_POLL_SECONDS", "0.5")),
            rate_limit_per_minute=_count(
                env, "OPENOMS_RATE_LIMIT_PER_MINUTE", DEFAULT_RATE_LIMIT_PER_MINUTE
            ),
            rate_limit_burst=_count(env, "OPENOMS_RATE_LIMIT_BURST", DEFAULT_RATE_LIMIT_BURST),
            max_body_bytes=_count(env, "OPENOMS_MAX_BODY_BYTES", MAX_BODY_BYTES),
            max_import_bytes=_count(env, "OPENOMS_MAX_IMPORT_BYTES", MAX_IMPORT_BYTES),
            event_stream_url=_stream_url(env),
            event_stream_name=_stream_name(env),
        )


def _count(env: Mapping[str, str], name: str, default: int) -> int:
    value = env.get(name)
    if value is None or value == "":
        return default
    if not value.strip().isdigit():
        raise SettingsInvalid(f"{name} must be a whole number of 0 or more, not {value!r}")
    return int(value)


def _stream_url(env: Mapping[str, str]) -> str | None:
    value = (env.get("OPENOMS_EVENT_STREAM_URL") or "").strip()
    if not value:
        return None
    servers = [server.strip() for server in value.split(",")]
    if not all(s.startswith(_STREAM_SCHEMES) and s.partition("://")[2] for s in servers):
        # Never echo the value: a URL may carry a user and password.
        raise SettingsInvalid(
            "OPENOMS_EVENT_STREAM_URL must be one or more nats:// (or tls://) server URLs, "
            "separated by commas"
        )
    return ",".join(servers)


def _stream_name(env: Mapping[str, str]) -> str:
    value = env.get("OPENOMS_EVENT_STREAM_NAME") or DEFAULT_EVENT_STREAM_NAME
    if not _STREAM_NAME.fullmatch(value):
        raise SettingsInvalid(
            f"OPENOMS_EVENT_STREAM_NAME must be 1 to 64 letters, digits, '-' or '_', not {value!r}"
        )
    return value


def normalise_database_url(url: str) -> str:
    """Accept plain postgresql:// URLs and use the psycopg 3 driver for them."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url
