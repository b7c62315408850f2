"""Settings read from the environment (OPENOMS_*), with embedded defaults."""

from __future__ import annotations

import os
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
        )


def _count(env: Mapping[str, str], name: str, default: int) -> int:
    value = env.get(name)
    if value is None or value == "":
        return default
    if not value.strip().isdigit():
        raise SettingsInvalid(f"{name} must be a whole number of 0 or more, not {value!r}")
    return int(value)


def normalise_database_url(url: str) -> str:
    """Accept plain postgresql:// URLs and use the psycopg 3 driver for them."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url
