"""Large line-oriented bodies (batch transform's mini-batches, asynchronous inference's
payloads up to `SERVE_MAX_STREAM_MB`) answered as a stream.

The body is read once into one buffer; its records are decoded, tokenized and batched a chunk
at a time, a few chunks in flight so the batcher stays fed, and each chunk's answers are sent
as soon as it is done, in order. Memory holds the body once plus a few chunks, never all the
token ids. Headers go out before the work is done, so a record that cannot be read gets an
error line in its place (`{"error": ..., "type": ...}`) instead of failing the whole answer:
output line i still answers input record i, which batch transform's join relies on.
"""

from __future__ import annotations

import asyncio
import csv
import io
import time
from collections import deque
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import orjson
from starlette.requests import Request

from service.api import codecs
from service.api.errors import PayloadTooLarge, status_of
from service.backend.segmenter import Item
from service.core.errors import Overloaded, ServingError
from service.core.predictor import Predictor
from service.core.ranking import TextAnswer, rank, rank_multi_label
from service.settings import Settings

STREAM_ABOVE_BYTES = 1024 * 1024
"""Line-oriented bodies larger than this (or of unknown length) are streamed."""
CHUNK_TEXTS = 256
CHUNK_CHARS = 256 * 1024
"""A chunk ends at CHUNK_TEXTS texts or CHUNK_CHARS characters: a long text's encoding costs
about 100 bytes per token while it is tokenized, so chunks are bounded by size, not count."""
IN_FLIGHT = 4
RETRY_S = 0.05


def wants_stream(media: str, content_length: str | None) -> bool:
    if media not in (codecs.JSONLINES, codecs.CSV):
        return False
    return (
        not content_length
        or not content_length.isdigit()
        or int(content_length) > STREAM_ABOVE_BYTES
    )


async def read_once(request: Request, limit: int) -> bytearray:
    """The whole body in one buffer, refused (413) past `limit` bytes."""
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise PayloadTooLarge(f"body is over the {limit}-byte limit for streamed bodies")
    return body


@dataclass(slots=True)
class Record:
    """One input record: its texts, or why it cannot be read."""

    texts: list[Item]
    error: ServingError | None = None


def _lines(body: bytearray) -> Iterator[bytes]:
    start = 0
    while start < len(body):
        end = body.find(b"\n", start)
        end = len(body) if end < 0 else end
        yield bytes(body[start:end])
        start = end + 1


def records(
    body: bytearray, media: str, options: codecs.Options, max_chars: int
) -> Iterator[Record]:
    """Records in input order, one per non-blank line (one per CSV row)."""
    if media == codecs.CSV:
        rows = csv.reader(line.decode("utf-8", "replace") for line in _lines(body))
        for number, row in enumerate(rows, start=1):
            if not row:
                continue
            try:
                item = codecs.csv_item(row, options, number)
            except ServingError as exc:
                yield Record([], exc)
                continue
            yield _checked([item], max_chars)
        return
    for number, line in enumerate(_lines(body), start=1):
        if not line.strip():
            continue
        try:
            texts = codecs.texts_of_line(line, options, f"line {number}")
        except ServingError as exc:
            yield Record([], exc)
            continue
        yield _checked(texts, max_chars)


def _checked(texts: list[Item], max_chars: int) -> Record:
    try:
        codecs.check_texts(texts, max_chars)
    except ServingError as exc:
        return Record([], exc)
    return Record(texts)


async def answer_stream(
    predictor: Predictor,
    settings: Settings,
    items: Iterator[Record],
    options: codecs.Options,
    accept: str,
) -> AsyncIterator[bytes]:
    """Encoded answers, chunk by chunk, in input order."""
    pending: deque[asyncio.Task[bytes]] = deque()
    first = True
    if accept == codecs.JSON:
        yield b"["
    try:
        # A chunk larger than the queue could never be admitted.
        size = max(1, min(CHUNK_TEXTS, predictor.plan.batch.max_queue_texts // 2))
        while True:
            chunk = _take(items, size)
            if chunk:
                pending.append(
                    asyncio.create_task(_answer(predictor, settings, chunk, options, accept))
                )
            if pending and (len(pending) >= IN_FLIGHT or not chunk):
                encoded = await pending.popleft()
                if accept == codecs.JSON and encoded:
                    encoded = encoded if first else b"," + encoded
                    first = False
                yield encoded
            elif not chunk:
                break
    finally:
        for task in pending:
            task.cancel()
    if accept == codecs.JSON:
        yield b"]"


def _take(items: Iterator[Record], texts: int) -> list[Record]:
    chunk: list[Record] = []
    count = chars = 0
    for record in items:
        chunk.append(record)
        count += len(record.texts)
        chars += sum(map(len, record.texts))
        if count >= texts or chars >= CHUNK_CHARS:
            break
    return chunk


async def _answer(
    predictor: Predictor,
    settings: Settings,
    chunk: list[Record],
    options: codecs.Options,
    accept: str,
) -> bytes:
    texts = [text for record in chunk if record.error is None for text in record.texts]
    answers: list[TextAnswer] = []
    failure: ServingError | None = None
    if texts:
        try:
            answers = await _predict(predictor, settings, texts, options)
        except (
            ServingError
        ) as exc:  # the whole chunk failed (deadline, inference): say so per record
            failure = exc
    rows: list[TextAnswer | dict[str, object]] = []
    position = 0
    for record in chunk:
        error = record.error or failure
        if error is not None:
            rows.append(_error_row(error))
            position += 0 if record.error else len(record.texts)
            continue
        count = len(record.texts)
        mine = answers[position : position + count]
        position += count
        rows.append(mine[0] if count == 1 else list(mine))  # type: ignore[arg-type]
    return _encode(rows, accept)


async def _predict(
    predictor: Predictor, settings: Settings, texts: list[Item], options: codecs.Options
) -> list[TextAnswer]:
    """One chunk, waiting for room in the queue instead of failing: a stream applies back
    pressure rather than shedding its own records."""
    give_up = time.perf_counter() + settings.request_timeout_s
    while True:
        deadline = time.perf_counter() + settings.request_timeout_s
        try:
            result = await predictor.predict(texts, deadline, options.truncation)
            break
        except Overloaded:
            if time.perf_counter() > give_up:
                raise
            await asyncio.sleep(RETRY_S)
    if result.multi_label:
        threshold = settings.threshold if options.threshold is None else options.threshold
        return rank_multi_label(result.scores, result.labels, options.top_k, threshold)
    return rank(result.scores, result.labels, options.top_k, options.return_all_scores)


def _error_row(error: ServingError) -> dict[str, object]:
    status, kind = status_of(error)
    return {"error": error.message, "type": kind, "status": status}


def _encode(rows: list[TextAnswer | dict[str, object]], accept: str) -> bytes:
    if accept == codecs.JSON:
        return orjson.dumps(rows)[1:-1]
    if accept == codecs.CSV:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        for row in rows:
            if isinstance(row, dict) and "error" in row:
                writer.writerow(["ERROR", row["type"], row["error"]])
            else:
                writer.writerow(codecs.csv_fields(row))
        return out.getvalue().encode("utf-8")
    return b"".join(orjson.dumps(row) + b"\n" for row in rows)
