"""The webhook settings a process reads from its environment (OPENOMS_WEBHOOK_*)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta

from openoms.domain.webhooks import DEFAULT_SCHEDULE, parse_schedule

DEFAULT_RETENTION_DAYS = 30


@dataclass(frozen=True, slots=True)
class WebhookSettings:
    """`schedule`: seconds before each attempt (OPENOMS_WEBHOOK_RETRY_SCHEDULE);
    `allow_private`: send to loopback and private addresses (OPENOMS_WEBHOOK_ALLOW_PRIVATE,
    for tests and on-premise receivers); `retention`: how long delivery rows are kept
    (OPENOMS_WEBHOOK_RETENTION_DAYS)."""

    schedule: tuple[float, ...] = DEFAULT_SCHEDULE
    allow_private: bool = False
    retention: timedelta = timedelta(days=DEFAULT_RETENTION_DAYS)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> WebhookSettings:
        """The settings in `environ` (default: this process's); ValueError naming a bad one."""
        env = os.environ if environ is None else environ
        text = env.get("OPENOMS_WEBHOOK_RETRY_SCHEDULE", "").strip()
        try:
            schedule = parse_schedule(text) if text else DEFAULT_SCHEDULE
        except ValueError as exc:
            raise ValueError(f"OPENOMS_WEBHOOK_RETRY_SCHEDULE: {exc}") from None
        allow = env.get("OPENOMS_WEBHOOK_ALLOW_PRIVATE", "false").strip().lower()
        if allow not in ("true", "false", "1", "0", ""):
            raise ValueError(f"OPENOMS_WEBHOOK_ALLOW_PRIVATE must be true or false, not {allow!r}")
        days = env.get("OPENOMS_WEBHOOK_RETENTION_DAYS", "").strip() or str(DEFAULT_RETENTION_DAYS)
        if not days.isdigit() or int(days) < 1:
            raise ValueError(
                f"OPENOMS_WEBHOOK_RETENTION_DAYS must be a whole number of days, 1 or more, "
                f"not {days!r}"
            )
        return cls(
            schedule=schedule,
            allow_private=allow in ("true", "1"),
            retention=timedelta(days=int(days)),
        )
