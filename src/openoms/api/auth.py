"""Bearer API keys on every request: `Depends(require_scope(Scope.X))` gives a `Principal`.

Authentication runs on every request, so this process remembers, by key hash, for a few
seconds (state on `app.state`, clock injectable):
- the principal of a good key (`PrincipalCache`, CACHE_TTL_SECONDS): a key revoked through
  the key API of this process stops at once (`key_revoked`); one revoked elsewhere (the CLI,
  another API process) stops within that TTL;
- that a presented key is unknown or revoked (the miss cache, MISS_TTL_SECONDS), so repeated
  guesses do not each reach the database. A key created through the key API of this process
  works at once (`key_created` forgets every miss); only a key that was presented before it
  existed, and was created elsewhere, waits out that TTL.
Both caches are bounded (least recently stored go first). Each authenticated request then
takes a token from its key's rate limit bucket (api/ratelimit.py) before its scope is
checked.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from openoms.adapters.db.session import Database
from openoms.api.deps import app_db
from openoms.api.errors import domain_problem
from openoms.api.ratelimit import RateLimit, RateLimited, RateLimiter
from openoms.domain.errors import Forbidden, Unauthenticated
from openoms.services import access as keys
from openoms.services.access import Principal, Scope

CACHE_TTL_SECONDS = 5.0
CACHE_MAX_SIZE = 4096
MISS_TTL_SECONDS = 5.0
MISS_MAX_SIZE = 16384

V = TypeVar("V")
Clock = Callable[[], float]

_bearer = HTTPBearer(
    auto_error=False,
    bearerFormat="API key",
    description="An openoms API key: `Authorization: Bearer <key>`.",
)


class TtlCache(Generic[V]):
    """A small TTL cache by key hash, bounded (oldest entries go first)."""

    def __init__(
        self,
        *,
        ttl: float = CACHE_TTL_SECONDS,
        max_size: int = CACHE_MAX_SIZE,
        clock: Clock = time.monotonic,
    ) -> None:
        self.ttl = ttl
        self.max_size = max_size
        self._clock = clock
        self._entries: OrderedDict[str, tuple[float, V]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key_hash: str) -> V | None:
        with self._lock:
            entry = self._entries.get(key_hash)
            if entry is None:
                return None
            expires_at, value = entry
            if self._clock() >= expires_at:
                del self._entries[key_hash]
                return None
            return value

    def put(self, key_hash: str, value: V) -> None:
        with self._lock:
            self._entries.pop(key_hash, None)
            self._entries[key_hash] = (self._clock() + self.ttl, value)
            while len(self._entries) > self.max_size:
                self._entries.popitem(last=False)

    def pop(self, key_hash: str) -> None:
        with self._lock:
            self._entries.pop(key_hash, None)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)


PrincipalCache = TtlCache[Principal]


def principal_cache(app: FastAPI) -> TtlCache[Principal]:
    """The app's principals by key hash (set by `install_auth`; tests may replace it)."""
    cache: TtlCache[Principal] = app.state.principal_cache
    return cache


def miss_cache(app: FastAPI) -> TtlCache[bool]:
    """The app's unknown or revoked key hashes (set by `install_auth`)."""
    cache: TtlCache[bool] = app.state.key_misses
    return cache


def rate_limiter(app: FastAPI) -> RateLimiter:
    """The app's rate limiter (set by `install_auth`)."""
    limiter: RateLimiter = app.state.rate_limiter
    return limiter


def key_created(app: FastAPI) -> None:
    """A key was created in this process: forget every miss, so it works at once even if
    someone presented it before it existed."""
    miss_cache(app).clear()


def key_revoked(app: FastAPI, key_hash: str) -> None:
    """A key was revoked in this process: it stops on the very next request."""
    principal_cache(app).pop(key_hash)
    miss_cache(app).put(key_hash, True)


async def current_principal(
    request: Request,
    credentials: HTTPAuthorizationCredentials | None = Depends(_bearer),
) -> Principal:
    """The caller's `Principal` (once per request, however many dependencies ask), after
    its rate limit. Missing, malformed, unknown or revoked key → 401 `unauthenticated`;
    over the limit → 429 `rate_limited`."""
    if credentials is None:
        raise Unauthenticated("Send an API key as 'Authorization: Bearer <key>'.")
    principal = await _principal_for(request, credentials.credentials)
    if principal is None:
        raise Unauthenticated("The API key is malformed, unknown or revoked.")
    rate_limiter(request.app).check(principal)
    # get_db answers this caller's view of the database (its channels only).
    request.state.principal = principal
    return principal


def require_scope(*scopes: Scope) -> Callable[..., Awaitable[Principal]]:
    """A dependency: the caller's `Principal`, holding at least one of `scopes` (admin holds
    all; no scopes means any valid key). Missing, malformed, unknown or revoked key → 401
    `unauthenticated`; over its rate limit → 429 `rate_limited`; a key without the scope →
    403 `forbidden` naming the scopes needed."""
    required = tuple(scopes)
    names = " or ".join(f"'{scope.value}'" for scope in required)

    async def authorized(principal: Principal = Depends(current_principal)) -> Principal:
        if not principal.allows(*required):
            raise Forbidden(
                f"This action needs an API key with the {names} scope.",
                required_scopes=[scope.value for scope in required],
            )
        return principal

    return authorized


async def _principal_for(request: Request, presented: str) -> Principal | None:
    if not keys.is_plausible_key(presented):
        return None
    digest = keys.hash_key(presented)
    principal = principal_cache(request.app).get(digest)
    if principal is not None:
        return principal
    misses = miss_cache(request.app)
    if misses.get(digest):
        return None
    # The database is taken here rather than declared with Depends so a cache hit costs
    # no threadpool hop and no database work.
    principal = await run_in_threadpool(_authenticate, app_db(request), presented)
    if principal is None:
        misses.put(digest, True)
    else:
        principal_cache(request.app).put(digest, principal)
    return principal


def _authenticate(db: Database, presented: str) -> Principal | None:
    with db.reading() as session:
        return keys.authenticate(session, presented)


def install_auth(
    app: FastAPI, *, rate_limit: RateLimit | None = None, clock: Clock = time.monotonic
) -> None:
    """The caches and rate limiter on `app.state` (no `rate_limit`: none), and the answers
    to 401s (`WWW-Authenticate: Bearer`) and 429s (`Retry-After`). Call after
    `install_error_handlers` (Starlette picks the most specific handler, so order does not
    actually matter)."""
    app.state.principal_cache = TtlCache[Principal](clock=clock)
    app.state.key_misses = TtlCache[bool](ttl=MISS_TTL_SECONDS, max_size=MISS_MAX_SIZE, clock=clock)
    app.state.rate_limiter = RateLimiter(rate_limit or RateLimit(), clock=clock)

    @app.exception_handler(Unauthenticated)
    async def _unauthenticated(_request: Request, exc: Unauthenticated) -> JSONResponse:
        response = domain_problem(exc)
        response.headers["WWW-Authenticate"] = "Bearer"
        return response

    @app.exception_handler(RateLimited)
    async def _rate_limited(_request: Request, exc: RateLimited) -> JSONResponse:
        response = domain_problem(exc)
        response.headers["Retry-After"] = str(exc.extra["retry_after"])
        return response
