"""`serve` (what `docker run IMAGE serve` runs) and `python -m service serve [...]`."""

from __future__ import annotations

import argparse
import socket
import sys
from collections.abc import Sequence
from pathlib import Path


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="serve",
        description="Serve the model artifact over SageMaker's container contract "
        "(settings also from SERVE_* and SAGEMAKER_* environment variables; see docs/serving.md).",
    )
    parser.add_argument(
        "command", nargs="?", default="serve", choices=["serve"], help="the only command"
    )
    parser.add_argument(
        "--model-dir", type=Path, help="model artifact directory (default /opt/ml/model)"
    )
    parser.add_argument(
        "--port", type=int, help="TCP port (default $SAGEMAKER_BIND_TO_PORT or 8080)"
    )
    parser.add_argument("--host", help="interface to bind (default 0.0.0.0)")
    parser.add_argument(
        "--workers", type=int, help="server processes (default: one per core on CPU, one on a GPU)"
    )
    parser.add_argument(
        "--multi-model",
        action="store_true",
        default=None,
        help="start with no model; load models with POST /models (SageMaker multi-model "
        "endpoints: SAGEMAKER_MULTI_MODEL=true)",
    )
    return parser


def _listen_early(host: str, port: int) -> socket.socket | None:
    """Bind before the slow imports (uvicorn, FastAPI, ONNX Runtime), so the port accepts
    connections at once; they wait in the kernel's backlog until the server (or its worker
    processes, which share this socket) serves them. On any doubt (the port taken) return None
    and let uvicorn bind and report."""
    try:
        if port:
            _fail_if_taken(host, port)
        # SO_REUSEPORT lets each worker process listen on a socket of its own (server.py).
        return socket.create_server((host, port), backlog=4096, reuse_port=True)
    except (OSError, ValueError, OverflowError):
        return None


def _fail_if_taken(host: str, port: int) -> None:
    """Bind without SO_REUSEPORT first: with it alone, a second server on a port already in use
    (ours included) would silently join the first one's listeners instead of failing."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind((host, port))


def main(argv: Sequence[str] | None = None) -> None:
    args = _parser().parse_args(sys.argv[1:] if argv is None else argv)
    from pydantic import ValidationError

    overrides = {
        name: value
        for name, value in (
            ("model_dir", args.model_dir),
            ("port", args.port),
            ("host", args.host),
            ("workers", args.workers),
            ("multi_model", args.multi_model),
        )
        if value is not None
    }
    from service.settings import Settings

    try:
        settings = Settings(**overrides)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        sys.exit(f"serve: invalid setting {where}: {first['msg']}")
    listening = _listen_early(settings.host, settings.port)
    from service.server import serve

    serve(settings, listening)


if __name__ == "__main__":
    main()
