"""The connector registry: a kind by name, one connector per kind, URL and token."""

from __future__ import annotations

import pytest

from openoms.adapters.channels import ChannelConnectors, ConnectorUnknown, ShopifyRestConnector
from openoms.domain.ports import ChannelAnswer, ChannelCancel, ChannelFulfillment


class Recorder:
    name = "recorder"

    def fulfill(self, channel: str, request: ChannelFulfillment) -> ChannelAnswer:
        return ChannelAnswer(request.idempotency_key)

    def cancel(self, channel: str, request: ChannelCancel) -> ChannelAnswer:
        return ChannelAnswer(request.idempotency_key)


def test_a_kind_is_built_once_per_url_and_token_and_an_unknown_one_is_refused() -> None:
    built: list[tuple[str | None, str | None]] = []

    def factory(url: str | None, token: str | None) -> Recorder:
        built.append((url, token))
        return Recorder()

    connectors = ChannelConnectors({"recorder": factory})
    first = connectors.get("recorder", "https://a", "t1")
    assert connectors.get("recorder", "https://a", "t1") is first
    assert connectors.get("recorder", "https://a", "t2") is not first
    assert built == [("https://a", "t1"), ("https://a", "t2")]
    with pytest.raises(ValueError, match="already registered"):
        connectors.register("recorder", factory)
    connectors.register("other", factory)
    assert connectors.names() == ["other", "recorder"]
    with pytest.raises(ConnectorUnknown) as unknown:
        connectors.get("woo")
    assert unknown.value.code == "channel_connector_unknown"
    assert "known: other, recorder" in unknown.value.detail


def test_the_shopify_connector_closes_its_client() -> None:
    connector = ShopifyRestConnector("https://example.myshopify.com/", "shpat_x")
    connector.close()
    assert connector.name == "shopify_rest"
