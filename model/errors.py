"""The error families of the model layer.

`UserError` is bad configuration or data (CLI exit code 2), `PlatformError` a failure of the
store or network after retries, `ModelRejected` a model refused by the gate or the parity check
(exit code 3). Each carries a stable `code` string and an HTTP status for the API layer.
"""

from __future__ import annotations

from typing import Any


class TreeportError(Exception):
    """Base of every error Treeport raises on purpose."""

    code = "internal_error"
    status = 500
    exit_code = 1

    def __init__(self, message: str, details: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or []


class UserError(TreeportError):
    """Bad configuration or data supplied by the user."""

    code = "user_error"
    status = 400
    exit_code = 2


class DataError(UserError):
    """A data file or its contents cannot be used (names the file, column and value)."""

    code = "bad_data"


class SchemaError(UserError):
    """A schema file or an inferred schema is invalid."""

    code = "bad_schema"


class ValidationError(UserError):
    """Records do not match the model's schema; `details` lists each row/field problem."""

    code = "schema_violation"
    status = 422


class NotFound(UserError):
    """A model, version or store object does not exist."""

    code = "not_found"
    status = 404


class BundleIntegrityError(UserError):
    """A bundle's files do not match the checksums in its manifest."""

    code = "bundle_integrity"
    status = 500


class PlatformError(TreeportError):
    """The store or network failed after retries."""

    code = "platform_error"
    status = 503


class ModelRejected(TreeportError):
    """A trained model failed the quality gate or the daal4py parity check; it is not published."""

    code = "model_rejected"
    exit_code = 3
