"""HTTP endpoints. They only translate HTTP (bodies, content types, headers, statuses) and hand
the texts to the runtime; every error leaves as `{"error": ..., "type": ...}`."""

from __future__ import annotations

import logging
import time
import uuid

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import Response

from service.api import codecs
from service.core.errors import NotReady, PayloadTooLarge, ServiceError
from service.core.predictor import Runtime
from service.logs import request_id
from service.metrics import CONTENT_TYPE

log = logging.getLogger(__name__)
router = APIRouter()

CUSTOM_ATTRIBUTES = "x-amzn-sagemaker-custom-attributes"


def error_response(exc: ServiceError, rid: str | None = None) -> Response:
    headers = {"x-request-id": rid} if rid else {}
    if exc.retry_after_s is not None:
        headers["retry-after"] = str(exc.retry_after_s)
    return Response(
        codecs.error_body(exc.message, exc.kind), exc.status, headers, media_type=codecs.JSON
    )


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"body of {declared} bytes is over the {limit}-byte limit")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"body is over the {limit}-byte limit")
        chunks.append(chunk)
    return b"".join(chunks)


@router.get("/ping")
async def ping(request: Request) -> Response:
    runtime: Runtime = request.app.state.runtime
    if runtime.ready:
        return Response(status_code=200)
    return error_response(NotReady(runtime.not_ready_reason()))


@router.post("/invocations")
async def invocations(request: Request) -> Response:
    started = time.perf_counter()
    runtime: Runtime = request.app.state.runtime
    settings = runtime.settings
    headers = request.headers
    rid = headers.get("x-request-id") or uuid.uuid4().hex
    token = request_id.set(rid)
    try:
        accept = codecs.negotiate(headers.get("accept"))
        body = await _read_body(request, settings.max_payload_bytes)
        options = codecs.Options()
        attributes = headers.get(CUSTOM_ATTRIBUTES)
        codecs.parse_custom_attributes(attributes, options)
        decoded = codecs.decode(
            headers.get("content-type"), body, options, settings.max_texts_per_request
        )
        result = await runtime.predict(decoded.texts, started + settings.request_timeout_s)
        labels = runtime.model.labels if runtime.model else []
        content = codecs.encode(accept, codecs.predictions(result.probs, labels, decoded.options))
        out_headers = {
            "x-request-id": rid,
            "x-tokenization-time": f"{result.tokenize_s * 1000:.3f}",
            "x-queue-time": f"{result.queue_s * 1000:.3f}",
            "x-inference-time": f"{result.inference_s * 1000:.3f}",
        }
        if attributes:
            out_headers[CUSTOM_ATTRIBUTES] = attributes
        response = Response(content, 200, out_headers, media_type=accept)
        runtime.metrics.texts_per_request.observe(len(decoded.texts))
    except ServiceError as exc:
        log.warning("%d %s: %s", exc.status, exc.kind, exc.message)
        response = error_response(exc, rid)
    except Exception:
        log.exception("unexpected error")
        response = error_response(ServiceError("internal server error"), rid)
    finally:
        request_id.reset(token)
    runtime.metrics.requests.labels(str(response.status_code)).inc()
    runtime.metrics.request_seconds.observe(time.perf_counter() - started)
    return response


@router.get("/execution-parameters")
async def execution_parameters(request: Request) -> Response:
    """Batch transform's questions: how many concurrent requests, what batching, what size."""
    settings = request.app.state.runtime.settings
    return Response(
        orjson.dumps(
            {
                "MaxConcurrentTransforms": 8 * max(1, settings.workers),
                "BatchStrategy": "MULTI_RECORD",
                "MaxPayloadInMB": max(1, int(settings.max_payload_mb)),
            }
        ),
        media_type=codecs.JSON,
    )


@router.get("/metrics")
async def metrics(request: Request) -> Response:
    return Response(request.app.state.metrics.exposition(), media_type=CONTENT_TYPE)
