"""The one harness that starts a server in a subprocess and polls it: our `serve`, a naive
baseline or a container under `docker run`. Used by the tests, the load tests, the benchmarks
and the scripts."""

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
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

from service.backend.artifact import ArtifactError, load_manifest

# Never through a proxy: the servers are on loopback.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class ServerError(Exception):
    """The server did not become ready; the message carries the end of its log."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def ping(url: str, timeout: float = 2.0) -> int:
    """Status of GET /ping, or 0 when nothing answers (or a connection is reset)."""
    try:
        with _OPENER.open(f"{url}/ping", timeout=timeout) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)
    except OSError:
        return 0


def stop_process(process: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    """SIGTERM (the server drains), then SIGKILL if it is still there after `timeout`."""
    if process.poll() is None:
        process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


class ServerProcess:
    """A started server: its process, base URL and log."""

    def __init__(self, process: subprocess.Popen[bytes], url: str, log: Path) -> None:
        self.process, self.url, self.log = process, url, log

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def tail(self, lines: int = 15) -> str:
        return "\n".join(self.output().splitlines()[-lines:])

    def wait_for_ping(self, status: int = 200, timeout: float = 60.0) -> float:
        """Poll /ping until it answers `status`; seconds waited. Fails early if the process
        exits, with the end of its log."""
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            if self.process.poll() is not None:
                raise ServerError(
                    f"server exited with status {self.process.returncode} before /ping "
                    f"answered {status}; log {self.log}:\n{self.tail()}"
                )
            if ping(self.url, timeout=1.0) == status:
                return time.monotonic() - started
            time.sleep(0.05)
        raise ServerError(
            f"{self.url}/ping did not answer {status} in {timeout:.0f} s; log {self.log}:\n"
            f"{self.tail()}"
        )


@contextlib.contextmanager
def server_process(
    command: Sequence[str],
    url: str,
    *,
    env: Mapping[str, str] | None = None,
    log_path: Path | None = None,
    stop_timeout: float = 30.0,
) -> Iterator[ServerProcess]:
    """Run `command` (a server answering at `url`) with its output in `log_path`; SIGTERM,
    then SIGKILL, on exit. Readiness is the caller's choice: `wait_for_ping`."""
    log_path = log_path or Path(tempfile.mkstemp(prefix="server-", suffix=".log")[1])
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            list(command), stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})}
        )
    try:
        yield ServerProcess(process, url, log_path)
    finally:
        stop_process(process, stop_timeout)


def serve_command(
    model_dir: Path, port: int, *, sagemaker_style: bool = False
) -> tuple[list[str], dict[str, str]]:
    """Our server's command line and environment on 127.0.0.1:`port`. `sagemaker_style`
    starts it as SageMaker does: bare `serve`, everything from the environment."""
    env = {"SERVE_HOST": "127.0.0.1"}
    if sagemaker_style:
        env.update(SAGEMAKER_BIND_TO_PORT=str(port), SERVE_MODEL_DIR=str(model_dir))
        return [sys.executable, "-c", "from service.__main__ import main; main()"], env
    command = [sys.executable, "-m", "service", "serve", "--model-dir", str(model_dir)]
    return [*command, "--port", str(port)], env


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
    command, serve_env = serve_command(Path(model_dir), port)
    with server_process(
        command, url, env={**serve_env, **(env or {})}, log_path=log_path
    ) as server:
        server.wait_for_ping(200, ready_timeout)
        yield url
