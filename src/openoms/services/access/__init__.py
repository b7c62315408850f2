"""Access: API keys — creating, listing and revoking them, their scopes and channel
binding, and checking a presented key (the API's authentication calls `authenticate`);
console users, their roles and sign-in sessions (the console's authentication).

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
from openoms.services.access.people import (
    ConsoleIdentity,
    ConsoleRole,
    ConsoleUserExists,
    ConsoleUserInvalid,
    ConsoleUserNotFound,
    create_console_user,
    disable_console_user,
    ensure_console_user,
    list_console_users,
)
from openoms.services.access.sessions import (
    LOGIN_FAILURES,
    LOGIN_WINDOW,
    SESSION_HOURS,
    SignIn,
    session_identity,
    sign_in,
    sign_out,
    signing_secret,
)

__all__ = [
    "LOGIN_FAILURES",
    "LOGIN_WINDOW",
    "SESSION_HOURS",
    "ConsoleIdentity",
    "ConsoleRole",
    "ConsoleUserExists",
    "ConsoleUserInvalid",
    "ConsoleUserNotFound",
    "Principal",
    "Scope",
    "SignIn",
    "authenticate",
    "create_api_key",
    "create_console_user",
    "disable_console_user",
    "ensure_console_user",
    "ensure_initial_admin_key",
    "get_api_key",
    "hash_key",
    "is_plausible_key",
    "list_api_keys",
    "list_console_users",
    "revoke_api_key",
    "session_identity",
    "sign_in",
    "sign_out",
    "signing_secret",
]
