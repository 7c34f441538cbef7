"""Fixtures for the load-test tier: a real server on the tiny artifact, Locust in a child process.

Locust monkey-patches the standard library with gevent when imported, so no test imports it
in the pytest process: every Locust run is a child process, as users run it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import loadtests
from loadtests.local_server import local_server
from training.tiny_onnx_artifact import build_onnx_artifact

REPO = Path(loadtests.__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def tiny_artifact(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Overrides tests/conftest.py's torch-trained model: load tests need only a servable one
    (numpy-built ONNX graph, the sample's 4 labels), built once per session in about a second."""
    return build_onnx_artifact(tmp_path_factory.mktemp("tiny-onnx-artifact") / "model")


@pytest.fixture(scope="module")
def server_url(tiny_artifact: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    log = tmp_path_factory.mktemp("server") / "server.log"
    with local_server(tiny_artifact, ready_timeout=120, log_path=log) as url:
        yield url


def _run_python(
    *args: str, env: dict[str, str] | None = None, timeout: float = 150
) -> subprocess.CompletedProcess[str]:
    """`python ARGS` from the repository root; its output is echoed (pytest shows it on failure)."""
    completed = subprocess.run(
        [sys.executable, *args],
        cwd=REPO,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    sys.stdout.write(completed.stdout[-4000:])
    sys.stderr.write(completed.stderr[-4000:])
    return completed


@pytest.fixture
def run_python() -> Callable[..., subprocess.CompletedProcess[str]]:
    return _run_python
