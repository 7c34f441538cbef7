"""The multi-model routes (AWS: "Custom containers contract for multi-model endpoints"):
`POST /models`, `GET /models`, `GET /models/{name}`, `DELETE /models/{name}` and
`POST /models/{name}/invoke`, which answers as `/invocations` does. Present on every server;
on a single-model one they answer 404."""

from __future__ import annotations

import logging
import os

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import Response

from service.api import codecs
from service.api.call import json_object
from service.api.errors import BadRequest, NotFound, status_of
from service.api.routes import error_response, header_model, invoke, read_body
from service.core.errors import ServingError
from service.models.model_set import ModelSet

log = logging.getLogger(__name__)
router = APIRouter()

MAX_RESULTS = 1000
"""Page size of GET /models when the caller gives none."""


def _models(request: Request) -> ModelSet:
    models: ModelSet | None = request.app.state.models
    if models is None:
        raise NotFound("this server serves one model; start it with --multi-model for /models")
    return models


def _json(body: object, status: int = 200) -> Response:
    return Response(orjson.dumps(body), status, media_type=codecs.JSON)


def _failed(exc: ServingError) -> Response:
    status, kind = status_of(exc)
    log.warning("%d %s: %s", status, kind, exc.message)
    return error_response(exc)


@router.post("/models")
async def load_model(request: Request) -> Response:
    """`{"model_name": ..., "url": ...}`: 200 once loaded, 409 if the name is taken, 507 when
    it would not fit in memory, 400 naming what is wrong with the artifact."""
    try:
        models = _models(request)
        body = json_object(await read_body(request, 64 * 1024))
        name, url = body.get("model_name"), body.get("url")
        if not isinstance(name, str) or not name or not isinstance(url, str) or not url:
            raise BadRequest('the body must be {"model_name": NAME, "url": DIRECTORY}')
        entry = await models.load(name, url)
    except ServingError as exc:
        return _failed(exc)
    return _json({"modelName": entry.name, "modelUrl": entry.url})


@router.get("/models")
async def list_models(request: Request) -> Response:
    """`{"models": [{"modelName", "modelUrl"}], "nextPageToken"}`; pages by `max_results` and
    `next_page_token` (the token is the index of the next model, in loading order)."""
    try:
        models = _models(request)
        size = _int(request.query_params.get("max_results"), MAX_RESULTS, "max_results")
        start = _int(request.query_params.get("next_page_token"), 0, "next_page_token")
    except ServingError as exc:
        return _failed(exc)
    entries = list(models.registry.entries().values())
    page = entries[start : start + size]
    following = start + size
    body: dict[str, object] = {
        "models": [{"modelName": e.name, "modelUrl": e.url} for e in page],
    }
    if following < len(entries):
        body["nextPageToken"] = str(following)
    return _json(body)


@router.get("/models/{name}")
async def describe_model(request: Request, name: str) -> Response:
    """200 with the model's name, url and measured memory; 404 if not loaded."""
    try:
        models = _models(request)
        entry = models.registry.get(name)
        if entry is None:
            raise NotFound(f"model {name!r} is not loaded")
    except ServingError as exc:
        return _failed(exc)
    return _json({"modelName": entry.name, "modelUrl": entry.url, "memoryMb": entry.cost_mb})


@router.delete("/models/{name}")
async def unload_model(request: Request, name: str) -> Response:
    """Unloads in every worker (this one now, the others within a second); 404 if absent."""
    try:
        await _models(request).unload(name)
    except ServingError as exc:
        return _failed(exc)
    return _json({"modelName": name, "unloaded": True, "pid": os.getpid()})


@router.post("/models/{name}/invoke")
async def invoke_model(request: Request, name: str) -> Response:
    """Everything /invocations takes, for model `name`; 404 if it is not loaded."""
    header = header_model(request.headers)
    if header:
        log.debug("invoke %s (target model header %s)", name, header)
    if request.app.state.models is None:
        return _failed(NotFound("this server serves one model; POST /invocations"))
    return await invoke(request, name)


def _int(raw: str | None, default: int, name: str) -> int:
    if raw is None or raw == "":
        return default
    if not raw.isdigit():
        raise BadRequest(f"{name} must be a non-negative integer, got {raw!r}")
    return int(raw) if name != "max_results" or int(raw) > 0 else default
