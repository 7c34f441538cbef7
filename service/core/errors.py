"""One exception root that carries its HTTP status; every error reaches clients as
`{"error": message, "type": kind}` and never as a traceback."""

from __future__ import annotations


class ServiceError(Exception):
    """An error meant for the client: `status` is the HTTP status, `kind` a stable word."""

    status = 500
    kind = "internal_error"

    def __init__(self, message: str, *, retry_after_s: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after_s = retry_after_s


class BadRequest(ServiceError):
    status, kind = 400, "bad_request"


class PayloadTooLarge(ServiceError):
    status, kind = 413, "payload_too_large"


class UnsupportedMediaType(ServiceError):
    status, kind = 415, "unsupported_media_type"


class NotAcceptable(ServiceError):
    status, kind = 406, "not_acceptable"


class EmptyText(ServiceError):
    status, kind = 422, "empty_text"


class Overloaded(ServiceError):
    """The queue is full: shed now rather than answer late."""

    status, kind = 503, "overloaded"

    def __init__(self, message: str, *, retry_after_s: int | None = 1) -> None:
        super().__init__(message, retry_after_s=retry_after_s)


class NotReady(ServiceError):
    """The model is loading, warming up, broken, or the server is draining."""

    status, kind = 503, "not_ready"

    def __init__(self, message: str, *, retry_after_s: int | None = 5) -> None:
        super().__init__(message, retry_after_s=retry_after_s)


class DeadlineExceeded(ServiceError):
    status, kind = 504, "deadline_exceeded"


class InferenceFailed(ServiceError):
    """The batch this request was in failed; other requests are unaffected."""

    status, kind = 500, "inference_failed"
