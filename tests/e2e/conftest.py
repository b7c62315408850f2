"""The end-to-end tests start real servers and CLI processes: they get half as long again
as the suite's default timeout (pyproject.toml) before a hang is called a hang. Each test's
outcome is kept on its item (`rep_call`), so a browser test's page can be screenshot when it
failed (tests/e2e/browser.py)."""

from __future__ import annotations

from collections.abc import Generator

import pytest

E2E_TIMEOUT_SECONDS = 900


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.get_closest_marker("e2e") and not item.get_closest_marker("timeout"):
            item.add_marker(pytest.mark.timeout(E2E_TIMEOUT_SECONDS))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report
