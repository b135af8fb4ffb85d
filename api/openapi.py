"""The OpenAPI 3.1 document of the HTTP contract (filled in by the OpenAPI work item)."""

from __future__ import annotations

from typing import Any


def openapi_document() -> dict[str, Any]:
    """Return the OpenAPI document."""
    return {"openapi": "3.1.0", "info": {"title": "Treeport", "version": "1"}, "paths": {}}
