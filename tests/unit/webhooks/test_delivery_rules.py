"""The pure webhook rules (domain/webhooks.py): the retry schedule and its override,
Retry-After, which addresses are refused, the ordering rule, and when an endpoint is given
up on."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from openoms.domain.webhooks import (
    DEFAULT_SCHEDULE,
    WebhookUrlForbidden,
    WebhookUrlInvalid,
    address_is_public,
    check_target,
    may_send,
    parse_retry_after,
    parse_schedule,
    retry_delay,
    should_disable,
    split_url,
)
from openoms.services.webhooks import WebhookSettings, check_url

NOW = datetime(2026, 12, 7, 12, 0, 0, tzinfo=UTC)


def test_the_default_schedule_is_the_documented_one() -> None:
    assert DEFAULT_SCHEDULE == (0, 5, 300, 1800, 7200, 18000, 36000, 36000)


def test_each_failed_attempt_waits_its_step_with_up_to_ten_percent_jitter() -> None:
    assert retry_delay(DEFAULT_SCHEDULE, 1, 0.0) == timedelta(seconds=5)
    assert retry_delay(DEFAULT_SCHEDULE, 2, 0.5) == timedelta(seconds=315)
    assert retry_delay(DEFAULT_SCHEDULE, 7, 0.999) == timedelta(seconds=36000 * 1.0999)
    assert retry_delay(DEFAULT_SCHEDULE, 8, 0.0) is None  # eight attempts made: failed


@pytest.mark.parametrize(
    ("text", "parsed"),
    [("0,0.5,2", (0.0, 0.5, 2.0)), (" 1 , 2 ", (1.0, 2.0)), ("0", (0.0,))],
)
def test_a_schedule_override_is_comma_separated_seconds(
    text: str, parsed: tuple[float, ...]
) -> None:
    assert parse_schedule(text) == parsed


@pytest.mark.parametrize("text", ["", "a,b", "1,,2", "-1", "1,nan", "inf"])
def test_a_bad_schedule_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="retry schedule"):
        parse_schedule(text)


def test_settings_come_from_the_environment_and_bad_ones_are_named() -> None:
    settings = WebhookSettings.from_env(
        {
            "OPENOMS_WEBHOOK_RETRY_SCHEDULE": "0,1",
            "OPENOMS_WEBHOOK_ALLOW_PRIVATE": "true",
            "OPENOMS_WEBHOOK_RETENTION_DAYS": "7",
        }
    )
    assert settings == WebhookSettings((0.0, 1.0), True, timedelta(days=7))
    assert WebhookSettings.from_env({}) == WebhookSettings(DEFAULT_SCHEDULE, False, timedelta(30))
    for name, value in [
        ("OPENOMS_WEBHOOK_RETRY_SCHEDULE", "x"),
        ("OPENOMS_WEBHOOK_ALLOW_PRIVATE", "maybe"),
        ("OPENOMS_WEBHOOK_RETENTION_DAYS", "0"),
    ]:
        with pytest.raises(ValueError, match=name):
            WebhookSettings.from_env({name: value})


@pytest.mark.parametrize(
    ("header", "delay"),
    [
        ("120", timedelta(seconds=120)),
        ("0", timedelta(0)),
        ("Mon, 07 Dec 2026 12:01:30 GMT", timedelta(seconds=90)),
        ("Mon, 07 Dec 2026 11:00:00 GMT", timedelta(0)),  # in the past: at once
        ("999999", timedelta(hours=24)),  # capped
        ("soon", None),
        ("", None),
        (None, None),
        ("-5", None),
    ],
)
def test_retry_after_is_seconds_or_an_http_date(
    header: str | None, delay: timedelta | None
) -> None:
    assert parse_retry_after(header, NOW) == delay


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("93.184.215.14", True),
        ("2606:4700::1111", True),
        ("127.0.0.1", False),
        ("10.0.0.1", False),
        ("172.16.5.4", False),
        ("192.168.0.1", False),
        ("169.254.169.254", False),
        ("100.64.0.1", False),  # shared address space (carrier-grade NAT)
        ("0.0.0.0", False),
        ("224.0.0.1", False),
        ("::1", False),
        ("fe80::1%eth0", False),
        ("fc00::1", False),
        ("::ffff:127.0.0.1", False),  # IPv4-mapped loopback
        ("::ffff:93.184.215.14", True),
        ("2002:c0a8:0101::1", False),  # 6to4 around 192.168.1.1
    ],
)
def test_only_global_unicast_addresses_are_public(address: str, public: bool) -> None:
    assert address_is_public(address) is public


def test_a_name_is_refused_when_any_of_its_addresses_is_private() -> None:
    check_target("hooks.example.com", ["93.184.215.14"])
    with pytest.raises(WebhookUrlForbidden, match=r"non-public address \(10\.0\.0\.1\)"):
        check_target("hooks.example.com", ["93.184.215.14", "10.0.0.1"])
    with pytest.raises(WebhookUrlForbidden, match="resolves to no address"):
        check_target("hooks.example.com", [])


def test_urls_are_split_and_checked_before_any_lookup() -> None:
    assert split_url("https://hooks.example.com/x") == ("https", "hooks.example.com", 443)
    assert split_url("http://hooks.example.com:8080/x") == ("http", "hooks.example.com", 8080)
    for bad in ["file:///etc/passwd", "https:///x", "http://h:99999/", "javascript:alert(1)"]:
        with pytest.raises(WebhookUrlInvalid):
            split_url(bad)
    looked_up: list[str] = []

    def resolver(host: str, port: int) -> list[str]:
        looked_up.append(host)
        return {"private.example.com": ["192.168.1.5"]}.get(host, [])

    with pytest.raises(WebhookUrlForbidden):
        check_url("https://private.example.com/", allow_private=False, resolver=resolver)
    check_url("https://unknown.example.com/", allow_private=False, resolver=resolver)
    check_url("http://127.0.0.1/", allow_private=True, resolver=resolver)
    assert looked_up == ["private.example.com", "unknown.example.com"]


def test_an_event_waits_only_for_earlier_unfinished_events_of_its_order() -> None:
    assert may_send(5, [])
    assert may_send(5, [7, 9])  # later events never hold an earlier one
    assert not may_send(5, [3])
    assert not may_send(5, [7, 4])


def test_an_endpoint_is_given_up_on_after_five_days_of_failures() -> None:
    assert not should_disable(None, NOW)
    assert not should_disable(NOW - timedelta(days=5) + timedelta(seconds=1), NOW)
    assert should_disable(NOW - timedelta(days=5), NOW)
