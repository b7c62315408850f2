"""Channel policy (DESIGN.md §12): where a channel's orders reserve and route, and what a
shortage, a capture and a return do. An order must name a configured channel: there is no
default policy, and a channel nobody configured is refused (`ChannelUnknown`, naming the
configured ones). What a PUT leaves out takes the defaults of `ChannelData`: every active
location, reject shortages, fewest splits (at most 2), capture on shipment, no returnless
refunds, no return fee, refunds when a return is RECEIVED."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import TypeVar

from sqlalchemy.orm import Session

from openoms.adapters.db.models import Channel
from openoms.adapters.db.repositories import inventory as inventory_repo
from openoms.adapters.db.repositories import orders as repo
from openoms.adapters.outbox import Outbox
from openoms.domain.errors import ChannelUnknown, DomainError, NotFound, ValidationFailed
from openoms.domain.events import DomainEvent
from openoms.domain.money import Money, format_minor
from openoms.domain.returns import REFUND_ELIGIBLE_STATUSES, ReturnOrderStatus
from openoms.services.inventory import LocationGroupUnknown, apply_changes, check_ref

E = TypeVar("E", bound=DomainError)
CREATED_EVENT = "order_summary.created"
MAX_LOOKAHEAD_DAYS = 28  # a routing run's look-ahead reads at most four weeks of orders


class ShortagePolicy(StrEnum):
    REJECT = "reject"  # an order that cannot be reserved in full is refused
    BACKORDER = "backorder"  # it is taken and waits for stock


class RoutingStrategy(StrEnum):
    FEWEST_SPLITS = "fewest_splits"
    RANK_BY_DISTANCE = "rank_by_distance"
    SCORE = "score"
    OPTIMAL = "optimal"


class CapturePolicy(StrEnum):
    ON_SHIPMENT = "on_shipment"
    ON_ORDER = "on_order"


class ChannelNotFound(NotFound):
    code = "channel_not_found"
    title = "Channel not found"


class ThresholdInvalid(ValidationFailed):
    code = "returnless_threshold_invalid"
    title = "Returnless threshold is not valid"


class ReturnFeeInvalid(ValidationFailed):
    code = "return_fee_invalid"
    title = "Return fee is not valid"


class RefundEligibleStatusInvalid(ValidationFailed):
    code = "refund_eligible_status_invalid"
    title = "Refund-eligible status is not valid"


@dataclass(frozen=True, slots=True)
class ChannelData:
    """Everything a channel PUT sets (a PUT replaces: what is left out gets the default)."""

    location_group: str | None = None
    shortage_policy: ShortagePolicy = ShortagePolicy.REJECT
    routing_strategy: RoutingStrategy = RoutingStrategy.FEWEST_SPLITS
    max_splits: int = 2
    capture_policy: CapturePolicy = CapturePolicy.ON_SHIPMENT
    returnless_threshold: tuple[Money, ...] = ()
    return_fee: tuple[Money, ...] = ()
    refund_eligible_status: ReturnOrderStatus = ReturnOrderStatus.RECEIVED
    verify_authorizations: bool = True
    routing_run_every: int | None = None  # seconds between scheduled routing runs
    routing_lookahead_days: int | None = None  # routing runs' look-ahead: days of history


@dataclass(frozen=True, slots=True)
class ChannelPolicy:
    """How orders from one channel are handled. `location_group_id` None: every active
    location. `returnless_threshold`: currency → minor units under which an item is refunded
    without being sent back (a currency not listed: always sent back).
    `return_fee`: currency → minor units (tax included) invoiced once per return order when
    its returned units are refunded (a currency not listed: no fee).
    `refund_eligible_status`: the return order status at which its refunds are made.
    `verify_authorizations`: authorizations reported at capture are checked with their
    gateway before the order is routed (services/payments/verification.py).
    `configured` is always true: only a configured channel has a policy (kept in the API's
    channel body for the clients that read it)."""

    channel: str
    location_group_id: str | None = None
    location_group: str | None = None
    shortage_policy: ShortagePolicy = ShortagePolicy.REJECT
    routing_strategy: RoutingStrategy = RoutingStrategy.FEWEST_SPLITS
    max_splits: int = 2
    capture_policy: CapturePolicy = CapturePolicy.ON_SHIPMENT
    returnless_threshold: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))
    return_fee: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))
    refund_eligible_status: ReturnOrderStatus = ReturnOrderStatus.RECEIVED
    verify_authorizations: bool = True
    routing_run_every: int | None = None
    routing_lookahead_days: int | None = None
    configured: bool = True


def upsert_channel(
    session: Session, outbox: Outbox, ref: str, data: ChannelData
) -> tuple[Channel, bool]:
    """Create or replace the channel's policy. An unknown `location_group` is
    LocationGroupUnknown (400, field `location_group`). Returns (channel, created) and
    records `channel.upserted` when anything changed."""
    check_ref(ref)
    _check(data)
    group_id = None
    if data.location_group is not None:
        group_id = inventory_repo.group_id(session, data.location_group)
        if group_id is None:
            raise LocationGroupUnknown(
                f"no location group {data.location_group!r}", field="location_group"
            )
    channel = repo.lock_channel(session, ref)
    created = False
    if channel is None:
        created = repo.claim_channel(session, ref)
        channel = repo.lock_channel(session, ref)
        assert channel is not None
    values = {
        "location_group_id": group_id,
        "shortage_policy": data.shortage_policy.value,
        "routing_strategy": data.routing_strategy.value,
        "max_splits": data.max_splits,
        "capture_policy": data.capture_policy.value,
        "returnless_threshold": {m.currency: m.minor for m in data.returnless_threshold},
        "return_fee": {m.currency: m.minor for m in data.return_fee},
        "refund_eligible_status": data.refund_eligible_status.value,
        "verify_authorizations": data.verify_authorizations,
        "routing_run_every": data.routing_run_every,
        "routing_lookahead_days": data.routing_lookahead_days,
    }
    changed = apply_changes(channel, values)
    session.flush()
    if created or changed:
        outbox.record(session, [_channel_event(channel, data, created)])
    return channel, created


def get_channel(session: Session, ref: str) -> Channel | None:
    """The channel's stored configuration, or None when it has none."""
    return repo.channel_by_ref(session, ref)


def list_channels(session: Session) -> list[Channel]:
    """Every configured channel by ref."""
    return repo.all_channels(session)


def known_channels(session: Session) -> list[str]:
    """The refs of every configured channel, in order."""
    return repo.channel_refs(session)


def channel_policy(session: Session, channel_ref: str) -> ChannelPolicy:
    """The policy for orders from `channel_ref`; a channel nobody configured is
    ChannelUnknown (400 `channel_unknown`, field `channel`, `known_channels`)."""
    # One round trip, the group's ref joined: capture asks this for every order.
    row = repo.channel_with_group_ref(session, channel_ref)
    if row is None:
        raise unknown_channel(session, channel_ref, ChannelUnknown, field="channel")
    return _policy(row[0], row[1])


def capture_channel_policy(session: Session, channel_ref: str) -> tuple[ChannelPolicy, bool]:
    """`channel_policy` for capture, with whether an enabled automation flow runs on
    `order_summary.created` (then the order's routing waits for it: automation_gate.py),
    read in the same round trip."""
    row = repo.channel_for_capture(session, channel_ref, CREATED_EVENT)
    if row is None:
        raise unknown_channel(session, channel_ref, ChannelUnknown, field="channel")
    return _policy(row[0], row[1]), row[2]


def configured_channel(session: Session, ref: str) -> Channel:
    """The stored channel `ref`; ChannelNotFound (404, `known_channels`) when it has none."""
    channel = get_channel(session, ref)
    if channel is None:
        raise unknown_channel(session, ref, ChannelNotFound)
    return channel


def unknown_channel(session: Session, ref: str, error: type[E], *, field: str | None = None) -> E:
    """`error` for a channel nobody configured, naming the configured ones (in `detail` and
    as `known_channels`) so the caller can correct the ref or configure the channel."""
    known = known_channels(session)
    listed = ", ".join(known) if known else "none yet (PUT /api/v1/channels/{ref} adds one)"
    return error(
        f"channel {ref!r} is not configured; configured channels: {listed}",
        field=field,
        channel=ref,
        known_channels=known,
    )


def policy_of(session: Session, channel: Channel) -> ChannelPolicy:
    """A stored channel's policy, with its group's ref."""
    group_ref = None
    if channel.location_group_id is not None:
        group_ref = inventory_repo.group_ref(session, channel.location_group_id)
    return _policy(channel, group_ref)


def _policy(channel: Channel, group_ref: str | None) -> ChannelPolicy:
    return ChannelPolicy(
        channel=channel.ref,
        location_group_id=channel.location_group_id,
        location_group=group_ref,
        shortage_policy=ShortagePolicy(channel.shortage_policy),
        routing_strategy=RoutingStrategy(channel.routing_strategy),
        max_splits=channel.max_splits,
        capture_policy=CapturePolicy(channel.capture_policy),
        returnless_threshold=MappingProxyType(
            {currency: int(minor) for currency, minor in channel.returnless_threshold.items()}
        ),
        return_fee=MappingProxyType(
            {currency: int(minor) for currency, minor in (channel.return_fee or {}).items()}
        ),
        refund_eligible_status=ReturnOrderStatus(
            channel.refund_eligible_status or ReturnOrderStatus.RECEIVED.value
        ),
        verify_authorizations=channel.verify_authorizations,
        routing_run_every=channel.routing_run_every,
        routing_lookahead_days=channel.routing_lookahead_days,
        configured=True,
    )


def threshold_strings(threshold: Mapping[str, int]) -> dict[str, str]:
    """currency → minor units, as the API's decimal strings."""
    return {currency: format_minor(minor, currency) for currency, minor in threshold.items()}


def _check(data: ChannelData) -> None:
    if data.max_splits < 0:
        raise ValidationFailed("max_splits cannot be negative", field="max_splits")
    if data.routing_run_every is not None and data.routing_run_every < 60:
        raise ValidationFailed(
            "routing_run_every is at least 60 seconds", field="routing_run_every"
        )
    days = data.routing_lookahead_days
    if days is not None and not 1 <= days <= MAX_LOOKAHEAD_DAYS:
        raise ValidationFailed(
            f"routing_lookahead_days is between 1 and {MAX_LOOKAHEAD_DAYS}",
            field="routing_lookahead_days",
        )
    _check_amounts(data.returnless_threshold, "returnless_threshold", ThresholdInvalid, "threshold")
    _check_amounts(data.return_fee, "return_fee", ReturnFeeInvalid, "return fee")
    if data.refund_eligible_status not in REFUND_ELIGIBLE_STATUSES:
        allowed = ", ".join(s.value for s in ReturnOrderStatus if s in REFUND_ELIGIBLE_STATUSES)
        raise RefundEligibleStatusInvalid(
            f"refunds cannot wait for a return order to be {data.refund_eligible_status.value}; "
            f"choose one of {allowed}",
            field="refund_eligible_status",
        )


def _check_amounts(
    amounts: tuple[Money, ...], name: str, error: type[ValidationFailed], what: str
) -> None:
    currencies = [m.currency for m in amounts]
    for money in amounts:
        where = f"{name}.{money.currency}"
        if money.minor < 0:
            raise error(f"a {what} cannot be negative", field=where)
        if currencies.count(money.currency) > 1:
            raise error(f"{money.currency} is listed twice", field=where)


def _channel_event(channel: Channel, data: ChannelData, created: bool) -> DomainEvent:
    return DomainEvent(
        name="channel.upserted",
        aggregate_type="channel",
        aggregate_id=channel.ref,
        payload={
            "ref": channel.ref,
            "created": created,
            "location_group": data.location_group,
            "shortage_policy": channel.shortage_policy,
            "routing_strategy": channel.routing_strategy,
            "max_splits": channel.max_splits,
            "capture_policy": channel.capture_policy,
            "returnless_threshold": dict(channel.returnless_threshold),
            "return_fee": dict(channel.return_fee or {}),
            "refund_eligible_status": channel.refund_eligible_status,
            "verify_authorizations": channel.verify_authorizations,
        },
    )
