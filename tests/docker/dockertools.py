"""Small helpers for the container tier: run the docker CLI, time steps, build, poll.

Kept beside the tests (not a package: a `docker` package here would shadow docker-py).
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPTS = REPO / "scripts"
# Tags and labels of this test session's images and containers.
SESSION = f"t{os.getpid()}"
# No proxy for loopback requests, whatever the environment says.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@contextlib.contextmanager
def step(label: str) -> Iterator[None]:
    """Print how long a step took (CI shows it with `pytest -s`)."""
    start = time.monotonic()
    print(f"\n[docker] {label} ...", flush=True)
    try:
        yield
    finally:
        print(f"[docker] {label}: {time.monotonic() - start:.1f} s", flush=True)


def run(
    *args: str | Path,
    check: bool = True,
    timeout: float = 600,
    env: dict[str, str] | None = None,
    cwd: Path = REPO,
) -> subprocess.CompletedProcess[str]:
    """Run a command, capture its output; on failure, fail the test with its last lines."""
    argv = [str(a) for a in args]
    proc = subprocess.run(
        argv,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
        cwd=cwd,
        check=False,
    )
    if check and proc.returncode != 0:
        tail = (proc.stdout + proc.stderr)[-3000:]
        pytest.fail(f"{' '.join(argv[:4])} ... exited {proc.returncode}:\n{tail}", pytrace=False)
    return proc


def daemon_answers() -> bool:
    return run("docker", "info", check=False, timeout=30).returncode == 0


def image_exists(tag: str) -> bool:
    return run("docker", "image", "inspect", tag, check=False).returncode == 0


@dataclass
class BuiltImage:
    """An image this session built, with the layer images its build created (for clean-up)."""

    tag: str
    created_ids: list[str] = field(default_factory=list)


def build_image(dockerfile: str, tag: str, *build_args: str, timeout: float = 1200) -> BuiltImage:
    """Build with the legacy builder (no BuildKit here) and note which images were new.

    On failure the images the build made so far are removed before the test fails.
    """
    before = set(run("docker", "images", "-aq", "--no-trunc").stdout.split())
    argv = ["docker", "build", "--force-rm", "-f", dockerfile, "-t", tag]
    for arg in build_args:
        argv += ["--build-arg", arg]
    proc = run(*argv, ".", env={"DOCKER_BUILDKIT": "0"}, timeout=timeout, check=False)
    # Every step prints " ---> <id>"; the build stage's images are not parents of the tag.
    step_ids = re.findall(r"^ ---> ([0-9a-f]{12})$", proc.stdout, flags=re.MULTILINE)
    full_ids = [i for s in step_ids for i in before_or_new(s, before)]
    image = BuiltImage(tag, list(dict.fromkeys(full_ids)))
    if proc.returncode != 0:
        remove_image(image)
        tail = (proc.stdout + proc.stderr)[-3000:]
        pytest.fail(f"docker build -f {dockerfile} failed:\n{tail}", pytrace=False)
    return image


def before_or_new(short_id: str, before: set[str]) -> list[str]:
    """The full id of a step image if this build created it, else nothing."""
    found = run("docker", "image", "inspect", "-f", "{{.Id}}", short_id, check=False)
    full = found.stdout.strip()
    return [full] if found.returncode == 0 and full not in before else []


def remove_image(image: BuiltImage) -> None:
    run("docker", "rmi", "-f", image.tag, check=False)
    for image_id in reversed(image.created_ids):  # leaves first, then their parents
        run("docker", "rmi", image_id, check=False)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def http(
    method: str, url: str, body: bytes | None = None, headers: dict[str, str] | None = None
) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with _OPENER.open(request, timeout=30) as response:
            return int(response.status), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def container_state(container: str) -> str:
    return run(
        "docker", "inspect", "-f", "{{.State.Status}}", container, check=False
    ).stdout.strip()


def wait_for_ping(base_url: str, container: str, timeout: float = 120) -> float:
    """Poll /ping until 200; fail early with the logs if the container stops. Returns seconds."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        try:
            if http("GET", f"{base_url}/ping")[0] == 200:
                return time.monotonic() - start
        except (urllib.error.URLError, OSError):
            pass  # a just-published port resets connections until the app listens
        if container_state(container) not in ("created", "running"):
            logs = run("docker", "logs", "--tail", "40", container, check=False)
            pytest.fail(f"{container} stopped before /ping was 200:\n{logs.stdout}{logs.stderr}")
        time.sleep(0.2)
    logs = run("docker", "logs", "--tail", "40", container, check=False)
    pytest.fail(f"/ping not 200 after {timeout:.0f} s:\n{logs.stdout}{logs.stderr}")
