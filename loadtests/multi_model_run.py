"""A local multi-model server for `python -m loadtests run --models N`: started as SageMaker
starts it (no model; `serve --multi-model`, which SAGEMAKER_MULTI_MODEL=true also selects),
then the run's N model names loaded through `POST /models`, each from the same artifact
directory (a multi-model load test measures the server holding N models, not N trainings).

Without SageMaker in front nothing would load a model on first use, so every model is loaded
before the run: the run measures serving. Cold loads on first use are what the runtime
stand-in (`emulate-sagemaker --models-dir`) adds, as SageMaker does.
"""

from __future__ import annotations

import contextlib
import json
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from pathlib import Path

from loadtests.local_server import ServerError, free_port, server_process

LOAD_TIMEOUT_S = 360.0


def multi_model_command(port: int) -> tuple[list[str], dict[str, str]]:
    command = [sys.executable, "-m", "service", "serve", "--multi-model", "--port", str(port)]
    return command, {"SERVE_HOST": "127.0.0.1", "SAGEMAKER_MULTI_MODEL": "true"}


def load_models(url: str, names: Sequence[str], model_dir: Path) -> None:
    """`POST /models` for each name (409, loaded already, is fine); a ServerError otherwise."""
    for name in names:
        body = json.dumps({"model_name": name, "url": str(Path(model_dir).resolve())}).encode()
        request = urllib.request.Request(
            f"{url}/models",
            data=body,
            method="POST",
            headers={"Content-Type": "application/json", "Accept": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=LOAD_TIMEOUT_S):
                pass
        except urllib.error.HTTPError as error:
            if error.code != 409:
                detail = error.read().decode("utf-8", "replace")[:200]
                raise ServerError(f"loading {name}: HTTP {error.code} {detail}") from None


@contextlib.contextmanager
def multi_model_server(
    model_dir: Path,
    names: Sequence[str],
    log_path: Path | None = None,
    ready_timeout: float = 180.0,
) -> Iterator[str]:
    """Yield the URL of a ready multi-model server holding `names`, each `model_dir`."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command, env = multi_model_command(port)
    with server_process(command, url, env=env, log_path=log_path) as server:
        server.wait_for_ping(200, ready_timeout)  # 200 with no model loaded (the contract)
        load_models(url, names, model_dir)
        yield url
