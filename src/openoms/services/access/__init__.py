"""The access area: the names other areas, the API and the worker may use."""

from openoms.services.access.keys import (
    Principal,
    Scope,
    authenticate,
    create_api_key,
    ensure_initial_admin_key,
    get_api_key,
    hash_key,
    is_plausible_key,
    list_api_keys,
    revoke_api_key,
)

__all__ = [
    "Principal",
    "Scope",
    "authenticate",
    "create_api_key",
    "ensure_initial_admin_key",
    "get_api_key",
    "hash_key",
    "is_plausible_key",
    "list_api_keys",
    "revoke_api_key",
]
