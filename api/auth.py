"""API keys: SHA-256 digests in settings, presented as `x-api-key` or `Authorization: Bearer`.

Which routes need one is the route table's `auth` (`api.routes.table`); the check is `DataPlane.authenticate`.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable


def presented_key(header: Callable[[str], str | None]) -> str | None:
    """Return the key a request presents, if any; `header(name)` returns a request header's value or None."""
    key = header("x-api-key")
    if key:
        return key
    scheme, _, token = (header("Authorization") or "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return None


def key_matches(key: str, digests: tuple[str, ...]) -> bool:
    """Return whether the SHA-256 of `key` is one of `digests`, compared in constant time."""
    digest = hashlib.sha256(key.encode("utf-8", "surrogateescape")).hexdigest()
    # Compare against every digest, so the time taken does not reveal which one matched.
    matched = False
    for accepted in digests:
        matched |= hmac.compare_digest(digest, accepted)
    return matched
