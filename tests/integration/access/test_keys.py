"""API keys: create, authenticate, revoke, scopes, and the initial admin key."""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select, text

from openoms.adapters.db.models import ApiKey
from openoms.adapters.db.session import Database
from openoms.adapters.outbox import Outbox
from openoms.domain.errors import ApiKeyInvalid, ApiKeyNotFound, ChannelUnknown
from openoms.services.access import (
    Principal,
    Scope,
    authenticate,
    create_api_key,
    ensure_initial_admin_key,
    list_api_keys,
    revoke_api_key,
)
from openoms.services.orders import ChannelData, upsert_channel
from openoms.worker.consumers import default_registry

GENERATED = re.compile(r"oms_[a-z0-9]{8}_[A-Za-z0-9_-]{43}")


def count_keys(db: Database) -> int:
    with db.reading() as session:
        return session.scalar(select(func.count()).select_from(ApiKey)) or 0


def stored_values(db: Database) -> list[str]:
    """Every value of every api_keys row, as text, straight from the table."""
    with db.reading() as session:
        rows = session.execute(text("SELECT * FROM api_keys")).all()
    return [str(value) for row in rows for value in row]


def test_create_and_authenticate(db: Database) -> None:
    with db.transaction() as session:
        api_key, plaintext = create_api_key(
            session, name=" Web shop ", scopes=[Scope.WAREHOUSE, "storefront"]
        )
    assert GENERATED.fullmatch(plaintext)
    with db.reading() as session:
        row = session.get(ApiKey, api_key.id)
        assert row is not None
        assert (row.name, row.scopes, row.prefix) == (
            "Web shop",
            "storefront warehouse",
            plaintext[:12],
        )
        assert row.key_hash == hashlib.sha256(plaintext.encode()).hexdigest()
        assert row.revoked_at is None
        principal = authenticate(session, plaintext)
        assert principal == Principal(
            api_key_id=api_key.id,
            name="Web shop",
            scopes=frozenset({Scope.STOREFRONT, Scope.WAREHOUSE}),
        )
        near_miss = plaintext[:-1] + ("A" if plaintext[-1] != "A" else "B")
        for wrong in (near_miss, plaintext.upper(), "", " " + plaintext, plaintext + "x" * 600):
            assert authenticate(session, wrong) is None


def test_generated_keys_differ(db: Database) -> None:
    with db.transaction() as session:
        plaintexts = {create_api_key(session, name=f"k{i}", scopes=["agent"])[1] for i in range(5)}
    assert len(plaintexts) == 5
    assert len({p[:12] for p in plaintexts}) == 5


def test_the_plaintext_is_never_stored(db: Database) -> None:
    with db.transaction() as session:
        _, generated = create_api_key(session, name="generated", scopes=["agent"])
        _, chosen = create_api_key(
            session, name="chosen", scopes=["admin"], secret="a chosen key that is long enough"
        )
    values = stored_values(db)
    secret_part = generated.split("_", 2)[2]
    assert not [v for v in values if generated in v or secret_part in v or chosen in v]
    assert "a ch…" in values  # the chosen key's display prefix: four characters only


def test_revoke(db: Database) -> None:
    revoked_at = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
    with db.transaction() as session:
        kept, kept_plain = create_api_key(session, name="kept", scopes=["storefront"])
        gone, gone_plain = create_api_key(session, name="gone", scopes=["storefront"])
    with db.transaction() as session:
        assert revoke_api_key(session, gone.id, now=revoked_at).revoked_at == revoked_at
    with db.transaction() as session:  # revoking again keeps the first time
        later = datetime(2026, 11, 27, tzinfo=UTC)
        assert revoke_api_key(session, gone.id, now=later).revoked_at == revoked_at
    with db.reading() as session:
        assert authenticate(session, gone_plain) is None
        assert authenticate(session, kept_plain) is not None
        assert [k.id for k in list_api_keys(session)] == [kept.id, gone.id]
        assert [k.id for k in list_api_keys(session, include_revoked=False)] == [kept.id]
        assert [k.revoked_at for k in list_api_keys(session)] == [None, revoked_at]


def test_revoke_unknown_key_changes_nothing(db: Database) -> None:
    with db.transaction() as session:
        create_api_key(session, name="kept", scopes=["storefront"])
    with pytest.raises(ApiKeyNotFound) as caught, db.transaction() as session:
        revoke_api_key(session, "key_missing")
    assert caught.value.code == "api_key_not_found"
    with db.reading() as session:
        assert [k.revoked_at for k in list_api_keys(session)] == [None]


def test_admin_implies_every_scope() -> None:
    admin = Principal(api_key_id="key_1", name="admin", scopes=frozenset({Scope.ADMIN}))
    shop = Principal(api_key_id="key_2", name="shop", scopes=frozenset({Scope.STOREFRONT}))
    assert [admin.allows(s) for s in Scope] == [True, True, True, True, True]
    assert [shop.allows(s) for s in Scope] == [True, False, False, False, False]
    assert shop.allows(Scope.WAREHOUSE, Scope.STOREFRONT)
    assert not shop.allows(Scope.WAREHOUSE, Scope.AGENT)
    assert shop.allows()  # no scope required: any valid key


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"name": "x", "scopes": []}, "scopes"),
        ({"name": "x", "scopes": ["storefront", "root"]}, "scopes"),
        ({"name": "  ", "scopes": ["agent"]}, "name"),
        ({"name": "x", "scopes": ["agent"], "secret": ""}, "secret"),
        ({"name": "x", "scopes": ["agent"], "secret": " padded"}, "secret"),
        ({"name": "x", "scopes": ["agent"], "secret": "tab\tinside"}, "secret"),
        ({"name": "x", "scopes": ["agent"], "secret": "clé-non-ascii"}, "secret"),
        ({"name": "x", "scopes": ["agent"], "secret": "k" * 513}, "secret"),
        ({"name": "x", "scopes": ["agent"], "secret": "already-taken-key"}, "secret"),
    ],
)
def test_invalid_keys_are_refused_and_nothing_is_stored(
    db: Database, kwargs: dict[str, object], field: str
) -> None:
    with db.transaction() as session:
        create_api_key(session, name="existing", scopes=["agent"], secret="already-taken-key")
    with pytest.raises(ApiKeyInvalid) as caught, db.transaction() as session:
        create_api_key(session, **kwargs)  # type: ignore[arg-type]
    assert (caught.value.code, caught.value.status, caught.value.field) == (
        "api_key_invalid",
        400,
        field,
    )
    assert count_keys(db) == 1


def test_initial_admin_key_from_configuration(db: Database) -> None:
    configured = "any string: even with spaces & punctuation!"
    with db.transaction() as session:
        assert ensure_initial_admin_key(session, configured) is None
    with db.transaction() as session:  # a second start changes nothing
        assert ensure_initial_admin_key(session, configured) is None
    with db.reading() as session:
        principal = authenticate(session, configured)
        keys = [(k.name, k.scopes, k.prefix) for k in list_api_keys(session)]
    assert principal is not None
    assert principal.scopes == frozenset({Scope.ADMIN})
    assert keys == [("Initial admin key (OPENOMS_ADMIN_KEY)", "admin", "any …")]
    assert configured not in stored_values(db)


def test_initial_admin_key_generated_once(db: Database) -> None:
    with db.transaction() as session:
        plaintext = ensure_initial_admin_key(session, None)
    assert plaintext is not None
    assert GENERATED.fullmatch(plaintext)
    with db.transaction() as session:
        assert ensure_initial_admin_key(session, None) is None
    with db.reading() as session:
        principal = authenticate(session, plaintext)
        assert principal is not None
        assert principal.scopes == frozenset({Scope.ADMIN})
        assert [k.name for k in list_api_keys(session)] == ["Initial admin key"]


def test_initial_admin_key_not_installed_when_keys_exist(db: Database) -> None:
    with db.transaction() as session:
        existing, _ = create_api_key(session, name="shop", scopes=["storefront"])
        revoke_api_key(session, existing.id)  # even a revoked key counts
    with db.transaction() as session:
        assert ensure_initial_admin_key(session, "configured-admin-key-0123456789") is None
        assert ensure_initial_admin_key(session, None) is None
    with db.reading() as session:
        assert authenticate(session, "configured-admin-key-0123456789") is None
        assert [k.id for k in list_api_keys(session)] == [existing.id]


# --- channel binding ----------------------------------------------------------------------


def configure_channels(db: Database, *refs: str) -> None:
    with db.transaction() as session:
        for ref in refs:
            upsert_channel(session, Outbox(default_registry()), ref, ChannelData())


def test_a_key_bound_to_channels_carries_them(db: Database) -> None:
    configure_channels(db, "web-uk", "web-us", "web-de")
    with db.transaction() as session:
        bound, bound_plain = create_api_key(
            session, name="uk shop", scopes=["storefront"], channels=["web-us", "web-uk", "web-us"]
        )
        unbound, unbound_plain = create_api_key(session, name="agents", scopes=["agent"])
    with db.reading() as session:
        assert session.get(ApiKey, bound.id).channels == ["web-uk", "web-us"]  # type: ignore[union-attr]
        assert session.get(ApiKey, unbound.id).channels is None  # type: ignore[union-attr]
        assert authenticate(session, bound_plain) == Principal(
            api_key_id=bound.id,
            name="uk shop",
            scopes=frozenset({Scope.STOREFRONT}),
            channels=frozenset({"web-uk", "web-us"}),
        )
        principal = authenticate(session, unbound_plain)
    assert principal is not None
    assert principal.channels is None
    assert (principal.sees("web-de"), principal.sees("anything")) == (True, True)
    shop = Principal("key_1", "shop", frozenset({Scope.STOREFRONT}), frozenset({"web-uk"}))
    assert (shop.sees("web-uk"), shop.sees("web-us")) == (True, False)


def test_binding_an_unconfigured_channel_names_the_configured_ones(db: Database) -> None:
    configure_channels(db, "web-uk", "web-us")
    with pytest.raises(ChannelUnknown) as caught, db.transaction() as session:
        create_api_key(session, name="x", scopes=["storefront"], channels=["web-uk", "web-fr"])
    assert (caught.value.code, caught.value.status, caught.value.field) == (
        "channel_unknown",
        400,
        "channels",
    )
    assert caught.value.detail == (
        "channel 'web-fr' is not configured; configured channels: web-uk, web-us"
    )
    assert caught.value.extra == {"channel": "web-fr", "known_channels": ["web-uk", "web-us"]}
    assert count_keys(db) == 0


@pytest.mark.parametrize(
    ("scopes", "channels", "detail"),
    [
        (
            ["admin"],
            ["web-uk"],
            "An admin key sees every channel; it cannot be bound to channels.",
        ),
        (
            ["agent", "admin"],
            ["web-uk"],
            "An admin key sees every channel; it cannot be bound to channels.",
        ),
        (
            ["storefront"],
            [],
            "A channel binding needs at least one channel (leave it out for an unbound key).",
        ),
    ],
)
def test_pointless_bindings_are_refused(
    db: Database, scopes: list[str], channels: list[str], detail: str
) -> None:
    configure_channels(db, "web-uk")
    with pytest.raises(ApiKeyInvalid) as caught, db.transaction() as session:
        create_api_key(session, name="x", scopes=scopes, channels=channels)
    assert (caught.value.code, caught.value.field, caught.value.detail) == (
        "api_key_invalid",
        "channels",
        detail,
    )
    assert count_keys(db) == 0
