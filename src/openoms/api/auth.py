"""Bearer API keys on every request: `Depends(require_scope(Scope.X))` gives a `Principal`.

Authentication runs on every request, so principals are cached in-process by key hash for a
few seconds (`PrincipalCache`, on `app.state`): a revoked key stops working within that TTL.
Unknown keys are not cached, so a new key works at once.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from openoms.adapters.db.session import Database
from openoms.api.deps import app_db
from openoms.api.errors import domain_problem
from openoms.domain.errors import Forbidden, Unauthenticated
from openoms.services import keys
from openoms.services.keys import Principal, Scope

CACHE_TTL_SECONDS = 5.0
CACHE_MAX_SIZE = 4096

_bearer = HTTPBearer(
    auto_error=False,
    bearerFormat="API key",
    description="An openoms API key: `Authorization: Bearer <key>`.",
)


class PrincipalCache:
    """A small TTL cache of key hash → Principal, bounded (oldest entries go first)."""

    def __init__(
        self,
        *,
        ttl: float = CACHE_TTL_SECONDS,
        max_size: int = CACHE_MAX_SIZE,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl = ttl
        self.max_size = max_size
        self._clock = clock
        self._entries: OrderedDict[str, tuple[float, Principal]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key_hash: str) -> Principal | None:
        with self._lock:
            entry = self._entries.get(key_hash)
            if entry is None:
                return None
            expires_at, principal = entry
            if self._clock() >= expires_at:
                del self._entries[key_hash]
                return None
            return principal

    def put(self, key_hash: str, principal: Principal) -> None:
        with self._lock:
            self._entries.pop(key_hash, None)
            self._entries[key_hash] = (self._clock() + self.ttl, principal)
            while len(self._entries) > self.max_size:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        """Forget everything (e.g. after revoking a key through this process)."""
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)


def principal_cache(app: FastAPI) -> PrincipalCache:
    """The app's cache, created on first use (tests may set `app.state.principal_cache`)."""
    cache: PrincipalCache | None = getattr(app.state, "principal_cache", None)
    if cache is None:
        cache = app.state.principal_cache = PrincipalCache()
    return cache


def require_scope(*scopes: Scope) -> Callable[..., Awaitable[Principal]]:
    """A dependency: the caller's `Principal`, holding at least one of `scopes` (admin holds
    all; no scopes means any valid key). Missing, malformed, unknown or revoked key → 401
    `unauthenticated`; a key without the scope → 403 `forbidden` naming the scopes needed."""
    required = tuple(scopes)
    names = " or ".join(f"'{scope.value}'" for scope in required)

    async def authenticated(
        request: Request,
        credentials: HTTPAuthorizationCredentials | None = Depends(_bearer),
    ) -> Principal:
        if credentials is None:
            raise Unauthenticated("Send an API key as 'Authorization: Bearer <key>'.")
        principal = await _principal_for(request, credentials.credentials)
        if principal is None:
            raise Unauthenticated("The API key is malformed, unknown or revoked.")
        if not principal.allows(*required):
            raise Forbidden(
                f"This action needs an API key with the {names} scope.",
                required_scopes=[scope.value for scope in required],
            )
        # get_db answers this caller's view of the database (its channels only).
        request.state.principal = principal
        return principal

    return authenticated


async def _principal_for(request: Request, presented: str) -> Principal | None:
    if not keys.is_plausible_key(presented):
        return None
    digest = keys.hash_key(presented)
    cache = principal_cache(request.app)
    principal = cache.get(digest)
    if principal is None:
        # The database is taken here rather than declared with Depends so a cache hit costs
        # no threadpool hop and no database work.
        principal = await run_in_threadpool(_authenticate, app_db(request), presented)
        if principal is not None:
            cache.put(digest, principal)
    return principal


def _authenticate(db: Database, presented: str) -> Principal | None:
    with db.reading() as session:
        return keys.authenticate(session, presented)


def install_auth(app: FastAPI) -> None:
    """Answer 401s with `WWW-Authenticate: Bearer` (call after `install_error_handlers`;
    Starlette picks the most specific handler, so order does not actually matter)."""

    @app.exception_handler(Unauthenticated)
    async def _unauthenticated(_request: Request, exc: Unauthenticated) -> JSONResponse:
        response = domain_problem(exc)
        response.headers["WWW-Authenticate"] = "Bearer"
        return response
