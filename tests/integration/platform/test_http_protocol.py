"""Small protocol faults (issue 11, item 9): a 405 says which methods are allowed, an
unhandled error is answered and logged once, and OpenAPI states the 404s."""

from __future__ import annotations

import logging
import re

import pytest
from fastapi.testclient import TestClient

from tests.integration.conftest import Api


def test_a_wrong_method_is_405_with_allow(api: Api) -> None:
    answer = api.client.get("/api/v1/orders", headers=api.headers())
    assert answer.status_code == 405
    assert answer.headers["allow"] == "POST"
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["code"] == "method_not_allowed"
    other = api.client.delete("/api/v1/locations/WH-1", headers=api.headers("admin"))
    assert (other.status_code, other.headers["allow"]) == (405, "GET, PUT")


def test_an_unhandled_error_is_answered_once_and_logged_once(
    api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    app = api.client.app

    def broken() -> None:
        raise RuntimeError("a bug")

    app.add_api_route("/broken", broken)  # type: ignore[attr-defined]
    caplog.set_level(logging.ERROR)
    # The test client re-raises what the app lets escape: a server would log it again.
    with TestClient(app) as client:
        answer = client.get("/broken")
    assert answer.status_code == 500
    assert answer.json() == {
        "type": "https://openoms.dev/problems/internal-error",
        "title": "Internal error",
        "status": 500,
        "detail": "An unexpected error occurred.",
        "code": "internal_error",
    }
    logged = [r for r in caplog.records if r.exc_info and r.exc_info[0] is RuntimeError]
    assert [(r.name, r.getMessage()) for r in logged] == [("openoms.api", "unhandled error")]


# A platform's webhook receiver (docs/channels.md) is authenticated by the delivery's HMAC,
# not a key, and answers a channel it does not know with the same 401 as a bad signature,
# so that an unauthenticated caller learns nothing of which channels exist.
HMAC_RECEIVERS = {"/api/v1/channels/{ref}/adapters/shopify/webhooks"}


def test_openapi_states_the_answers_every_operation_may_give(api: Api) -> None:
    # A body over its cap is 413 anywhere; a key may be missing, lack the scope or go over
    # its rate anywhere a key is needed (schemathesis reports any status not stated).
    schema = api.client.get("/openapi.json").json()
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            stated = set(operation["responses"])
            if "requestBody" in operation:
                assert "413" in stated, (method, path)
            if path.startswith("/health"):  # /health, /health/live, /health/ready
                assert not {"401", "403", "429"} & stated
            elif path in HMAC_RECEIVERS:  # no key: no scope to lack, no key's rate
                assert "401" in stated
                assert not {"403", "429"} & stated
            else:
                assert {"401", "403", "429"} <= stated, (method, path)


def test_openapi_states_the_404_of_every_route_that_names_a_resource(api: Api) -> None:
    schema = api.client.get("/openapi.json").json()
    missing = [
        f"{method.upper()} {path}"
        for path, operations in schema["paths"].items()
        for method, operation in operations.items()
        if re.search(r"\{\w+\}", path)
        and "404" not in operation["responses"]
        and path not in HMAC_RECEIVERS
    ]
    assert missing == []
