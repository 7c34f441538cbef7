"""What the compatible routes (service/api/compat.py) hand their codecs: the predictor, the
settings and the served model's manifest, with the checks every shape shares."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from service.api import codecs
from service.api.errors import BadRequest, NotFound, PayloadTooLarge
from service.backend.artifact import Manifest
from service.backend.segmenter import Item, Policy
from service.core.predictor import Predictions, Predictor
from service.settings import Settings


@dataclass(frozen=True, slots=True)
class Call:
    """What a codec hands the route: a request's items and how to score them."""

    predictor: Predictor
    settings: Settings
    manifest: Manifest
    started: float

    async def predict(self, items: list[Item], truncation: Policy | None) -> Predictions:
        codecs.check_texts(items, self.settings.max_text_chars)
        if len(items) > self.settings.max_texts_per_request:
            raise PayloadTooLarge(
                f"{len(items)} texts in one request; the limit is "
                f"{self.settings.max_texts_per_request}"
            )
        return await self.predictor.predict(
            items,
            self.started + self.settings.request_timeout_s,
            truncation,
            arrival_admitted=True,
        )


def model_named(manifest: Manifest, name: str | None) -> None:
    """A request naming a model must name the one served (404 otherwise); none is fine."""
    if name is not None and name != manifest.model_name:
        raise NotFound(
            f"model {name!r} is not served here; this server serves {manifest.model_name!r}"
        )


def json_object(body: bytes) -> dict[str, Any]:
    """The body as a JSON object, or 400."""
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"body is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise BadRequest("body must be a JSON object")
    return value


def flag(body: dict[str, Any], name: str, default: bool = False) -> bool:
    value = body.get(name, default)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise BadRequest(f"{name} must be true or false, got {value!r}")
    return value


def positive_int(body: dict[str, Any], name: str) -> int | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise BadRequest(f"{name} must be a positive integer, got {value!r}")
    return value


def tokens_seen(result: Predictions) -> int:
    """Tokens the model ran for a request (every window, special tokens included)."""
    return sum(len(window) for text in result.texts for window in text.windows)
