"""Settings read from the environment (OPENOMS_*), with embedded defaults."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

DEFAULT_SQLITE_PATH = Path("var") / "openoms.db"
MAX_BODY_BYTES = 1 << 20  # 1 MiB: every JSON request body
MAX_IMPORT_BYTES = 256 << 20  # 256 MiB: an inventory import file


@dataclass(frozen=True, slots=True)
class Settings:
    database_url: str
    admin_key: str | None
    worker_poll_seconds: float = 0.5
    max_body_bytes: int = MAX_BODY_BYTES
    max_import_bytes: int = MAX_IMPORT_BYTES

    @classmethod
    def from_env(cls) -> Settings:
        url = os.environ.get("OPENOMS_DATABASE_URL") or f"sqlite:///{DEFAULT_SQLITE_PATH}"
        return cls(
            database_url=normalise_database_url(url),
            admin_key=os.environ.get("OPENOMS_ADMIN_KEY") or None,
            worker_poll_seconds=float(os.environ.get("OPENOMS_WORKER_POLL_SECONDS", "0.5")),
            max_body_bytes=int(os.environ.get("OPENOMS_MAX_BODY_BYTES", MAX_BODY_BYTES)),
            max_import_bytes=int(os.environ.get("OPENOMS_MAX_IMPORT_BYTES", MAX_IMPORT_BYTES)),
        )


def normalise_database_url(url: str) -> str:
    """Accept plain postgresql:// URLs and use the psycopg 3 driver for them."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url
