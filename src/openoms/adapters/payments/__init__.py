"""Payment gateways: the registry of gateway accounts a process uses, by name.

An order's payment method names its gateway (`"gateway": "sandbox"`); the payment summary
stores that name and every later call (authorize, capture, refund, reverse) looks the
gateway up here. Build one `Gateways` per process and share it between the API and the
worker. The sandbox keeps its ledger in the database it is given, so every process over one
database sees one sandbox gateway (see `adapters/payments/sandbox.py` for what is shared).

Plugging in a real gateway. Implement `openoms.services.ports.PaymentGateway` (`name`,
`authorize`, `capture`, `refund`, `reverse_authorization`, `get_authorization`) in a module
of this package, e.g. `adapters/payments/stripe.py`:
- send `GatewayRequest.idempotency_key` as the gateway's idempotency key: openoms retries
  an INDETERMINATE call with the same key and relies on the gateway to move money once;
- map answers onto `GatewayResult`: SUCCESS (with the amount actually moved and the
  gateway's reference), DECLINE for soft refusals worth retrying later (insufficient funds,
  rate limits), PERMANENT_FAIL for refusals a person must handle (stolen card, closed
  account, amount above what is left), INDETERMINATE for timeouts, 5xx and network errors;
- never raise for an outcome: an exception is treated as INDETERMINATE (retried with the
  same key), never as a decline;
- `get_authorization(reference)` looks an authorization up (Stripe: retrieve the
  PaymentIntent) and answers an `AuthorizationLookup`: its state (UNKNOWN when the gateway
  never issued the reference, OPEN, CAPTURED, REVERSED), amount, currency and what is left
  to capture; raise `GatewayUnavailable` (or anything) when it cannot answer: the check is
  asked again later. Channels with `verify_authorizations` check every authorization
  reported at capture with it before routing (services/payments/verification.py);
- set your own HTTP timeouts: calls run in a worker or request thread, never inside a
  database transaction.
Then register it (`default_gateways(db, extra={"stripe": StripeGateway(...)})` or
`Gateways.register`). Nothing else changes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from openoms.adapters.channels import ShopifyGateway, default_connectors
from openoms.adapters.db.session import Database
from openoms.adapters.payments.sandbox import SandboxGateway
from openoms.domain.errors import ValidationFailed
from openoms.domain.ports import PaymentGateway


class GatewayUnknown(ValidationFailed):
    code = "gateway_unknown"
    title = "Payment gateway is not registered"


class Gateways:
    """Payment gateway accounts by name."""

    def __init__(self, gateways: Mapping[str, PaymentGateway]) -> None:
        self._gateways = dict(gateways)
        self._wrap: Callable[[str, PaymentGateway], PaymentGateway] | None = None

    def register(self, name: str, gateway: PaymentGateway) -> None:
        if name in self._gateways:
            raise ValueError(f"payment gateway {name!r} is already registered")
        self._gateways[name] = gateway if self._wrap is None else self._wrap(name, gateway)

    def instrument(self, wrap: Callable[[str, PaymentGateway], PaymentGateway]) -> None:
        """Wrap every gateway, now and as registered (metrics: adapters/metrics.py); once."""
        if self._wrap is None:
            self._wrap = wrap
            self._gateways = {name: wrap(name, g) for name, g in self._gateways.items()}

    def get(self, name: str) -> PaymentGateway:
        gateway = self._gateways.get(name)
        if gateway is None:
            raise GatewayUnknown(
                f"no payment gateway {name!r} is registered (known: {', '.join(self.names())})",
                gateway=name,
            )
        return gateway

    def names(self) -> list[str]:
        return sorted(self._gateways)


def default_gateways(
    db: Database, *, extra: Mapping[str, PaymentGateway] | None = None
) -> Gateways:
    """The sandbox gateway (its ledger in `db`), the `shopify` gateway (a Shopify order's
    money, through its channel's connector: adapters/channels/payments.py) plus `extra`."""
    gateways: dict[str, PaymentGateway] = {
        "sandbox": SandboxGateway(db, "sandbox"),
        "shopify": ShopifyGateway(db, default_connectors(db)),
    }
    return Gateways({**gateways, **(extra or {})})


__all__ = ["GatewayUnknown", "Gateways", "SandboxGateway", "default_gateways"]
