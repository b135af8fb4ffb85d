"""API keys: SHA-256 digests in settings, presented as `x-api-key` or `Authorization: Bearer`."""

from __future__ import annotations

import hashlib
import hmac

from flask import Request

from api.errors import ApiError

# Probes must work without a key: liveness, readiness, SageMaker's ping, and V2 health.
OPEN_ENDPOINTS = frozenset({"health.health", "health.ready", "sagemaker.ping", "v2.live", "v2.ready"})


def presented_key(request: Request) -> str | None:
    """Return the key the request presents, if any."""
    key = request.headers.get("x-api-key")
    if key:
        return key
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return None


def check_api_key(request: Request, digests: tuple[str, ...]) -> None:
    """Raise 401 unless the request presents a key whose SHA-256 is in `digests` (constant-time compare)."""
    key = presented_key(request)
    if key is None:
        raise ApiError(401, "unauthorized", "missing API key: send x-api-key or Authorization: Bearer")
    digest = hashlib.sha256(key.encode("utf-8", "surrogateescape")).hexdigest()
    # Compare against every digest, so the time taken does not reveal which one matched.
    matched = False
    for accepted in digests:
        matched |= hmac.compare_digest(digest, accepted)
    if not matched:
        raise ApiError(401, "unauthorized", "invalid API key")
