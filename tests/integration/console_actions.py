"""What the console's action tests share: a signed-in browser per role, posting a form with its
CSRF token, the order page's paths, a confirm form's fields, and the API's refusal sentence
as a page shows it."""

from __future__ import annotations

import re
from collections.abc import Callable
from html import unescape
from typing import Any

import httpx
from markupsafe import escape

from tests.integration.conftest import Api
from tests.integration.console_client import Browser, add_user, csrf_of
from tests.integration.service_shop import Shop

Browsers = Callable[[], Browser]


def signed_in(api: Api, console: Browsers, role: str = "agent") -> Browser:
    add_user(api.db, f"{role}@example.com", role)
    browser = console()
    assert browser.sign_in(f"{role}@example.com").status_code == 303
    return browser


def post(browser: Browser, path: str, data: dict[str, Any], *, csrf: bool = True) -> httpx.Response:
    token = {"csrf_token": browser.csrf()} if csrf else {}
    return browser.client.post(path, data={**data, **token})


def order_path(shop: Shop, action: str = "") -> str:
    return f"/console/orders/{shop.summary_id}" + (f"/{action}" if action else "")


def api_refusal(answer: httpx.Response, status: int) -> str:
    assert answer.status_code == status, answer.text
    detail: str = answer.json()["detail"]
    return str(escape(detail))


def form_of(html: str) -> dict[str, str]:
    """The confirm form's fields, as the browser would send them."""
    form = html.split('id="confirm-form"')[1].split("</form>")[0]
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', form))
    assert fields["csrf_token"] == csrf_of(html)
    return {name: unescape(value) for name, value in fields.items()}
