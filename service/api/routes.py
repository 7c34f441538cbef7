"""HTTP endpoints. They only translate HTTP (bodies, content types, headers, statuses) and hand
the texts to the predictor; every error leaves as `{"error": ..., "type": ...}`."""

from __future__ import annotations

import asyncio
import logging
import os
import time

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse
from starlette.datastructures import Headers
from starlette.requests import ClientDisconnect

from service.api import codecs, streaming
from service.api.errors import BadRequest, PayloadTooLarge, status_of
from service.core.errors import NotReady, Overloaded, ServingError
from service.core.predictor import Predictor
from service.core.ranking import rank, rank_multi_label, with_details
from service.logs import request_id
from service.metrics import CONTENT_TYPE, Metrics
from service.models.model_set import ModelSet
from service.settings import Settings

log = logging.getLogger(__name__)
router = APIRouter()

CUSTOM_ATTRIBUTES = "x-amzn-sagemaker-custom-attributes"
TARGET_MODEL = "x-amzn-sagemaker-target-model"
OLD_TARGET_MODEL = "x-amzn-target-model"


def error_response(
    exc: ServingError, rid: str | None = None, status: tuple[int, str] | None = None
) -> Response:
    code, kind = status or status_of(exc)
    headers = {"x-request-id": rid} if rid else {}
    if exc.retry_after_s is not None:
        headers["retry-after"] = str(exc.retry_after_s)
    return Response(codecs.error_body(exc.message, kind), code, headers, media_type=codecs.JSON)


# A refused request's body is still read, up to this much, before the answer: a client that is
# still sending when the server answers and closes sees a reset, not the 413 or 503 (Python's
# urllib, for one). Past it the server answers anyway and closes the connection.
DISCARD_LIMIT = 64 * 1024 * 1024


async def _discard_body(request: Request) -> None:
    """Read and drop what is left of the body, up to DISCARD_LIMIT bytes."""
    seen = 0
    try:
        async for chunk in request.stream():
            seen += len(chunk)
            if seen > DISCARD_LIMIT:
                return
    except (ClientDisconnect, RuntimeError):  # gone, or the stream was already consumed
        return


async def read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        await _discard_body(request)
        raise PayloadTooLarge(f"body of {declared} bytes is over the {limit}-byte limit")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            await _discard_body(request)
            raise PayloadTooLarge(f"body is over the {limit}-byte limit")
        chunks.append(chunk)
    return b"".join(chunks)


async def _client_gone(request: Request) -> None:
    """Returns when the client has closed the connection (its body is read by now, so the
    next ASGI message is the disconnect)."""
    try:
        while (await request.receive())["type"] != "http.disconnect":
            pass
    except Exception:  # any failure to listen means: not known to be gone
        await asyncio.Event().wait()


@router.get("/ping")
async def ping(request: Request) -> Response:
    models: ModelSet | None = request.app.state.models
    if models is not None:  # multi-model: healthy with no model loaded, until it drains
        if models.draining:
            return error_response(NotReady("the server is draining"))
        return Response(status_code=200)
    predictor: Predictor = request.app.state.predictor
    if predictor.ready:
        return Response(status_code=200)
    return error_response(NotReady(predictor.not_ready_reason()))


@router.post("/invocations")
async def invocations(request: Request) -> Response:
    return await invoke(request)


async def invoke(request: Request, model: str | None = None) -> Response:
    """`model`: the target model on a multi-model server (POST /models/{name}/invoke, or the
    target-model header on /invocations); None on a single-model server."""
    started = time.perf_counter()
    metrics: Metrics = request.app.state.metrics
    headers = request.headers
    rid = headers.get("x-request-id") or os.urandom(16).hex()  # a uuid4's entropy, cheaper
    token = request_id.set(rid)
    predictor: Predictor | None = request.app.state.predictor
    try:
        if request.app.state.models is not None:
            model = model or target_model(headers)
            predictor = await request.app.state.models.predictor(model)
        assert predictor is not None
        response = await _invocations(request, rid, started, predictor)
    except ServingError as exc:
        status, kind = status_of(exc)
        log.warning("%d %s: %s", status, kind, exc.message)
        response = error_response(exc, rid)
        if isinstance(exc, Overloaded) and exc.retry_after_s and predictor is not None:
            # A client that retried before Retry-After waits it out here, at no CPU cost.
            hold = predictor.retry_hold.hold_s(request.scope.get("client"), exc.retry_after_s)
            if hold:
                await asyncio.sleep(hold)
    except Exception:
        log.exception("unexpected error")
        response = error_response(ServingError("internal server error"), rid)
    finally:
        request_id.reset(token)
    seconds = time.perf_counter() - started
    # Time inside the server, on every answer (a shed one too): clients can tell the server's
    # part of a latency from the network's.
    response.headers["x-server-time"] = f"{seconds * 1000:.3f}"
    metrics.requests.labels(str(response.status_code)).inc()
    metrics.request_seconds.observe(seconds)
    if model is not None:
        request.app.state.model_metrics.request(model, response.status_code, seconds)
    return response


def header_model(headers: Headers) -> str | None:
    """The model SageMaker's target-model header names (or its older name), if any."""
    return headers.get(TARGET_MODEL) or headers.get(OLD_TARGET_MODEL)


def target_model(headers: Headers) -> str:
    """The model an /invocations request names on a multi-model server, logged; 400 without
    one."""
    name = header_model(headers)
    log.debug("target model %s", name)
    if not name:
        raise BadRequest(
            f"a multi-model server needs the model: {TARGET_MODEL} or /models/NAME/invoke"
        )
    return name


async def _invocations(
    request: Request, rid: str, started: float, predictor: Predictor
) -> Response:
    """Body to answers; raises ServingError for anything the client should hear about."""
    state = request.app.state
    settings: Settings = state.settings
    headers = request.headers
    accept = codecs.negotiate(headers.get("accept"))
    # Shed before reading, parsing and tokenizing the body, and answer at once: uvicorn reads
    # and drops the rest of the body after the answer, so the connection stays usable and a
    # client still sending reads the 503. (Waiting for the body first made a 503 wait on the
    # client: p99 8-12 ms inside the server under 3x overload, the loop itself mostly idle.)
    predictor.admit()
    options = codecs.Options()
    attributes = headers.get(CUSTOM_ATTRIBUTES)
    codecs.parse_custom_attributes(attributes, options)
    out_headers = {"x-request-id": rid}
    if attributes:
        out_headers[CUSTOM_ATTRIBUTES] = attributes
    media = codecs.media_type(headers.get("content-type"))
    if streaming.wants_stream(media, headers.get("content-length")):
        whole = await streaming.read_once(request, settings.max_stream_bytes)
        items = streaming.records(whole, media, options, settings.max_text_chars)
        chunks = streaming.answer_stream(predictor, settings, items, options, accept)
        return StreamingResponse(chunks, 200, out_headers, media_type=accept)
    body = await read_body(request, settings.max_payload_bytes)
    decoded = codecs.decode(
        headers.get("content-type"),
        body,
        options,
        settings.max_texts_per_request,
        settings.max_text_chars,
    )
    result = await predictor.predict(
        decoded.texts,
        started + settings.request_timeout_s,
        options.truncation,
        arrival_admitted=True,
        gone=lambda: _client_gone(request),
    )
    if result.multi_label:
        threshold = settings.threshold if options.threshold is None else options.threshold
        answers = rank_multi_label(result.scores, result.labels, options.top_k, threshold)
    else:
        answers = rank(result.scores, result.labels, options.top_k, options.return_all_scores)
    if options.details:
        texts = result.texts
        answers = with_details(
            answers,
            [t.tokens for t in texts],
            [t.truncated for t in texts],
            [len(t.windows) for t in texts],
        )
    out_headers.update(
        {
            "x-truncated-texts": str(result.truncated),
            "x-tokenization-time": f"{result.tokenize_s * 1000:.3f}",
            "x-queue-time": f"{result.queue_s * 1000:.3f}",
            "x-inference-time": f"{result.inference_s * 1000:.3f}",
        }
    )
    state.metrics.texts_per_request.observe(len(decoded.texts))
    return Response(codecs.encode(accept, answers), 200, out_headers, media_type=accept)


@router.get("/execution-parameters")
async def execution_parameters(request: Request) -> Response:
    """Batch transform's questions: how many concurrent requests, what batching, what size."""
    settings: Settings = request.app.state.settings
    workers = request.app.state.plan.workers
    return Response(
        orjson.dumps(
            {
                "MaxConcurrentTransforms": 8 * max(1, workers),
                "BatchStrategy": "MULTI_RECORD",
                "MaxPayloadInMB": max(1, int(settings.max_payload_mb)),
            }
        ),
        media_type=codecs.JSON,
    )


@router.get("/metrics")
async def metrics(request: Request) -> Response:
    return Response(request.app.state.metrics.exposition(), media_type=CONTENT_TYPE)
