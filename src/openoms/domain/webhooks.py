"""Webhook delivery rules, pure: the retry schedule, `Retry-After`, which targets are
refused (SSRF), which delivery of an order may go next, when an endpoint is given up on,
and the area's errors. No network, no clock: callers pass addresses and times in."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit

from openoms.domain.errors import DomainError, NotFound, ValidationFailed

# Seconds before each attempt: the first at once, the last about 28 h after the first.
DEFAULT_SCHEDULE: tuple[float, ...] = (0, 5, 300, 1800, 7200, 18000, 36000, 36000)
JITTER_FRACTION = 0.1  # a retry comes up to 10 % later, so failed endpoints are not hit in step
MAX_RETRY_AFTER = timedelta(hours=24)  # a receiver cannot park a delivery for longer
GIVE_UP_AFTER = timedelta(days=5)  # an endpoint failing everything this long is disabled
SECRET_OVERLAP = timedelta(hours=24)  # a rotated-out secret keeps signing this long
SCHEMES = ("http", "https")


class WebhookEndpointNotFound(NotFound):
    code = "webhook_endpoint_not_found"
    title = "Webhook endpoint not found"


class WebhookDeliveryNotFound(NotFound):
    code = "webhook_delivery_not_found"
    title = "Webhook delivery not found"


class WebhookUrlInvalid(ValidationFailed):
    """Not an absolute http(s) URL with a host."""

    code = "webhook_url_invalid"


class WebhookUrlForbidden(ValidationFailed):
    """The URL names a loopback, private, link-local or otherwise non-public address."""

    code = "webhook_url_forbidden"


class WebhookEventTypeUnknown(ValidationFailed):
    code = "webhook_event_type_unknown"


class WebhookEndpointDisabled(DomainError):
    """The endpoint is disabled: enable it (PATCH) before sending to it again."""

    code = "webhook_endpoint_disabled"
    status = 409
    title = "Webhook endpoint is disabled"


# --- the schedule ---------------------------------------------------------------------


def parse_schedule(text: str) -> tuple[float, ...]:
    """`OPENOMS_WEBHOOK_RETRY_SCHEDULE`: comma-separated seconds, each 0 or more, at least
    one (the first attempt's delay). Raises ValueError naming what is wrong."""
    parts = [p.strip() for p in text.split(",")]
    try:
        delays = tuple(float(p) for p in parts)
    except ValueError:
        raise ValueError(f"retry schedule {text!r}: comma-separated seconds expected") from None
    if not delays or any(d < 0 or d != d or d == float("inf") for d in delays):
        raise ValueError(f"retry schedule {text!r}: every delay must be 0 or more seconds")
    return delays


def retry_delay(schedule: Sequence[float], attempts_made: int, jitter: float) -> timedelta | None:
    """How long after failed attempt number `attempts_made` (1 for the first) to try again,
    stretched by up to JITTER_FRACTION (`jitter` in [0, 1)); None when the schedule is
    used up (the delivery has failed for good)."""
    if attempts_made >= len(schedule):
        return None
    seconds = schedule[attempts_made] * (1 + JITTER_FRACTION * jitter)
    return timedelta(seconds=seconds)


def parse_retry_after(value: str | None, now: datetime) -> timedelta | None:
    """A `Retry-After` header as a delay: delta-seconds or an HTTP date; None when absent or
    unreadable. Never negative, never more than MAX_RETRY_AFTER."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    if text.isdigit():
        delay = timedelta(seconds=int(text))
    else:
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        delay = when - now
    return min(max(delay, timedelta(0)), MAX_RETRY_AFTER)


# --- SSRF -----------------------------------------------------------------------------


def split_url(url: str) -> tuple[str, str, int]:
    """(scheme, host, port) of an absolute http(s) URL; WebhookUrlInvalid otherwise."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise WebhookUrlInvalid(f"url {url!r} is not a valid URL: {exc}", field="url") from None
    if parts.scheme not in SCHEMES:
        raise WebhookUrlInvalid(f"url {url!r}: only http and https URLs", field="url")
    if not parts.hostname:
        raise WebhookUrlInvalid(f"url {url!r} has no host", field="url")
    if parts.username is not None or parts.password is not None:
        raise WebhookUrlInvalid(f"url {url!r}: credentials in the URL are refused", field="url")
    return parts.scheme, parts.hostname, port or (443 if parts.scheme == "https" else 80)


def address_is_public(address: str) -> bool:
    """True for a globally routable unicast address; False for loopback, private,
    link-local, shared, reserved, multicast, unspecified (and IPv4 inside IPv6 as its
    IPv4 address)."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])  # drop an IPv6 zone
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if embedded is not None:
            return address_is_public(str(embedded))
    return ip.is_global and not (ip.is_multicast or ip.is_reserved or ip.is_unspecified)


def literal_address(host: str) -> str | None:
    """The host as an IP address when it is one (brackets stripped), else None."""
    try:
        return str(ipaddress.ip_address(host.strip("[]")))
    except ValueError:
        return None


def refused_addresses(addresses: Iterable[str]) -> list[str]:
    """The addresses that are not public (a name resolving to any of them is refused)."""
    return sorted({a for a in addresses if not address_is_public(a)})


def check_target(host: str, addresses: Iterable[str]) -> None:
    """Refuse a host whose addresses (its resolution, or itself when a literal) include a
    non-public one, or that resolves to nothing."""
    found = list(addresses)
    if not found:
        raise WebhookUrlForbidden(f"host {host!r} resolves to no address", field="url")
    refused = refused_addresses(found)
    if refused:
        raise WebhookUrlForbidden(
            f"host {host!r} is a non-public address ({', '.join(refused)}): loopback, private "
            "and link-local targets are refused unless OPENOMS_WEBHOOK_ALLOW_PRIVATE=true",
            field="url",
        )


# --- ordering and giving up -------------------------------------------------------------


def may_send(event_seq: int, unfinished_earlier: Iterable[int]) -> bool:
    """Per endpoint, an order's events go out in the order they happened: a delivery may be
    sent only when no delivery (or fan-out) of an earlier event of the same order is still
    unfinished. `unfinished_earlier` are those events' sequence numbers (ids)."""
    return not any(seq < event_seq for seq in unfinished_earlier)


def should_disable(failing_since: datetime | None, now: datetime) -> bool:
    """True once an endpoint has failed every attempt for GIVE_UP_AFTER."""
    return failing_since is not None and now - failing_since >= GIVE_UP_AFTER
