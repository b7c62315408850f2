"""An app over the `db` fixture, with one API key per scope; the console over the same app."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import httpx
import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient

from openoms.adapters.db.session import Database
from openoms.adapters.outbox import Outbox
from openoms.api.app import create_app
from openoms.services.access import Scope, create_api_key, people
from openoms.worker.consumers import default_registry
from tests.integration.console_client import Browser
from tests.network import stock_network


@dataclass
class Api:
    """`client` gives every POST sent without an `Idempotency-Key` a fresh one (the money and
    stock actions require one; a test about retries sends its own); `keyless` sends only
    what the test gives, for the refusals of a POST without a key."""

    client: TestClient
    keyless: TestClient
    db: Database
    keys: dict[str, str]

    def headers(self, scope: str = "storefront", **extra: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[scope]}", **extra}


@pytest.fixture
def stocked(db: Database) -> Database:
    """The `db` with the test network of tests/network.py: enough stock for the §12 order."""
    stock_network(db)
    return db


@pytest.fixture
def api(db: Database) -> Iterator[Api]:
    keys = {}
    with db.transaction() as session:
        for scope in Scope:
            _, plaintext = create_api_key(session, name=f"test {scope}", scopes=[scope])
            keys[str(scope)] = plaintext
    app = create_app(db, Outbox(default_registry()))
    with TestClient(app) as client, TestClient(app) as keyless:
        client.event_hooks = {"request": [fresh_idempotency_key]}
        yield Api(client=client, keyless=keyless, db=db, keys=keys)


def fresh_idempotency_key(request: httpx.Request) -> None:
    """A new `Idempotency-Key` on a POST that has none (an httpx request hook)."""
    if request.method == "POST" and "Idempotency-Key" not in request.headers:
        request.headers["Idempotency-Key"] = f"test-{uuid.uuid4().hex}"


@pytest.fixture
def console(api: Api) -> Iterator[Callable[[], Browser]]:
    """Make browsers (each with its own cookies) on the `api` fixture's app."""
    clients: list[TestClient] = []

    def browser() -> Browser:
        client = TestClient(api.client.app, follow_redirects=False)
        clients.append(client)
        return Browser(client)

    yield browser
    for client in clients:
        client.close()


@pytest.fixture
def cheap_passwords(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Console passwords hashed and checked with argon2id at its cheapest for the test:
    argon2's defaults (3 passes over 64 MiB) cost 0.1-0.5 s a hash or a check on this
    2-core machine, and the console's tests sign several people in each. What the sign-in
    does with a hash is the same; tests/integration/access/test_console_users.py checks
    the real settings (and the rehash of weaker ones) without this fixture."""
    cheap = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    monkeypatch.setattr(people, "PasswordHasher", lambda: cheap)
    people.password_hasher.cache_clear()  # built again, cheap, on first use
    people._decoy_hash.cache_clear()
    assert people.password_hasher() is cheap
    yield
    people.password_hasher.cache_clear()  # the real one again once monkeypatch undoes
    people._decoy_hash.cache_clear()
