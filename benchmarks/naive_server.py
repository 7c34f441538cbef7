"""The naive baseline: the usual SageMaker handler, a FastAPI app calling a transformers
`pipeline` once per request in a sync route.

    python benchmarks/naive_server.py --model-dir artifacts/default-pytorch --port 8081

`naive_server(...)` starts it in a subprocess for the benchmark.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from loadtests.local_server import free_port, server_process


@contextlib.contextmanager
def naive_server(model_dir: Path, log_path: Path, ready_timeout: float = 300) -> Iterator[str]:
    """Yield the base URL of a ready naive server on a free port; terminate (then kill) it."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [sys.executable, __file__, "--model-dir", str(model_dir), "--port", str(port)]
    with server_process(command, url, log_path=log_path) as server:
        server.wait_for_ping(200, ready_timeout)
        yield url


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model-dir", type=Path, required=True, help="a PyTorch checkpoint")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()

    import uvicorn
    from fastapi import FastAPI
    from transformers import pipeline

    classifier = pipeline("text-classification", model=str(args.model_dir), device="cpu")
    app = FastAPI()

    @app.get("/ping")
    def ping() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/invocations")
    def invocations(payload: dict[str, Any]) -> list[dict[str, Any]]:
        inputs = payload["inputs"]
        return classifier(inputs if isinstance(inputs, list) else [inputs])

    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
