"""The API shapes other tools already speak, as thin routes over the same predictor and batcher
as `/invocations`: vLLM's `/classify`, TEI's `/predict` and `/rerank` (which also takes Cohere's
and Jina's field names), and the Open Inference Protocol v2 (Triton, KServe, MLServer clients).

Each shape's request and answer live in its own codec module (vllm, tei, rerank, oip); a route
here only admits the request (before its body is read, as `/invocations` does), reads the body,
hands the items to the predictor and returns the codec's bytes. Errors leave in the server's
one JSON shape, `{"error": ..., "type": ...}`, with the status of service/api/errors.py.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Awaitable, Callable

from fastapi import APIRouter, Request
from fastapi.responses import Response

from service.api import codecs, oip, rerank, tei, vllm
from service.api.call import Call, json_object, model_named
from service.api.errors import BadRequest, NotFound, status_of
from service.api.routes import error_response, header_model, read_body
from service.backend.artifact import Manifest
from service.core.errors import NotReady, ServingError
from service.core.predictor import Predictor
from service.logs import request_id
from service.metrics import Metrics
from service.settings import Settings

log = logging.getLogger(__name__)
router = APIRouter()


Handler = Callable[[Call, bytes], Awaitable[bytes | Response]]
"""A codec's work: JSON bytes, or a whole Response where the shape needs its own headers."""


async def serve(
    request: Request, handler: Handler, *, read: bool = True, model: str | None = None
) -> Response:
    """Admit, read the body, run the codec's handler; every error in the server's JSON shape.
    `read=False`: a metadata GET, neither shed nor read. `model`: the name in the path (OIP v2)."""
    started = time.perf_counter()
    state = request.app.state
    settings: Settings = state.settings
    metrics: Metrics = state.metrics
    rid = request.headers.get("x-request-id") or os.urandom(16).hex()
    token = request_id.set(rid)
    try:
        if state.models is not None:
            predictor, manifest, body = await _of_many(request, read, model)
        else:
            predictor = state.predictor
            if read:
                predictor.admit()  # shed before reading the body, as /invocations does
            manifest = predictor.manifest
            if manifest is None:
                raise NotReady(predictor.not_ready_reason())
            body = await read_body(request, settings.max_payload_bytes) if read else b""
        answer = await handler(Call(predictor, settings, manifest, started), body)
        if isinstance(answer, Response):
            response = answer
            response.headers["x-request-id"] = rid
        else:
            response = Response(answer, 200, {"x-request-id": rid}, media_type=codecs.JSON)
    except ServingError as exc:
        status, kind = status_of(exc)
        log.warning("%s %d %s: %s", request.url.path, status, kind, exc.message)
        response = error_response(exc, rid)
    except Exception:
        log.exception("unexpected error")
        response = error_response(ServingError("internal server error"), rid)
    finally:
        request_id.reset(token)
    seconds = time.perf_counter() - started
    response.headers["x-server-time"] = f"{seconds * 1000:.3f}"
    metrics.requests.labels(str(response.status_code)).inc()
    metrics.request_seconds.observe(seconds)
    return response


async def _of_many(
    request: Request, read: bool, model: str | None
) -> tuple[Predictor, Manifest, bytes]:
    """On a multi-model server: the model a request names (the path, the target-model header,
    or the body's `model` field), its predictor, and its manifest under the name it was loaded
    as (what the codecs compare and answer with)."""
    state = request.app.state
    body = await read_body(request, state.settings.max_payload_bytes) if read else b""
    name = model or header_model(request.headers)
    if name is None and body:
        named = json_object(body).get("model")
        name = named if isinstance(named, str) else None
    if not name:
        raise BadRequest('a multi-model server needs the model: a "model" field or the path')
    predictor: Predictor = await state.models.predictor(name)
    if read:
        predictor.admit()
    manifest = predictor.manifest
    if manifest is None:
        raise NotReady(predictor.not_ready_reason())
    return predictor, manifest.model_copy(update={"model_name": name}), body


@router.post("/classify")
async def classify(request: Request) -> Response:
    """vLLM's classification API (Dynamo and LiteLLM speak it too)."""
    return await serve(request, vllm.answer)


@router.post("/predict")
async def predict(request: Request) -> Response:
    """TEI's sequence-classification API."""
    return await serve(request, tei.answer)


@router.post("/rerank")
async def rerank_route(request: Request) -> Response:
    """TEI's rerank API, with Cohere's and Jina's field names and answer shape."""
    return await serve(request, rerank.answer)


@router.post("/v1/rerank")
async def rerank_v1(request: Request) -> Response:
    """Cohere's (v1) and Jina's path for the same."""
    return await serve(request, rerank.answer)


@router.post("/v2/rerank")
async def rerank_v2(request: Request) -> Response:
    """Cohere's v2 path for the same."""
    return await serve(request, rerank.answer)


# Open Inference Protocol v2 (REST). Health answers whatever the model's state; the model's
# own routes say 404 for a name not served.


@router.get("/v2")
async def v2_server(request: Request) -> Response:
    return Response(oip.server_metadata(), media_type=codecs.JSON)


@router.get("/v2/health/live")
async def v2_live(request: Request) -> Response:
    return Response(status_code=200)


@router.get("/v2/health/ready")
async def v2_ready(request: Request) -> Response:
    if request.app.state.models is not None:
        return Response(status_code=200)
    predictor: Predictor = request.app.state.predictor
    if predictor.ready:
        return Response(status_code=200)
    return error_response(NotReady(predictor.not_ready_reason()))


@router.get("/v2/models/{name}")
async def v2_model(request: Request, name: str) -> Response:
    async def metadata(call: Call, body: bytes) -> bytes | Response:
        model_named(call.manifest, name)
        return oip.model_metadata(call.manifest)

    return await serve(request, metadata, read=False, model=name)


@router.get("/v2/models/{name}/ready")
async def v2_model_ready(request: Request, name: str) -> Response:
    if request.app.state.models is not None:
        if request.app.state.models.registry.get(name) is None:
            return error_response(NotFound(f"model {name!r} is not loaded"))
        return Response(status_code=200)
    predictor: Predictor = request.app.state.predictor
    manifest = predictor.manifest
    if manifest is not None and name != manifest.model_name:
        return error_response(NotFound(f"model {name!r} is not served here"))
    if predictor.ready:
        return Response(status_code=200)
    return error_response(NotReady(predictor.not_ready_reason()))


@router.post("/v2/models/{name}/infer")
async def v2_infer(request: Request, name: str) -> Response:
    async def infer(call: Call, body: bytes) -> bytes | Response:
        model_named(call.manifest, name)
        return await oip.answer(call, body, request.headers.get(oip.HEADER_LENGTH))

    return await serve(request, infer, model=name)
