"""The `shopify` payment gateway: captures, refunds and voids a Shopify order's payment
through its channel's connector (the sandbox records the calls; `shopify_rest` makes
`POST orders/{id}/transactions.json`).

A Shopify order's payment summary has the token `{channel}:{shopify order id}`
(`openoms.domain.shopify.payment_token`) and the authorization reference Shopify gave
(docs/channels.md): the gateway reads the channel's adapter to pick its connector. Answers map
as every gateway's do: an answer → SUCCESS (with Shopify's transaction id); ChannelUnavailable
or any other error → INDETERMINATE (sent again later); ChannelRejected, or a channel without
a Shopify adapter → PERMANENT_FAIL (a person looks). Shopify authorizes at its checkout, so
`authorize` is refused. `get_authorization` (a channel's `verify_authorizations`) finds the
order of the reference in openoms' payment records and asks the connector where it stands
(the REST connector reads the order's transactions)."""

from __future__ import annotations

from typing import Protocol

from openoms.adapters.db.repositories import channels as repo
from openoms.adapters.db.session import Database
from openoms.domain.ports import (
    AuthorizationLookup,
    AuthorizationState,
    ChannelAuthorizationQuery,
    ChannelConnector,
    ChannelRejected,
    ChannelTransaction,
    ChannelUnavailable,
    GatewayRequest,
    GatewayResponse,
    GatewayResult,
    GatewayUnavailable,
)
from openoms.domain.shopify import GATEWAY, parse_payment_token

R = GatewayResult


class Connectors(Protocol):
    """The connector registry (`openoms.adapters.channels.ChannelConnectors`)."""

    def get(
        self, kind: str, base_url: str | None = None, token: str | None = None
    ) -> ChannelConnector: ...


class ShopifyGateway:
    """A `PaymentGateway` over the channel connectors (built per process)."""

    name = GATEWAY

    def __init__(self, db: Database, connectors: Connectors) -> None:
        self._db = db
        self._connectors = connectors

    def get_authorization(self, reference: str) -> AuthorizationLookup:
        with self._db.reading() as session:
            found = repo.reported_authorization(session, GATEWAY, reference)
        if found is None:
            return AuthorizationLookup(reference, AuthorizationState.UNKNOWN)
        token, amount, currency = found
        channel, order_id = parse_payment_token(token)
        connector = self._connector(channel)
        if connector is None:
            return AuthorizationLookup(reference, AuthorizationState.UNKNOWN)
        query = ChannelAuthorizationQuery(order_id, reference, amount, currency)
        try:
            return connector.authorization(channel, query)
        except ChannelRejected:
            return AuthorizationLookup(reference, AuthorizationState.UNKNOWN)
        except ChannelUnavailable as exc:
            raise GatewayUnavailable(str(exc)) from None

    def authorize(self, request: GatewayRequest) -> GatewayResponse:
        return GatewayResponse(
            R.PERMANENT_FAIL, 0, message="Shopify authorizes at its checkout, never openoms"
        )

    def capture(self, request: GatewayRequest) -> GatewayResponse:
        return self._transact("capture", request)

    def refund(self, request: GatewayRequest) -> GatewayResponse:
        return self._transact("refund", request)

    def reverse_authorization(self, request: GatewayRequest) -> GatewayResponse:
        """A void, once: an authorization Shopify shows voided already (an earlier try whose
        answer was lost) is answered as reversed; one partly captured is not voided (Shopify
        voids whole authorizations only; what is left lapses when it expires) and is
        answered as reversed, with nothing sent."""
        try:
            found = self.get_authorization(request.reference or "")
        except GatewayUnavailable as exc:
            return GatewayResponse(R.INDETERMINATE, 0, message=str(exc)[:300])
        if found.state is AuthorizationState.REVERSED:
            return GatewayResponse(R.SUCCESS, request.amount, request.reference, "voided")
        if found.known and found.left < found.amount:
            return GatewayResponse(
                R.SUCCESS,
                request.amount,
                request.reference,
                "partly captured in Shopify: the rest lapses when the authorization expires",
            )
        return self._transact("void", request)

    def _transact(self, kind: str, request: GatewayRequest) -> GatewayResponse:
        channel, order_id = parse_payment_token(request.token)
        try:
            connector = self._connector(channel)
            if connector is None:
                return GatewayResponse(
                    R.PERMANENT_FAIL, 0, message=f"channel {channel!r} has no Shopify adapter"
                )
            answer = connector.transact(
                channel,
                ChannelTransaction(
                    idempotency_key=request.idempotency_key,
                    external_reference=order_id,
                    kind=kind,
                    amount=request.amount,
                    currency=request.currency,
                    parent=request.reference,
                ),
            )
        except ChannelRejected as exc:
            return GatewayResponse(R.PERMANENT_FAIL, 0, message=str(exc)[:300])
        except ChannelUnavailable as exc:
            return GatewayResponse(R.INDETERMINATE, 0, message=str(exc)[:300])
        except Exception as exc:  # an outcome is never lost: asked again with the same key
            return GatewayResponse(R.INDETERMINATE, 0, message=type(exc).__name__)
        return GatewayResponse(R.SUCCESS, request.amount, answer.reference, f"{kind} in Shopify")

    def _connector(self, channel: str) -> ChannelConnector | None:
        with self._db.reading() as session:
            adapter = repo.adapter(session, channel)
            if adapter is None or adapter.type != "shopify":
                return None
            kind, url, token = (
                adapter.connector,
                adapter.connector_base_url,
                adapter.connector_token,
            )
        return self._connectors.get(kind, url, token)
