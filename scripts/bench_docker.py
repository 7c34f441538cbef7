"""Image sizes and cold start (`docker run` to the first 200 from /ping) of the project's images,
checked against SageMaker Serverless Inference's limits.

    python scripts/bench_docker.py --artifact artifacts/default [--runs 3] [--no-train-image]

Builds the CPU serving image (and the training image, for its size) with the tags Compose uses,
then starts the serving image the way SageMaker does, `runs` times, with the given artifact:
unconstrained, and as the smallest serverless endpoint runs it (`--memory 1g --cpus 1`; the
server sizes its workers to the container's memory limit). The serverless table compares the
image size, the cold start and the memory used after the first invocation with the limits.
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

# SageMaker Serverless Inference: the image at most 10 GB uncompressed; 1024-6144 MB of memory;
# the model downloaded and /ping answering 200 within 3 minutes of the start.
SERVERLESS_IMAGE_MB = 10_000
SERVERLESS_PING_S = 180.0
SMALLEST_SERVERLESS = ("--memory", "1g", "--cpus", "1")
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


def memory_used_mb(name: str) -> float:
    """The container's memory use now (`docker stats`), in MB."""
    used = docker("stats", "--no-stream", "--format", "{{.MemUsage}}", name).split("/")[0].strip()
    units = {"KiB": 1024 / 1e6, "MiB": 1.048576, "GiB": 1073.741824, "B": 1e-6}
    for unit, factor in units.items():
        if used.endswith(unit):
            return float(used.removesuffix(unit)) * factor
    raise BenchError(f"cannot read docker stats: {used!r}")


def cold_start(
    artifact: Path, port: int, limits: tuple[str, ...] = (), timeout: float = 240
) -> tuple[float, float, float]:
    """Seconds from `docker run` to the first 200 /ping, the first invocation's latency, and the
    memory the container uses after it (MB). `limits`: docker run's resource flags."""
    name = f"bench-cold-start-{os.getpid()}-{port}"
    command = [
        "docker", "run", "--rm", "--name", name, *limits,
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
            first = time.monotonic() - sent
            return ready, first, memory_used_mb(name)
    finally:
        subprocess.run(["docker", "rm", "-f", name], capture_output=True, check=False)


def serverless_table(image_mb: float, ping_s: float, memory_mb: float) -> bool:
    """Print the serving image against SageMaker Serverless Inference's limits; True if it fits."""
    rows = [
        ("image size, uncompressed", f"<= {SERVERLESS_IMAGE_MB:,} MB", f"{image_mb:,.0f} MB",
         image_mb <= SERVERLESS_IMAGE_MB),
        ("cold start: run -> /ping 200", f"<= {SERVERLESS_PING_S:.0f} s",
         f"{ping_s:.2f} s (median, 1 GB, 1 CPU)", ping_s <= SERVERLESS_PING_S),
        ("memory after first invocation", "1,024-6,144 MB", f"{memory_mb:.0f} MB (of 1,024)",
         memory_mb <= 1024),
    ]  # fmt: skip
    print(f"\n{'serverless limit':<32}{'limit':<18}{'measured':<38}fits")
    for what, limit, measured, fits in rows:
        print(f"{what:<32}{limit:<18}{measured:<38}{'yes' if fits else 'NO'}")
    return all(fits for *_, fits in rows)


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
        print(
            f"{'container':<22}{'run':<5}{'docker run -> /ping 200 s':>27}"
            f"{'first invocation ms':>21}{'memory MB':>11}"
        )
        medians: dict[str, tuple[float, float]] = {}
        for label, limits in (("unconstrained", ()), ("1 GB, 1 CPU", SMALLEST_SERVERLESS)):
            readies, memories = [], []
            for run in range(1, args.runs + 1):
                ready, first, memory = cold_start(args.artifact, args.port or free_port(), limits)
                readies.append(ready)
                memories.append(memory)
                print(f"{label:<22}{run:<5}{ready:>27.2f}{first * 1000:>21.1f}{memory:>11.0f}")
            medians[label] = (statistics.median(readies), max(memories))
            print(f"{label:<22}{'med':<5}{medians[label][0]:>27.2f}")
        serverless_table(size_mb(SERVE_TAG), *medians["1 GB, 1 CPU"])
    except BenchError as exc:
        print(f"bench-docker: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
