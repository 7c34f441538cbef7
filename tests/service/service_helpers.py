"""Helpers for the service tiers: an in-process app with its lifespan, and real `serve`
processes on free loopback ports."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

import httpx
from fastapi import FastAPI

from loadtests.local_server import free_port, stop_process
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


class ServerProcess:
    def __init__(self, process: subprocess.Popen[bytes], url: str, log: Path) -> None:
        self.process, self.url, self.log = process, url, log

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_for_ping(self, status: int = 200, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process.poll() is None, f"server exited early:\n{self.output()}"
            try:
                if httpx.get(f"{self.url}/ping", timeout=1).status_code == status:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        raise AssertionError(f"/ping never answered {status}:\n{self.output()}")


@contextmanager
def serve_process(
    model_dir: Path, tmp_path: Path, *, sagemaker_style: bool = False, **env: str
) -> Iterator[ServerProcess]:
    """`python -m service serve` on a free port; terminated (then killed) afterwards.

    `sagemaker_style` starts it as SageMaker does: bare `serve`, everything from the environment.
    """
    port = free_port()
    log = tmp_path / f"serve-{port}.log"
    environment = {**os.environ, "SERVE_INTRA_OP_THREADS": "1", "SERVE_HOST": "127.0.0.1", **env}
    if sagemaker_style:
        environment.update(SAGEMAKER_BIND_TO_PORT=str(port), SERVE_MODEL_DIR=str(model_dir))
        command = [sys.executable, "-c", "from service.__main__ import main; main()"]
    else:
        command = [
            sys.executable,
            "-m",
            "service",
            "serve",
            "--model-dir",
            str(model_dir),
            "--port",
            str(port),
        ]
    with log.open("wb") as sink:
        process = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT, env=environment)
    server = ServerProcess(process, f"http://127.0.0.1:{port}", log)
    try:
        yield server
    finally:
        stop_process(process, timeout=10)
