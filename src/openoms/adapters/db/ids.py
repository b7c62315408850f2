"""Time-ordered public ids: a short prefix naming the kind, then a 26-character ULID.

Ids sort by creation time, which keyset (cursor) pagination and "oldest first" listings rely
on. Within one process they are strictly increasing (a monotonic ULID): two ids made in the
same millisecond sort in the order they were made instead of by their random part, and a
clock that steps back does not make an id sort before an earlier one.
"""

from __future__ import annotations

import os
import threading
import time

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford base32
_RANDOM_BITS = 80
_lock = threading.Lock()
_last = 0


def new_id(prefix: str) -> str:
    global _last
    fresh = (time.time_ns() // 1_000_000) << _RANDOM_BITS | int.from_bytes(os.urandom(10), "big")
    with _lock:
        # Same millisecond (or a clock stepped back): one past the previous id.
        value = _last = max(fresh, _last + 1)
    chars = []
    for _ in range(26):
        value, digit = divmod(value, 32)
        chars.append(_ALPHABET[digit])
    return f"{prefix}_{''.join(reversed(chars))}"
