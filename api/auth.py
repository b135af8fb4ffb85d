"""API keys: SHA-256 digests in settings, presented as `x-api-key` or `Authorization: Bearer`."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable

from flask import Request

from api.errors import ApiError

# Probes must work without a key: liveness, readiness, SageMaker's ping, and V2 health.
OPEN_ENDPOINTS = frozenset({"health.health", "health.ready", "sagemaker.ping", "v2.live", "v2.ready"})


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


def check_api_key(request: Request, digests: tuple[str, ...]) -> None:
    """Raise 401 unless the request presents a key whose SHA-256 is in `digests` (constant-time compare)."""
    key = presented_key(request.headers.get)
    if key is None:
        raise ApiError(401, "unauthorized", "missing API key: send x-api-key or Authorization: Bearer")
    if not key_matches(key, digests):
        raise ApiError(401, "unauthorized", "invalid API key")
