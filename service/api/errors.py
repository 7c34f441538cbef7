"""Errors at the HTTP edge, and the one table that maps the core's errors to statuses.

Every error reaches clients as `{"error": message, "type": kind}`, never as a traceback.
"""

from __future__ import annotations

from service.core.errors import (
    ClientGone,
    DeadlineExceeded,
    InferenceFailed,
    InsufficientMemory,
    InvalidArtifact,
    ModelExists,
    ModelNotLoaded,
    NotReady,
    Overloaded,
    ServingError,
    TextTooLong,
)


class ApiError(ServingError):
    """A fault in the request itself (body, headers), raised by the API layer."""

    status = 400
    kind = "bad_request"


class BadRequest(ApiError):
    status, kind = 400, "bad_request"


class PayloadTooLarge(ApiError):
    status, kind = 413, "payload_too_large"


class UnsupportedMediaType(ApiError):
    status, kind = 415, "unsupported_media_type"


class NotAcceptable(ApiError):
    status, kind = 406, "not_acceptable"


class EmptyText(ApiError):
    status, kind = 422, "empty_text"


class NotFound(ApiError):
    """A model name this server does not serve (the compatible routes take one)."""

    status, kind = 404, "model_not_found"


# The core's errors as HTTP: (status, stable word for the `type` field).
CORE_STATUS: dict[type[ServingError], tuple[int, str]] = {
    Overloaded: (503, "overloaded"),
    NotReady: (503, "not_ready"),
    DeadlineExceeded: (504, "deadline_exceeded"),
    InferenceFailed: (500, "inference_failed"),
    TextTooLong: (422, "text_too_long"),
    ClientGone: (499, "client_closed_request"),  # nobody reads it; for the log and metrics
    # Multi-model endpoints (AWS: "Custom containers contract for multi-model endpoints").
    ModelNotLoaded: (404, "model_not_loaded"),
    ModelExists: (409, "model_already_loaded"),
    InsufficientMemory: (507, "insufficient_memory"),
    InvalidArtifact: (400, "invalid_artifact"),
}
INTERNAL = (500, "internal_error")


def status_of(error: ServingError) -> tuple[int, str]:
    """HTTP status and kind of any serving error."""
    if isinstance(error, ApiError):
        return error.status, error.kind
    return CORE_STATUS.get(type(error), INTERNAL)
