"""Start the inference server in a subprocess on a free loopback port, for a run or a test."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from pathlib import Path

from service.backend.artifact import ArtifactError, load_manifest


class ServerError(Exception):
    """The server did not become ready; the message carries the end of its log."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def ping(url: str, timeout: float = 2.0) -> int:
    """Status of GET /ping, or 0 when nothing answers."""
    try:
        with urllib.request.urlopen(f"{url}/ping", timeout=timeout) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)
    except OSError:
        return 0


def wait_ready(url: str, timeout: float, process: subprocess.Popen[bytes] | None = None) -> None:
    """Poll /ping until 200; fail early if the process dies."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise ServerError(
                f"server exited with status {process.returncode} before /ping turned 200"
            )
        if ping(url) == 200:
            return
        time.sleep(0.2)
    raise ServerError(f"{url}/ping not 200 after {timeout:.0f} s")


def stop_process(process: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    """SIGTERM (the server drains), then SIGKILL if it is still there after `timeout`."""
    if process.poll() is None:
        process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _tail(path: Path, lines: int = 15) -> str:
    text = path.read_text(encoding="utf-8", errors="replace").splitlines()
    return "\n".join(text[-lines:])


@contextlib.contextmanager
def local_server(
    model_dir: Path,
    port: int | None = None,
    ready_timeout: float = 180.0,
    env: Mapping[str, str] | None = None,
    log_path: Path | None = None,
) -> Iterator[str]:
    """Yield the base URL of a ready server on `model_dir`; terminate (then kill) it on exit."""
    try:  # the server would wait with /ping at 503 forever on an unservable artifact: say why now
        load_manifest(Path(model_dir), verify_checksums=False)
    except ArtifactError as error:
        raise ServerError(str(error)) from None
    port = port or free_port()
    url = f"http://127.0.0.1:{port}"
    if ping(url):
        raise ServerError(f"port {port} is already in use")
    log_path = log_path or Path(tempfile.mkstemp(prefix="loadtest-server-", suffix=".log")[1])
    log_path.parent.mkdir(parents=True, exist_ok=True)
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
    child_env = {**os.environ, "SERVE_HOST": "127.0.0.1", **(env or {})}
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=child_env)
        try:
            try:
                wait_ready(url, ready_timeout, process)
            except ServerError as error:
                raise ServerError(f"{error}; server log {log_path}:\n{_tail(log_path)}") from None
            yield url
        finally:
            stop_process(process)
