"""Settings read from the environment (OPENOMS_*), with embedded defaults."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

DEFAULT_SQLITE_PATH = Path("var") / "openoms.db"


@dataclass(frozen=True, slots=True)
class Settings:
    database_url: str
    admin_key: str | None
    worker_poll_seconds: float = 0.5

    @classmethod
    def from_env(cls) -> Settings:
        url = os.environ.get("OPENOMS_DATABASE_URL") or f"sqlite:///{DEFAULT_SQLITE_PATH}"
        return cls(
            database_url=normalise_database_url(url),
            admin_key=os.environ.get("OPENOMS_ADMIN_KEY") or None,
            worker_poll_seconds=float(os.environ.get("OPENOMS_WORKER_POLL_SECONDS", "0.5")),
        )


def normalise_database_url(url: str) -> str:
    """Accept plain postgresql:// URLs and use the psycopg 3 driver for them."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url
