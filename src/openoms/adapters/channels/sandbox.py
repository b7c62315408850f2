"""The sandbox channel connector: records what it was asked to tell the platform (and the
money it was asked to move there), once per idempotency key, in the database it is given
(so its ledger survives restarts and every process over one database sees one sandbox)."""

from __future__ import annotations

from typing import Any

from openoms.adapters.db import models as m
from openoms.adapters.db.repositories import channels as repo
from openoms.adapters.db.session import Database, dialect_insert
from openoms.domain.ports import (
    AuthorizationLookup,
    AuthorizationState,
    ChannelAnswer,
    ChannelAuthorizationQuery,
    ChannelCancel,
    ChannelFulfillment,
    ChannelLine,
    ChannelTransaction,
)

_CALLS = m.SandboxChannelCall.metadata.tables["sandbox_channel_calls"]


class SandboxChannelConnector:
    """A `ChannelConnector` that answers every call with success and keeps its ledger."""

    name = "sandbox"

    def __init__(self, db: Database) -> None:
        self._db = db

    def fulfill(self, channel: str, request: ChannelFulfillment) -> ChannelAnswer:
        body = {
            "carrier": request.carrier,
            "tracking_number": request.tracking_number,
            "notify_customer": request.notify_customer,
            "lines": _lines(request.lines),
        }
        return self._record(
            channel, "fulfillment", request.idempotency_key, request.external_reference, body
        )

    def cancel(self, channel: str, request: ChannelCancel) -> ChannelAnswer:
        body = {
            "reason": request.reason,
            "complete": request.complete,
            "lines": _lines(request.lines),
        }
        return self._record(
            channel, "cancel", request.idempotency_key, request.external_reference, body
        )

    def transact(self, channel: str, request: ChannelTransaction) -> ChannelAnswer:
        body = {
            "kind": request.kind,
            "amount": request.amount,
            "currency": request.currency,
            "parent": request.parent,
        }
        return self._record(
            channel, request.kind, request.idempotency_key, request.external_reference, body
        )

    def authorization(self, channel: str, query: ChannelAuthorizationQuery) -> AuthorizationLookup:
        """The sandbox stands for the platform: it knows the authorization as reported, less
        what its ledger captured on it; voided once it recorded a void."""
        captured = voided = 0
        for call in self.calls(channel):
            if call["external_reference"] != query.external_reference:
                continue
            if call.get("parent") == query.reference and call["operation"] == "capture":
                captured += int(call["amount"])
            elif call.get("parent") == query.reference and call["operation"] == "void":
                voided = 1
        left = max(query.amount - captured, 0)
        if voided:
            state, left = AuthorizationState.REVERSED, 0
        else:
            state = AuthorizationState.OPEN if left else AuthorizationState.CAPTURED
        return AuthorizationLookup(query.reference, state, query.amount, query.currency, left)

    def calls(self, channel: str) -> list[dict[str, Any]]:
        """What the channel's platform was told, oldest first."""
        with self._db.reading() as session:
            return [
                {
                    "operation": c.operation,
                    "external_reference": c.external_reference,
                    "idempotency_key": c.idempotency_key,
                    **c.request,
                }
                for c in repo.sandbox_calls(session, channel)
            ]

    def _record(
        self, channel: str, operation: str, key: str, reference: str, body: dict[str, Any]
    ) -> ChannelAnswer:
        with self._db.transaction() as session:
            statement = (
                dialect_insert(session, _CALLS)
                .values(
                    idempotency_key=key,
                    channel=channel,
                    operation=operation,
                    external_reference=reference,
                    request=body,
                    created_at=m.utcnow(),
                )
                .on_conflict_do_nothing(index_elements=["idempotency_key"])
            )
            session.execute(statement)
            call = repo.sandbox_call(session, key)
            assert call is not None
            return ChannelAnswer(reference=f"sandbox-{call.id}")


def _lines(lines: tuple[ChannelLine, ...]) -> list[dict[str, Any]]:
    return [{"sku": line.sku, "quantity": line.quantity} for line in lines]
