"""Debian's Chromium driven by Playwright for the console's browser tests.

Playwright's own browser download is never used (it would fetch a browser build from
outside the package registries): `make test` installs Debian's `chromium` with apt when it
is missing, and these flags keep it off the network. A test that fails leaves a screenshot
of its page in test-artifacts/ (tests/e2e/conftest.py records the outcome)."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from tests.e2e.common import OPENOMS, cli_env
from tests.e2e.servers import Server

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


@contextmanager
def chromium() -> Iterator[Browser]:
    assert Path(CHROMIUM).exists(), f"{CHROMIUM} is missing: `make test` installs it (apt)"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


@contextmanager
def page_for(browser: Browser, base_url: str, request: pytest.FixtureRequest) -> Iterator[Page]:
    """A fresh browser context (its own cookies) and page; a screenshot when the test failed."""
    context = browser.new_context(base_url=base_url, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(30_000)
    page = context.new_page()
    try:
        yield page
    finally:
        report = getattr(request.node, "rep_call", None)
        if report is not None and report.failed:
            ARTIFACTS.mkdir(exist_ok=True)
            name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.nodeid)
            page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
        context.close()


# The password the browser tests give the console users they create.
PASSWORD = "a long browser password"


def sign_in(page: Page, email: str) -> None:
    """Sign in as `email` (with PASSWORD) through the form a signed-out visitor is sent to."""
    page.goto("/console/orders")  # not signed in: the sign-in form, then back here
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()


def create_users(server: Server, *users: tuple[str, ...]) -> None:
    """Console users with PASSWORD, as an admin makes them (`openoms users create EMAIL
    --role ROLE [options] --password-stdin`), all at once: (email, role, *options) each."""
    running = [
        subprocess.Popen(
            [str(OPENOMS), "users", "create", email, "--role", role, *options, "--password-stdin"],
            env=cli_env(server.database_url),
            cwd=server.stdout_path.parent,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for email, role, *options in users
    ]
    for process in running:
        _, err = process.communicate(PASSWORD + "\n", timeout=120)
        assert process.returncode == 0, err
