"""Run the app under uvicorn with SageMaker's lifecycle: listen at once, drain on SIGTERM."""

from __future__ import annotations

import os
import signal
import socket
from types import FrameType
from typing import Any

import uvicorn

from service.app import create_app
from service.logs import configure
from service.settings import Settings

# Keep-alive longer than SageMaker's and load balancers' idle timeouts, so connections are reused.
KEEP_ALIVE_S = 75


class _DrainingServer(uvicorn.Server):
    """uvicorn's server, telling the runtime to stop admitting work as soon as SIGTERM arrives."""

    def __init__(self, config: uvicorn.Config, on_exit: Any) -> None:
        super().__init__(config)
        self._on_exit = on_exit

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if sig in (signal.SIGTERM, signal.SIGINT):
            self._on_exit()
        super().handle_exit(sig, frame)


def serve(settings: Settings, listening: socket.socket | None = None) -> None:
    """Serve until SIGTERM; `listening` is a socket bound early by the entry point, if any."""
    configure(settings.log_level, settings.log_format, settings.access_log)
    options: dict[str, Any] = {
        "host": settings.host,
        "port": settings.port,
        "timeout_graceful_shutdown": int(settings.drain_timeout_s),
        "timeout_keep_alive": KEEP_ALIVE_S,
        "access_log": settings.access_log,
        "log_config": None,
        "server_header": False,
        "date_header": False,
        "backlog": 4096,
    }
    if settings.workers > 1:
        # Each worker process builds its own app (and model copy) from the environment.
        os.environ.update(
            SERVE_MODEL_DIR=str(settings.model_dir),
            SERVE_HOST=settings.host,
            SERVE_PORT=str(settings.port),
        )
        uvicorn.run("service.app:app_from_env", factory=True, workers=settings.workers, **options)
        return
    app = create_app(settings)
    server = _DrainingServer(uvicorn.Config(app, **options), app.state.runtime.begin_drain)
    # uvicorn re-raises the SIGTERM it drained for; after a clean drain that should exit 0,
    # which is what SageMaker and `docker stop` expect, so the re-raised signal is ignored.
    signal.signal(signal.SIGTERM, lambda signum, frame: None)
    server.run(sockets=[listening] if listening else None)
