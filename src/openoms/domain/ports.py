"""Ports: the Protocols that adapters implement and services call (STYLE.md, layout).

A carrier is reached only through `Carrier`; the values it takes and returns are plain
frozen dataclasses, so a service never sees an adapter's types and a test never needs a mock
(the sandbox carrier in `openoms.adapters.carriers.sandbox` is the fake).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

# --- carriers -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PostalAddress:
    name: str | None = None
    line1: str | None = None
    line2: str | None = None
    city: str | None = None
    region: str | None = None
    postal_code: str | None = None
    country: str | None = None  # ISO 3166-1 alpha-2


@dataclass(frozen=True, slots=True)
class LabelItem:
    sku: str
    quantity: int


@dataclass(frozen=True, slots=True)
class LabelRequest:
    """One parcel to label. The same `idempotency_key` must always give the same label:
    a retry after a timeout must never buy a second one."""

    idempotency_key: str
    reference: str  # printed on the label: the shipment id
    service: str | None
    ship_from: PostalAddress
    ship_to: PostalAddress
    items: tuple[LabelItem, ...]


@dataclass(frozen=True, slots=True)
class Label:
    tracking_number: str
    label_url: str | None
    carrier: str
    service: str | None


class TrackingState(StrEnum):
    PRE_TRANSIT = "PRE_TRANSIT"  # label bought, parcel not yet scanned
    IN_TRANSIT = "IN_TRANSIT"
    DELIVERED = "DELIVERED"
    VOIDED = "VOIDED"  # label canceled


@dataclass(frozen=True, slots=True)
class TrackingStatus:
    tracking_number: str
    state: TrackingState
    detail: str = ""


class CarrierError(Exception):
    """A carrier's answer that is not a label. Adapters raise only the two below."""


class CarrierUnavailable(CarrierError):
    """Transient: timeout, 5xx, rate limit, outage. Ask again later with the same key."""


class CarrierRejected(CarrierError):
    """Permanent: the carrier refuses this request (bad address, unknown service, unknown
    tracking number). Asking again will not help; a person must change something."""


class Carrier(Protocol):
    """A shipping carrier account. Implementations must be safe to call from several threads
    and must honour `LabelRequest.idempotency_key`."""

    def create_label(self, request: LabelRequest) -> Label: ...

    def track(self, tracking_number: str) -> TrackingStatus: ...

    def cancel_label(self, tracking_number: str) -> None: ...


# --- choosing a carrier -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ShipmentRoute:
    """What a carrier rule looks at: how the group is delivered, and from where to where."""

    method: str  # "ship" or "pickup"
    origin_country: str | None
    destination_country: str | None
    service: str | None  # the delivery group's service level ("standard", "express", …)

    @property
    def international(self) -> bool:
        return bool(
            self.origin_country
            and self.destination_country
            and self.origin_country.upper() != self.destination_country.upper()
        )


@dataclass(frozen=True, slots=True)
class CarrierChoice:
    """A registered carrier by name, and the service to ask it for."""

    carrier: str
    service: str | None = None


class CarrierSelector(Protocol):
    """Chooses a carrier for a shipment (the configured rules; see adapters.carriers)."""

    def choose(self, route: ShipmentRoute) -> CarrierChoice: ...


# --- payment gateways ---------------------------------------------------------------------


class GatewayResult(StrEnum):
    SUCCESS = "SUCCESS"
    DECLINE = "DECLINE"  # soft: try again later (insufficient funds, rate limit)
    PERMANENT_FAIL = "PERMANENT_FAIL"  # hard: a person must act (stolen card, closed account)
    INDETERMINATE = "INDETERMINATE"  # timeout or unknown: retry with the SAME idempotency key


@dataclass(frozen=True, slots=True)
class GatewayRequest:
    """One money movement. `idempotency_key` makes a retry land on the same movement."""

    idempotency_key: str
    token: str
    amount: int  # minor units
    currency: str
    reference: str | None = None  # the authorization or payment this acts on


@dataclass(frozen=True, slots=True)
class GatewayResponse:
    result: GatewayResult
    amount: int  # what was actually moved (a partial approval may be less than asked)
    reference: str | None = None  # the gateway's id for the movement
    message: str = ""


class AuthorizationState(StrEnum):
    """Where a gateway says an authorization stands."""

    UNKNOWN = "UNKNOWN"  # the gateway has no authorization with this reference
    OPEN = "OPEN"  # something is left to capture
    CAPTURED = "CAPTURED"  # captured in full: nothing left
    REVERSED = "REVERSED"  # released (what was left given back): nothing left


@dataclass(frozen=True, slots=True)
class AuthorizationLookup:
    """A gateway's record of one authorization: what it authorized (minor units, currency)
    and what is still left to capture on it."""

    reference: str
    state: AuthorizationState
    amount: int = 0
    currency: str | None = None
    left: int = 0

    @property
    def known(self) -> bool:
        return self.state is not AuthorizationState.UNKNOWN


class GatewayUnavailable(Exception):
    """A lookup the gateway could not answer (timeout, 5xx, rate limit): ask again later."""


class PaymentGateway(Protocol):
    """What openoms needs of a payment gateway. A real gateway (Stripe, Adyen, …) is a class
    with these methods that maps its answers onto GatewayResult; network errors and timeouts
    become INDETERMINATE, never an exception that loses the outcome. `get_authorization`
    only reads: it answers UNKNOWN for a reference the gateway never issued and raises
    GatewayUnavailable when it cannot answer."""

    name: str

    def get_authorization(self, reference: str) -> AuthorizationLookup: ...

    def authorize(self, request: GatewayRequest) -> GatewayResponse: ...

    def capture(self, request: GatewayRequest) -> GatewayResponse: ...

    def refund(self, request: GatewayRequest) -> GatewayResponse: ...

    def reverse_authorization(self, request: GatewayRequest) -> GatewayResponse: ...


# --- the event stream ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StreamMessage:
    """One event as the stream carries it. `message_id` (the event's id) is the stream's
    de-duplication key: a second message with the same id is dropped, so publishing again
    after a crash or a lost acknowledgement never stores a second copy."""

    subject: str
    message_id: str
    body: bytes


@dataclass(frozen=True, slots=True)
class StreamAck:
    """The stream's receipt: where the message is stored, and whether it was already there
    (`duplicate`: an earlier publish of the same id was stored and this one dropped)."""

    stream: str
    sequence: int
    duplicate: bool = False


class EventStreamUnavailable(Exception):
    """The stream did not acknowledge the message (down, unreachable, timed out, closed):
    it may or may not be stored. Publish it again later with the same `message_id`."""


class EventStream(Protocol):
    """A durable, de-duplicating stream of events (NATS JetStream in production). `publish`
    returns only once the stream has stored the message, and raises EventStreamUnavailable
    otherwise. `subject_prefix` is the first token of every subject it stores. Implementations
    must be safe to call from several threads. `start` connects (and sets the stream up) now
    rather than at the first publish, raising EventStreamUnavailable if it cannot."""

    @property
    def subject_prefix(self) -> str: ...

    def start(self) -> None: ...

    def publish(self, message: StreamMessage) -> StreamAck: ...

    def close(self) -> None: ...


# --- channel connectors -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ChannelLine:
    """Units of one of the platform's order lines (`sku` as the order named it)."""

    sku: str
    quantity: int


@dataclass(frozen=True, slots=True)
class ChannelFulfillment:
    """A shipment told back to the order's platform. The same `idempotency_key` is sent on
    every retry of one shipment."""

    idempotency_key: str
    external_reference: str  # the platform's order id
    carrier: str
    tracking_number: str | None
    lines: tuple[ChannelLine, ...]
    notify_customer: bool = True


@dataclass(frozen=True, slots=True)
class ChannelCancel:
    """A cancellation told back to the order's platform (its units that had not shipped)."""

    idempotency_key: str
    external_reference: str
    reason: str
    lines: tuple[ChannelLine, ...]
    complete: bool = False  # the whole order is canceled now (nothing shipped, nothing left)


@dataclass(frozen=True, slots=True)
class ChannelTransaction:
    """Money moved through the order's platform for a payment gateway adapter: `kind`
    capture, refund or void, of `amount` minor units, acting on the platform's transaction
    `parent` (the authorization, or the capture a refund gives back)."""

    idempotency_key: str
    external_reference: str  # the platform's order id
    kind: str
    amount: int
    currency: str
    parent: str | None = None


@dataclass(frozen=True, slots=True)
class ChannelAuthorizationQuery:
    """Where the platform's authorization `reference` of an order stands, as openoms was told
    of it (`amount` minor units in `currency`)."""

    external_reference: str  # the platform's order id
    reference: str
    amount: int
    currency: str


@dataclass(frozen=True, slots=True)
class ChannelAnswer:
    """What the platform answered: its reference for what it recorded, if it gives one."""

    reference: str | None = None


class ChannelUnavailable(Exception):
    """The platform did not answer usefully (timeout, 5xx, 429 past its retries): nothing is
    known to be recorded; the same call may be made again. `retry_after` in seconds, when the
    platform said how long to wait."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ChannelRejected(Exception):
    """The platform refused the call (4xx other than 429): retrying it unchanged fails
    again, a person must look."""


class ChannelConnector(Protocol):
    """Tells an order's platform what happened to it: shipments with their carrier and
    tracking, and cancellations; and moves the order's money there (`transact`: a capture,
    refund or void for the platform's payment gateway adapter). Raises ChannelUnavailable
    or ChannelRejected."""

    name: str

    def fulfill(self, channel: str, request: ChannelFulfillment) -> ChannelAnswer: ...

    def cancel(self, channel: str, request: ChannelCancel) -> ChannelAnswer: ...

    def transact(self, channel: str, request: ChannelTransaction) -> ChannelAnswer: ...

    def authorization(
        self, channel: str, query: ChannelAuthorizationQuery
    ) -> AuthorizationLookup: ...
