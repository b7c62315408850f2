"""API keys on the wire: what an admin sends to create one and what the key API answers.
The secret appears only in the answer that created the key."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field

from openoms.schemas.common import LAX, Identifier, Payload
from openoms.services.access import Scope


class ApiKeyCreate(Payload):
    """A new API key: its scopes and, optionally, the channels it is bound to."""

    name: str = Field(description="What the key is for (1 to 200 characters).")
    scopes: list[Annotated[Scope, LAX]] = Field(
        description="storefront, warehouse, agent, metrics or admin (admin may do everything)."
    )
    channels: list[Identifier] | None = Field(
        default=None,
        description="Bind the key to these configured channels: it captures only into them "
        "and sees only their orders (another channel's order answers 404 as if it did not "
        "exist). Leave out for an unbound key, which sees every channel. An admin key cannot "
        "be bound.",
        examples=[["web-uk"]],
    )


class ApiKeyOut(BaseModel):
    """An API key as listed: never its secret, only a short public prefix."""

    id: str
    name: str
    prefix: str = Field(description="The public start of the key, to recognise it.")
    scopes: list[Scope]
    channels: list[str] | None = Field(description="The binding; null: every channel.")
    created_at: str
    revoked_at: str | None


class ApiKeyCreated(ApiKeyOut):
    """The created key, with its secret: shown in this answer only, never stored."""

    secret: str | None = Field(
        description="The key to send as `Authorization: Bearer <secret>`. Shown once: null "
        "when an Idempotency-Key retry replays this answer (the secret is not stored; revoke "
        "the key and create another if it was lost)."
    )


class ApiKeyList(BaseModel):
    items: list[ApiKeyOut] = Field(description="Oldest first, revoked keys included.")
