"""The server process: decide the execution plan once, then serve under uvicorn with
SageMaker's lifecycle (listen at once, drain on SIGTERM), in one process or several workers."""

from __future__ import annotations

import concurrent.futures
import functools
import logging
import multiprocessing
import signal
import socket
import tempfile
from pathlib import Path
from types import FrameType
from typing import Any

import uvicorn
from uvicorn.supervisors.multiprocess import Multiprocess, Process

from service.backend.plan import ExecutionPlan, plan_for
from service.busy_signal import BusySignal
from service.logs import configure
from service.metrics import shared_metrics_dir
from service.settings import Settings
from service.worker_context import WorkerContext, worker_app

log = logging.getLogger(__name__)

# Keep-alive longer than SageMaker's and load balancers' idle timeouts, so connections are reused.
KEEP_ALIVE_S = 75


class _DrainingServer(uvicorn.Server):
    """uvicorn's server, telling the predictor to stop admitting work as soon as SIGTERM arrives."""

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
    plan = plan_for(settings) if settings.workers == 1 else _plan_in_child(settings)
    log.info("%s", plan.describe())
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
        # SageMaker and Compose call the container directly: no proxy headers to honour, and
        # one ASGI layer less on every request.
        "proxy_headers": False,
    }
    if plan.workers > 1:
        _serve_workers(settings, plan, options, listening)
        return
    from service.api.app import create_app

    app = create_app(settings, context=WorkerContext(settings, plan))
    server = _DrainingServer(uvicorn.Config(app, **options), app.state.begin_drain)
    # uvicorn re-raises the SIGTERM it drained for; after a clean drain that should exit 0,
    # which is what SageMaker and `docker stop` expect, so the re-raised signal is ignored.
    signal.signal(signal.SIGTERM, lambda signum, frame: None)
    server.run(sockets=[listening] if listening else None)


def _plan_in_child(settings: Settings) -> ExecutionPlan:
    """`plan_for` in a short-lived process. Planning imports ONNX Runtime and times a text on
    two sessions; a parent that only supervises workers kept that memory for its whole life
    (132 MB resident against about 60 MB, measured with the default model)."""
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(1, mp_context=context) as pool:
        return pool.submit(plan_for, settings).result()


def _serve_workers(
    settings: Settings,
    plan: ExecutionPlan,
    options: dict[str, Any],
    listening: socket.socket | None,
) -> None:
    """Start `plan.workers` processes on the port, each handed the same context; uvicorn's
    supervisor restarts a worker that dies and, on SIGTERM, lets each drain before exiting."""
    with (
        shared_metrics_dir(settings.metrics_dir) as metrics,
        tempfile.TemporaryDirectory() as board,
    ):
        busy = None
        if plan.lone_request_threads > plan.intra_op_threads:
            busy = BusySignal.create(Path(board) / "busy", 2 * plan.workers)
        context = WorkerContext(
            settings, plan, board_dir=Path(board), metrics_dir=metrics, busy_file=busy
        )
        factory = functools.partial(worker_app, context.to_json())
        config = uvicorn.Config(factory, factory=True, workers=plan.workers, **options)
        sockets = _worker_sockets(listening or config.bind_socket(), plan.workers)
        _OneSocketPerWorker(config, sockets=sockets).run()


def _worker_sockets(first: socket.socket, workers: int) -> list[socket.socket]:
    """One listening socket per worker on the same port (SO_REUSEPORT), so the kernel spreads
    new connections evenly. On one shared socket the first worker to wake accepts a whole burst:
    16 connections split 15/1 in measured runs, leaving one worker idle. Falls back to sharing
    `first` when it was bound without SO_REUSEPORT."""
    sockets = [first]
    first.set_inheritable(True)
    if not first.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT):
        return sockets
    address = first.getsockname()[:2]
    try:
        for _ in range(workers - 1):
            sock = socket.create_server(address, family=first.family, backlog=4096, reuse_port=True)
            sock.set_inheritable(True)
            sockets.append(sock)
    except OSError as exc:
        log.warning("workers share one socket (SO_REUSEPORT failed: %s)", exc)
        for sock in sockets[1:]:
            sock.close()
        return [first]
    return sockets


class _OneSocketPerWorker(Multiprocess):
    """uvicorn's supervisor, starting worker i on socket i when there is one per worker. A
    worker restarted after a crash listens on all of them, which is correct, if less even."""

    def init_processes(self) -> None:
        if len(self.sockets) != self.processes_num:
            super().init_processes()
            return
        for sock in self.sockets:
            process = Process(self.config, [sock])
            process.start()
            self.processes.append(process)
