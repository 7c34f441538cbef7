"""The serving core's own errors. They say what went wrong, not how HTTP reports it: the API
layer maps each type to a status in one table (service/api/errors.py)."""

from __future__ import annotations


class ServingError(Exception):
    """A request could not be served; `retry_after_s` when trying again later may work."""

    def __init__(self, message: str, *, retry_after_s: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after_s = retry_after_s


class Overloaded(ServingError):
    """The queue is full or too slow to meet the deadline: shed now rather than answer late."""

    def __init__(self, message: str, *, retry_after_s: int | None = 1) -> None:
        super().__init__(message, retry_after_s=retry_after_s)


class NotReady(ServingError):
    """The model is loading, warming up, broken, or the server is draining."""

    def __init__(self, message: str, *, retry_after_s: int | None = 5) -> None:
        super().__init__(message, retry_after_s=retry_after_s)


class DeadlineExceeded(ServingError):
    """No answer within the request's deadline."""


class InferenceFailed(ServingError):
    """The batch this request was in failed; other requests are unaffected."""


class TextTooLong(ServingError):
    """A text is longer than the model takes and the policy is `error`."""


class ClientGone(ServingError):
    """The client closed its connection while its texts waited: they leave the queue."""


class ModelNotLoaded(ServingError):
    """A multi-model server has no model of that name (never loaded, or unloaded)."""


class ModelExists(ServingError):
    """A multi-model server already holds a model of that name."""


class InsufficientMemory(ServingError):
    """Loading this model would pass the server's memory budget (SageMaker unloads one and
    retries)."""


class InvalidArtifact(ServingError):
    """The artifact to load is missing or cannot be served; one line says what is wrong."""
