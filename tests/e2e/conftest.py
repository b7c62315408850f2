"""The end-to-end tests start real servers and CLI processes: they get half as long again
as the suite's default timeout (pyproject.toml) before a hang is called a hang."""

from __future__ import annotations

import pytest

E2E_TIMEOUT_SECONDS = 900


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.get_closest_marker("e2e") and not item.get_closest_marker("timeout"):
            item.add_marker(pytest.mark.timeout(E2E_TIMEOUT_SECONDS))
