"""Channel connectors: how openoms tells an order's platform about shipments and
cancellations (the `ChannelConnector` port in `openoms.domain.ports`).

`ChannelConnectors` hands the connector a channel's adapter settings name: `sandbox` (one
per process, its ledger in the database) or `shopify_rest` (one per shop URL and token,
over httpx). Plugging in another platform: implement `ChannelConnector` (`fulfill`,
`cancel`, raising `ChannelUnavailable` for what may succeed later and `ChannelRejected` for
what will not) in a module of this package and register a factory under its name
(docs/channels.md). `ShopifyGateway` is the `shopify` payment gateway: it moves a Shopify
order's money through the channel's connector (`transact`).
"""

from __future__ import annotations

from collections.abc import Callable

from openoms.adapters.channels.payments import ShopifyGateway
from openoms.adapters.channels.sandbox import SandboxChannelConnector
from openoms.adapters.channels.shopify import ShopifyRestConnector
from openoms.adapters.db.session import Database
from openoms.domain.errors import ValidationFailed
from openoms.domain.ports import ChannelConnector

# (base_url, access_token) → a connector of that kind.
Factory = Callable[[str | None, str | None], ChannelConnector]


class ConnectorUnknown(ValidationFailed):
    code = "channel_connector_unknown"
    title = "Channel connector is not registered"


class ChannelConnectors:
    """Connector kinds by name; `get` builds (and keeps) one per kind, URL and token."""

    def __init__(self, factories: dict[str, Factory]) -> None:
        self._factories = dict(factories)
        self._built: dict[tuple[str, str | None, str | None], ChannelConnector] = {}

    def register(self, kind: str, factory: Factory) -> None:
        if kind in self._factories:
            raise ValueError(f"channel connector {kind!r} is already registered")
        self._factories[kind] = factory

    def names(self) -> list[str]:
        return sorted(self._factories)

    def get(
        self, kind: str, base_url: str | None = None, token: str | None = None
    ) -> ChannelConnector:
        factory = self._factories.get(kind)
        if factory is None:
            raise ConnectorUnknown(
                f"no channel connector {kind!r} (known: {', '.join(self.names())})",
                connector=kind,
            )
        key = (kind, base_url, token)
        if key not in self._built:
            self._built[key] = factory(base_url, token)
        return self._built[key]


def default_connectors(db: Database) -> ChannelConnectors:
    """The sandbox (its ledger in `db`) and the Shopify Admin REST connector."""
    sandbox = SandboxChannelConnector(db)

    def shopify(base_url: str | None, token: str | None) -> ChannelConnector:
        if not base_url or not token:
            raise ConnectorUnknown("shopify_rest needs a base_url and an access_token")
        return ShopifyRestConnector(base_url, token)

    return ChannelConnectors({"sandbox": lambda _url, _token: sandbox, "shopify_rest": shopify})


__all__ = [
    "ChannelConnectors",
    "ConnectorUnknown",
    "SandboxChannelConnector",
    "ShopifyGateway",
    "ShopifyRestConnector",
    "default_connectors",
]
