"""The NATS server and a stream of the test's own, for the event stream tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.nats_stream import NATS_URL, delete_stream, nats_unreachable, unique_stream_name


@pytest.fixture
def nats_url() -> str:
    """The NATS JetStream server's URL. Unreachable, the test is skipped and says why (it
    is reachable on the development machine and in CI, where these tests run)."""
    reason = nats_unreachable(NATS_URL)
    if reason:
        pytest.skip(reason)
    return NATS_URL


@pytest.fixture
def stream_name(nats_url: str) -> Iterator[str]:
    """A stream name no other test uses (subjects `<name lower-cased>.>`), deleted after."""
    name = unique_stream_name()
    yield name
    delete_stream(nats_url, name)
