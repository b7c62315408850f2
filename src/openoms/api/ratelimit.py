"""Per-key rate limiting: a token bucket per API key, in process memory.

Each key may send `burst` requests at once and `per_minute` a minute after that; the bucket
refills continuously. Over the limit a request is refused before it does anything: 429
`rate_limited` with `Retry-After` (whole seconds until one request is allowed again).
Admin keys are never limited, and `per_minute` 0 turns limiting off. Buckets live in each
API process, so N processes (`openoms serve --workers N`, or servers behind a balancer) allow
up to N times the limit per key; that is the price of needing no shared store (a database
row per key would add a write, and a hot row, to every request), and the limit is a guard
against a runaway or stolen key, not a billing meter. Dividing the limit by N instead would
cut a client that keeps one connection, and so one process, to a fraction of its limit.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable

from openoms.config import RateLimit
from openoms.domain.errors import DomainError
from openoms.services.access import Principal, Scope

# Buckets kept (least recently used go first: a forgotten key starts with a full bucket).
MAX_BUCKETS = 65536


class RateLimited(DomainError):
    """Too many requests with one API key; `retry_after` says how many seconds to wait."""

    code = "rate_limited"
    status = 429
    title = "Too many requests"


__all__ = ["RateLimit", "RateLimited", "RateLimiter"]


class RateLimiter:
    """Token buckets by API key id. Thread-safe; `clock` is injectable (seconds, monotonic)."""

    def __init__(
        self,
        limit: RateLimit,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_buckets: int = MAX_BUCKETS,
    ) -> None:
        self.limit = limit
        self._clock = clock
        self._max = max_buckets
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # tokens, at
        self._lock = threading.Lock()

    def check(self, principal: Principal) -> None:
        """Take one request from the key's bucket, or raise RateLimited."""
        if not self.limit.enabled or Scope.ADMIN in principal.scopes:
            return
        wait = self._take(principal.api_key_id)
        if wait is not None:
            retry_after = max(1, math.ceil(wait))
            raise RateLimited(
                f"This API key sent more than {self.limit.per_minute} requests a minute "
                f"(bursts of {self.limit.capacity}); retry in {retry_after} s.",
                retry_after=retry_after,
            )

    def _take(self, key_id: str) -> float | None:
        """None when a token was taken, else the seconds until one is there."""
        rate = self.limit.per_minute / 60.0
        capacity = float(self.limit.capacity)
        with self._lock:
            now = self._clock()
            tokens, at = self._buckets.pop(key_id, (capacity, now))
            tokens = min(capacity, tokens + (now - at) * rate)
            taken = tokens >= 1.0
            self._buckets[key_id] = (tokens - 1.0 if taken else tokens, now)
            while len(self._buckets) > self._max:
                self._buckets.popitem(last=False)
        return None if taken else (1.0 - tokens) / rate
