"""`POST /invocations` skips Starlette's middleware stack (measured: a fifth of the CPU per
request). Anything added to the app must still apply to it: adding a middleware turns the
shortcut off."""

from __future__ import annotations

from pathlib import Path

import httpx
from service_helpers import running
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.requests import Request
from starlette.responses import Response

from service.api.app import create_app
from service.settings import Settings


async def _stamp(request: Request, call_next: RequestResponseEndpoint) -> Response:
    response = await call_next(request)
    response.headers["x-stamped"] = "yes"
    return response


async def test_a_middleware_added_to_the_app_applies_to_invocations(tiny_artifact: Path) -> None:
    app = create_app(Settings(model_dir=tiny_artifact, device="cpu"))
    app.add_middleware(BaseHTTPMiddleware, dispatch=_stamp)
    async with running(app) as client:
        reply = await client.post("/invocations", json={"inputs": "markets rally"})
        assert reply.status_code == 200 and reply.headers.get("x-stamped") == "yes"
        assert (await client.get("/ping")).headers.get("x-stamped") == "yes"


async def test_without_middleware_invocations_takes_the_fast_path(tiny_artifact: Path) -> None:
    app = create_app(Settings(model_dir=tiny_artifact, device="cpu"))
    async with running(app):
        entered: list[str] = []
        original = app.build_middleware_stack

        def counting_stack():  # type: ignore[no-untyped-def]
            entered.append("stack")
            return original()

        app.middleware_stack = None  # rebuilt on the next call that goes through Starlette
        app.build_middleware_stack = counting_stack  # type: ignore[method-assign]
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://app") as client:
            reply = await client.post("/invocations", json={"inputs": "markets rally"})
            assert reply.status_code == 200 and entered == []
            assert (await client.get("/ping")).status_code == 200 and entered == ["stack"]
