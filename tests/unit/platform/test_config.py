"""Settings from the environment: the rate limit (OPENOMS_RATE_LIMIT_PER_MINUTE and
OPENOMS_RATE_LIMIT_BURST) with its defaults, and a clear refusal of a bad value."""

from __future__ import annotations

import pytest

from openoms.api.ratelimit import RateLimit
from openoms.config import (
    DEFAULT_RATE_LIMIT_BURST,
    DEFAULT_RATE_LIMIT_PER_MINUTE,
    Settings,
    SettingsInvalid,
)


def test_the_rate_limit_defaults_to_one_no_storefront_meets() -> None:
    settings = Settings.from_env({})
    assert (settings.rate_limit_per_minute, settings.rate_limit_burst) == (3000, 500)
    assert (DEFAULT_RATE_LIMIT_PER_MINUTE, DEFAULT_RATE_LIMIT_BURST) == (3000, 500)
    assert settings.rate_limit == RateLimit(per_minute=3000, burst=500)


def test_the_rate_limit_is_configured_and_zero_turns_it_off() -> None:
    env = {"OPENOMS_RATE_LIMIT_PER_MINUTE": "120", "OPENOMS_RATE_LIMIT_BURST": "10"}
    assert Settings.from_env(env).rate_limit == RateLimit(per_minute=120, burst=10)
    off = Settings.from_env({"OPENOMS_RATE_LIMIT_PER_MINUTE": "0"}).rate_limit
    assert (off.enabled, off.per_minute) == (False, 0)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("OPENOMS_RATE_LIMIT_PER_MINUTE", "lots"),
        ("OPENOMS_RATE_LIMIT_PER_MINUTE", "-1"),
        ("OPENOMS_RATE_LIMIT_BURST", "2.5"),
    ],
)
def test_a_bad_rate_limit_is_refused_by_name(name: str, value: str) -> None:
    with pytest.raises(SettingsInvalid) as caught:
        Settings.from_env({name: value})
    assert str(caught.value) == f"{name} must be a whole number of 0 or more, not {value!r}"
