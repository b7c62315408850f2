"""Access: API keys — creating, listing and revoking them, their scopes and channel
binding, and checking a presented key (the API's authentication calls `authenticate`).

This is the area's face: other areas, the API, the CLI and the worker import only these
names.
"""

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
