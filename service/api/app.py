"""The composition root: settings, plan, metrics, predictor and routes wired in one place."""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import Response
from starlette.exceptions import HTTPException
from starlette.types import Receive, Scope, Send

from service.api import compat
from service.api import models as models_api
from service.api.routes import error_response, invocations, router
from service.backend.plan import plan_for
from service.backend.probe import memory_limit_mb
from service.core.errors import ServingError
from service.core.predictor import Model
from service.metrics import Metrics
from service.models.model_metrics import ModelMetrics
from service.models.model_set import ModelSet
from service.models.unit import model_unit, onnx_loader
from service.settings import Settings
from service.worker_context import WorkerContext

log = logging.getLogger(__name__)


class ServingApp(FastAPI):
    """FastAPI, with `POST /invocations` dispatched ahead of the middleware stack.

    The handler catches and renders every error itself, so the generic layers (error,
    exception middleware, routing) only cost time there: about a fifth of the server's CPU per
    request, measured with py-spy at 64 connections. The shortcut turns itself off as soon as
    a middleware is added, so nothing added to the app is silently skipped on /invocations.
    """

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope["path"] == "/invocations"
            and scope["method"] == "POST"
            and not self.user_middleware
        ):
            scope["app"] = self
            response = await invocations(Request(scope, receive))
            await response(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


def create_app(
    settings: Settings,
    *,
    context: WorkerContext | None = None,
    load_model: Callable[[], Model] | None = None,
) -> FastAPI:
    """Build the app; the model loads in the background once the lifespan starts.

    `context` is what the server decided (the plan, shared directories); without it, the plan
    is decided here for one process. `load_model` replaces the ONNX Runtime backend (tests).
    """
    context = context or WorkerContext(settings, plan_for(settings, single_process=True))
    plan = context.plan
    metrics = Metrics(context.metrics_dir)
    metrics.plan_decided(plan)

    if settings.multi_model:
        return _multi_model_app(settings, context, metrics)
    load_onnx = onnx_loader(settings, plan, settings.model_dir, context.busy_signal())
    predictor = model_unit(settings, plan, load_model or load_onnx, metrics, context.board())

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        loading = asyncio.create_task(predictor.load(), name="load-model")
        try:
            yield
        finally:
            predictor.begin_drain()
            if not loading.done():
                loading.cancel()
                await asyncio.gather(loading, return_exceptions=True)
            await predictor.close()
            metrics.worker_exited(os.getpid())
            log.info("stopped")

    app = _app(settings, metrics, lifespan, predictor.begin_drain)
    app.state.predictor = predictor
    app.state.plan = plan
    return app


def _multi_model_app(settings: Settings, context: WorkerContext, metrics: Metrics) -> FastAPI:
    """A server that starts with no model and holds those loaded through POST /models
    (service/models/model_set.py), each a unit of its own."""
    shared = context.board_dir / "models" if context.board_dir else None
    directory = shared or Path(tempfile.mkdtemp(prefix="serve-models-"))
    limit = settings.memory_mb or memory_limit_mb()
    model_metrics = ModelMetrics(metrics.registry, settings.max_model_labels)
    models = ModelSet(
        settings, context.plan, metrics, model_metrics, directory, memory_limit_mb=limit
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        models.start()
        metrics.readiness(True)
        try:
            yield
        finally:
            await models.close()
            if shared is None:
                shutil.rmtree(directory, ignore_errors=True)
            metrics.worker_exited(os.getpid())
            log.info("stopped")

    app = _app(settings, metrics, lifespan, models.begin_drain)
    app.state.predictor = None
    app.state.models = models
    app.state.model_metrics = model_metrics
    app.state.plan = context.plan
    log.info(
        "multi-model server: no model until POST /models; memory budget %s",
        f"{models.budget.limit_mb:.0f} MB" if models.budget.limit_mb is not None else "unlimited",
    )
    return app


def _app(
    settings: Settings,
    metrics: Metrics,
    lifespan: Callable[[FastAPI], AbstractAsyncContextManager[None]],
    begin_drain: Callable[[], None],
) -> ServingApp:
    """The app and the routes every server has; `begin_drain` stops admitting work (SIGTERM)."""
    app = ServingApp(
        title="headline-serve",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.settings = settings
    app.state.metrics = metrics
    app.state.models = None
    app.state.begin_drain = begin_drain
    app.include_router(router)
    app.include_router(models_api.router)  # multi-model endpoints
    app.include_router(compat.router)  # vLLM, TEI, Cohere/Jina and OIP v2 shapes

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        return error_response(ServingError(str(exc.detail)), status=(exc.status_code, "http_error"))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> Response:
        log.error("unexpected error on %s: %r", request.url.path, exc)
        return error_response(ServingError("internal server error"))

    return app
