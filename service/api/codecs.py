"""Request bodies to texts, labelled answers to response bodies.

Decoders are keyed by content type, encoders by the negotiated `Accept` type. The JSON shape is
the Hugging Face inference toolkit's: `{"inputs": "text" | ["a", "b"], "parameters": {...}}`
(or `{"instances": [...]}`) in, one entry per text out, in input order.

Sentence pairs take the Hugging Face pipeline's shape, `{"text": a, "text_pair": b}` in place
of a text (JSON and JSON Lines), or two columns in CSV (`a,b`); `truncation: only_second` (or
`longest_first`, the default) says how a pair too long is cut.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from service.api.errors import (
    BadRequest,
    EmptyText,
    NotAcceptable,
    PayloadTooLarge,
    UnsupportedMediaType,
)
from service.backend.segmenter import PAIR_TRUNCATIONS, POLICIES, Item, Pair, PairTruncation, Policy
from service.core.ranking import TextAnswer

JSON = "application/json"
JSONLINES = "application/jsonlines"
CSV = "text/csv"
PLAIN = "text/plain"

_MEDIA_ALIASES = {
    "application/x-jsonlines": JSONLINES,
    "application/jsonl": JSONLINES,
    "application/x-ndjson": JSONLINES,
}
# What a wildcard in Accept resolves to.
_WILDCARDS = {"*/*": JSON, "application/*": JSON, "text/*": CSV}


@dataclass(slots=True)
class Options:
    """Per-request options: top-1 by default, else the top k or every label's score; the
    long-text policy; the multi-label threshold; per-text details (tokens, truncation)."""

    top_k: int | None = None
    return_all_scores: bool = False
    truncation: Policy | None = None
    threshold: float | None = None
    details: bool = False
    pair_truncation: PairTruncation = "longest_first"

    def update(self, params: dict[str, Any], source: str) -> None:
        if "top_k" in params:
            top_k = params["top_k"]
            if top_k is not None and (
                isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1
            ):
                raise BadRequest(f"{source}: top_k must be a positive integer, got {top_k!r}")
            self.top_k = top_k
        for name in ("return_all_scores", "details"):
            if name in params:
                flag = params[name]
                if not isinstance(flag, bool):
                    raise BadRequest(f"{source}: {name} must be true or false, got {flag!r}")
                setattr(self, name, flag)
        if "truncation" in params:
            policy = params["truncation"]
            if policy in PAIR_TRUNCATIONS:  # the tokenizer's names: how a pair is cut
                self.pair_truncation = policy
            elif policy in POLICIES:
                self.truncation = policy
            else:
                raise BadRequest(
                    f"{source}: truncation must be one of "
                    f"{', '.join(POLICIES + PAIR_TRUNCATIONS)}, got {policy!r}"
                )
        if "threshold" in params:
            threshold = params["threshold"]
            if (
                isinstance(threshold, bool)
                or not isinstance(threshold, int | float)
                or not 0 <= threshold <= 1
            ):
                raise BadRequest(
                    f"{source}: threshold must be a number in [0, 1], got {threshold!r}"
                )
            self.threshold = float(threshold)


@dataclass(slots=True)
class Decoded:
    texts: list[Item]
    options: Options


def media_type(content_type: str | None) -> str:
    """`Application/JSON; charset=utf-8` -> `application/json`, aliases folded."""
    base = (content_type or "").split(";", 1)[0].strip().lower()
    return _MEDIA_ALIASES.get(base, base)


def _number(raw: str) -> object:
    try:
        return float(raw)
    except ValueError:
        return raw


def _flag(raw: str) -> object:
    return {"true": True, "false": False}.get(raw.lower(), raw)


_ATTRIBUTES: dict[str, Callable[[str], object]] = {
    "top_k": lambda raw: int(raw) if raw.isdigit() else raw,
    "return_all_scores": _flag,
    "details": _flag,
    "truncation": str,
    "threshold": _number,
}


def parse_custom_attributes(header: str | None, options: Options) -> None:
    """`X-Amzn-SageMaker-Custom-Attributes: top_k=3, return_all_scores=true, truncation=chunk,
    threshold=0.3, details=true` (separated by `,` or `;`)."""
    if not header:
        return
    params: dict[str, Any] = {}
    for part in header.replace(";", ",").split(","):
        key, sep, raw = part.partition("=")
        key, raw = key.strip(), raw.strip()
        if not sep or key not in _ATTRIBUTES:
            continue  # free-form by SageMaker's definition: ignore what is not ours
        params[key] = _ATTRIBUTES[key](raw)
    options.update(params, "X-Amzn-SageMaker-Custom-Attributes")


def pair_of(value: dict[str, Any], options: Options, where: str) -> Pair:
    """`{"text": a, "text_pair": b}`, the Hugging Face pipeline's pair."""
    text, text_pair = value.get("text"), value.get("text_pair")
    if not isinstance(text, str) or not isinstance(text_pair, str):
        raise BadRequest(f'{where}: a pair is {{"text": string, "text_pair": string}}')
    return Pair(text, text_pair, options.pair_truncation)


def _text_list(value: object, options: Options, where: str) -> list[Item]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [pair_of(value, options, where)]
    if isinstance(value, list) and value:
        if all(isinstance(v, str) for v in value):
            return value
        if all(isinstance(v, str | dict) for v in value):
            return [v if isinstance(v, str) else pair_of(v, options, where) for v in value]
    raise BadRequest(
        f'{where} must be a string, a {{"text", "text_pair"}} pair, or a non-empty list of them'
    )


def _instance_texts(instances: object, options: Options) -> list[Item]:
    if not isinstance(instances, list) or not instances:
        raise BadRequest('"instances" must be a non-empty list')
    texts: list[Item] = []
    for item in instances:
        if isinstance(item, dict):
            if "text_pair" in item:
                texts.append(pair_of(item, options, '"instances"'))
                continue
            item = item.get("inputs", item.get("text"))
        if not isinstance(item, str):
            raise BadRequest('"instances" items must be strings or {"inputs": string} objects')
        texts.append(item)
    return texts


def _from_object(body: object, options: Options, where: str) -> list[Item]:
    if not isinstance(body, dict):
        raise BadRequest(f'{where} must be a JSON object with "inputs" or "instances"')
    if "parameters" in body:
        params = body["parameters"]
        if not isinstance(params, dict):
            raise BadRequest(f'{where}: "parameters" must be an object')
        options.update(params, f"{where}: parameters")
    if "inputs" in body:
        return _text_list(body["inputs"], options, f'{where}: "inputs"')
    if "instances" in body:
        return _instance_texts(body["instances"], options)
    raise BadRequest(f'{where} has neither "inputs" nor "instances"')


def _loads(raw: bytes | str, where: str) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"{where} is not valid JSON: {exc}") from None


def _decode_json(body: bytes, options: Options) -> list[Item]:
    return _from_object(_loads(body, "body"), options, "body")


def texts_of_line(line: bytes, options: Options, where: str) -> list[Item]:
    """The texts of one JSON Lines record (`{"inputs": ...}`, `{"text": ...}`, a pair
    `{"text": ..., "text_pair": ...}` or a bare string; other fields, such as an id that batch
    transform joins on, are ignored)."""
    value = _loads(line, where)
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict) and "text" in value and "inputs" not in value:
        if "text_pair" in value:
            return [pair_of(value, options, where)]
        return _text_list(value["text"], options, f'{where}: "text"')
    return _from_object(value, options, where)


def _decode_jsonlines(body: bytes, options: Options) -> list[Item]:
    texts: list[Item] = []
    for number, line in enumerate(body.splitlines(), start=1):
        if line.strip():
            texts.extend(texts_of_line(line, options, f"line {number}"))
    return texts


def _utf8(body: bytes) -> str:
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        raise BadRequest("body is not valid UTF-8") from None


def csv_item(row: list[str], options: Options, number: int) -> Item:
    """One CSV row: a text, or two columns, a pair."""
    if len(row) == 2:
        return Pair(row[0], row[1], options.pair_truncation)
    if len(row) > 2:
        raise BadRequest(
            f"CSV line {number}: one text (or two, a pair) per line; quote texts with commas"
        )
    return row[0]


def _decode_csv(body: bytes, options: Options) -> list[Item]:
    texts: list[Item] = []
    try:
        for number, row in enumerate(csv.reader(io.StringIO(_utf8(body))), start=1):
            if row:
                texts.append(csv_item(row, options, number))
    except csv.Error as exc:
        raise BadRequest(f"malformed CSV: {exc}") from None
    return texts


def _decode_plain(body: bytes, options: Options) -> list[Item]:
    return [_utf8(body)]


_DECODERS: dict[str, Callable[[bytes, Options], list[Item]]] = {
    JSON: _decode_json,
    "": _decode_json,  # no Content-Type: SageMaker's default is JSON
    JSONLINES: _decode_jsonlines,
    CSV: _decode_csv,
    PLAIN: _decode_plain,
}


def decode(
    content_type: str | None,
    body: bytes,
    options: Options,
    max_texts: int,
    max_chars: int = 200_000,
) -> Decoded:
    decoder = _DECODERS.get(media_type(content_type))
    if decoder is None:
        supported = ", ".join(sorted(k for k in _DECODERS if k))
        raise UnsupportedMediaType(
            f"Content-Type {content_type!r} is not supported; use {supported}"
        )
    texts = decoder(body, options)
    if not texts:
        raise BadRequest("the request holds no text")
    if len(texts) > max_texts:
        raise PayloadTooLarge(f"{len(texts)} texts in one request; the limit is {max_texts}")
    check_texts(texts, max_chars)
    return Decoded(texts, options)


def check_texts(texts: list[Item], max_chars: int) -> None:
    """Refuse an empty text (either half of a pair) or one over `max_chars` characters."""
    for index, item in enumerate(texts):
        for text in (item,) if isinstance(item, str) else (item.text, item.text_pair):
            if not text.strip():
                raise EmptyText(f"text {index} is empty")
            if len(text) > max_chars:
                raise PayloadTooLarge(
                    f"text {index} has {len(text)} characters; the limit is {max_chars} per text"
                )


def negotiate(accept: str | None) -> str:
    """The response media type for an Accept header; JSON when absent or a wildcard."""
    if not accept or not accept.strip():
        return JSON
    ranked: list[tuple[float, int, str]] = []
    for position, entry in enumerate(accept.split(",")):
        kind, *params = (p.strip() for p in entry.split(";"))
        quality = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if quality > 0:
            ranked.append((-quality, position, kind.lower()))
    for _, _, kind in sorted(ranked):
        kind = _WILDCARDS.get(kind, _MEDIA_ALIASES.get(kind, kind))
        if kind in _ENCODERS:
            return kind
    raise NotAcceptable(f"Accept {accept!r} cannot be met; available: {', '.join(_ENCODERS)}")


def _encode_json(preds: list[TextAnswer]) -> bytes:
    return orjson.dumps(preds)


def _encode_jsonlines(preds: list[TextAnswer]) -> bytes:
    return b"".join(orjson.dumps(p) + b"\n" for p in preds)


def csv_fields(answer: TextAnswer) -> list[str]:
    """One text's CSV row: `label,score[,label,score...]` (a multi-label answer: every label
    it scored, highest first)."""
    if isinstance(answer, dict) and "scores" in answer:
        answer = answer["scores"]
    pairs = answer if isinstance(answer, list) else [answer]
    return [field for p in pairs for field in (p["label"], repr(p["score"]))]


def _encode_csv(preds: list[TextAnswer]) -> bytes:
    """One line per text: `label,score` (or `label,score,label,score,...` for several)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    for pred in preds:
        writer.writerow(csv_fields(pred))
    return out.getvalue().encode("utf-8")


_ENCODERS: dict[str, Callable[[list[TextAnswer]], bytes]] = {
    JSON: _encode_json,
    JSONLINES: _encode_jsonlines,
    CSV: _encode_csv,
}


def encode(media: str, preds: list[TextAnswer]) -> bytes:
    return _ENCODERS[media](preds)


def error_body(message: str, kind: str) -> bytes:
    return orjson.dumps({"error": message, "type": kind})
