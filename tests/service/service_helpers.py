"""Helpers for the service tiers: an in-process app with its lifespan, and real `serve`
processes on free loopback ports."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

import httpx
from fastapi import FastAPI

from loadtests.local_server import ServerProcess, free_port, serve_command, server_process
from service.api.app import create_app
from service.settings import Settings


@asynccontextmanager
async def running(app: FastAPI, wait_ready: bool = True) -> AsyncIterator[httpx.AsyncClient]:
    """Run the app's lifespan and give a client speaking ASGI to it; wait for /ping 200."""
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://app") as client:
            if wait_ready:
                for _ in range(300):
                    if (await client.get("/ping")).status_code == 200:
                        break
                    await asyncio.sleep(0.02)
                else:
                    raise AssertionError("the app never became ready")
            yield client


async def serving(model_dir: Path, **settings: object) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(Settings(model_dir=model_dir, **settings))  # type: ignore[arg-type]
    async with running(app) as client:
        yield client


@contextmanager
def serve_process(
    model_dir: Path, tmp_path: Path, *, sagemaker_style: bool = False, **env: str
) -> Iterator[ServerProcess]:
    """`serve` on a free port, not yet waited for (tests of broken artifacts expect no 200);
    terminated (then killed) afterwards. `sagemaker_style`: bare `serve`, settings from env."""
    port = free_port()
    command, serve_env = serve_command(model_dir, port, sagemaker_style=sagemaker_style)
    with server_process(
        command,
        f"http://127.0.0.1:{port}",
        env={"SERVE_INTRA_OP_THREADS": "1", **serve_env, **env},
        log_path=tmp_path / f"serve-{port}.log",
        stop_timeout=10,
    ) as server:
        yield server
