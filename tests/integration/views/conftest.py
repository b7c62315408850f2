"""The order the console's action tests work on: the §12 order captured and routed; every
test here signs people in with cheap password hashes (`cheap_passwords`)."""

from __future__ import annotations

import pytest

from openoms.adapters.db.session import Database
from tests.integration.conftest import Api
from tests.integration.service_shop import Shop, make_shop


@pytest.fixture
def shop(api: Api, stocked: Database) -> Shop:
    shop = make_shop(api)
    shop.capture()
    shop.drain()  # routed: 3× TEE-M at WH-LDN, 1× MUG at STORE-LDN
    return shop


@pytest.fixture(autouse=True)
def _cheap_passwords(cheap_passwords: None) -> None:
    """Every console test here signs people in: argon2 at its cheapest (see the fixture)."""
