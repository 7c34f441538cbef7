"""Image sizes and cold start (`docker run` to the first 200 from /ping) of the project's images.

    python scripts/bench_docker.py --artifact artifacts/default [--runs 3] [--no-train-image]

Builds the CPU serving image (and the training image, for its size) with the tags Compose uses,
then starts the serving image the way SageMaker does, `runs` times, with the given artifact.
Needs a running Docker daemon and the base images (pulled, or the stand-ins CI makes).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # run as a script: the project's packages from the checkout
from loadtests.local_server import ServerError, free_port, server_process  # noqa: E402

SERVE_TAG = "headline-serve:latest"
TRAIN_TAG = "headline-serve-train:latest"
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class BenchError(Exception):
    """One line for the user."""


def docker(*args: str, timeout: float = 1800) -> str:
    proc = subprocess.run(
        ["docker", *args], capture_output=True, text=True, timeout=timeout, check=False, cwd=REPO
    )
    if proc.returncode != 0:
        last = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["(no output)"]
        raise BenchError(f"docker {args[0]} failed: {last[0]}")
    return proc.stdout


def build(dockerfile: str, tag: str) -> float:
    started = time.monotonic()
    os.environ.setdefault("DOCKER_BUILDKIT", "0")
    docker("build", "-q", "-f", dockerfile, "-t", tag, ".")
    return time.monotonic() - started


def size_mb(tag: str) -> float:
    return int(json.loads(docker("image", "inspect", tag))[0]["Size"]) / 1e6


def cold_start(artifact: Path, port: int, timeout: float = 120) -> tuple[float, float]:
    """Seconds from `docker run` to the first 200 /ping, and the first invocation's latency."""
    name = f"bench-cold-start-{os.getpid()}-{port}"
    command = [
        "docker", "run", "--rm", "--name", name,
        "-v", f"{artifact.resolve()}:/opt/ml/model:ro", "-p", f"127.0.0.1:{port}:8080",
        SERVE_TAG, "serve",
    ]  # fmt: skip
    try:
        with server_process(command, f"http://127.0.0.1:{port}") as server:
            try:
                ready = server.wait_for_ping(200, timeout)
            except ServerError as exc:
                raise BenchError(str(exc).splitlines()[0]) from None
            request = urllib.request.Request(
                f"http://127.0.0.1:{port}/invocations",
                data=b'{"inputs": "Stocks rally as the central bank holds rates"}',
                headers={"Content-Type": "application/json"},
            )
            sent = time.monotonic()
            with _OPENER.open(request, timeout=30) as response:
                response.read()
            return ready, time.monotonic() - sent
    finally:
        subprocess.run(["docker", "rm", "-f", name], capture_output=True, check=False)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--artifact", type=Path, default=REPO / "artifacts" / "default")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--port", type=int, default=0, help="host port (default: a free one)")
    parser.add_argument("--no-train-image", action="store_true", help="skip the training image")
    args = parser.parse_args()
    try:
        if not (args.artifact / "manifest.json").is_file():
            raise BenchError(f"{args.artifact}: no model artifact (run `make train` first)")
        rows = [("serving image (CPU)", SERVE_TAG, build("docker/serve.Dockerfile", SERVE_TAG))]
        if not args.no_train_image:
            rows.append(("training image", TRAIN_TAG, build("docker/train.Dockerfile", TRAIN_TAG)))
        print(f"\n{'image':<22}{'tag':<30}{'size MB':>9}{'build s':>9}")
        for label, tag, seconds in rows:
            print(f"{label:<22}{tag:<30}{size_mb(tag):>9.0f}{seconds:>9.0f}")

        model_mb = sum(f.stat().st_size for f in args.artifact.iterdir() if f.is_file()) / 1e6
        print(f"\ncold start of {SERVE_TAG}, artifact {args.artifact} ({model_mb:.0f} MB)")
        print(f"{'run':<6}{'docker run -> /ping 200 s':>28}{'first invocation ms':>22}")
        readies = []
        for run in range(1, args.runs + 1):
            ready, first = cold_start(args.artifact, args.port or free_port())
            readies.append(ready)
            print(f"{run:<6}{ready:>28.2f}{first * 1000:>22.1f}")
        print(f"{'median':<6}{statistics.median(readies):>28.2f}")
    except BenchError as exc:
        print(f"bench-docker: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
