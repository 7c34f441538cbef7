"""The load generator: `wrk` (C, one thread) with `wrk_invocations.lua`, plus a `/ping` probe.

wrk takes a small fraction of a core where an in-process Python client took a large share of
the machine's cores, so the server is not measured short for want of CPU.
"""

from __future__ import annotations

import http.client
import json
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bench_common import percentiles

WRK_SCRIPT = Path(__file__).with_name("wrk_invocations.lua")
WARM_UP_S = 1  # wrk takes whole seconds


class LoadError(RuntimeError):
    """wrk failed or printed no figures."""


def find_wrk() -> str:
    """Path of `wrk`; exits with how to install it when it is not on PATH."""
    path = shutil.which("wrk")
    if path is None:
        sys.exit(
            "bench: `wrk` not found on PATH; run `make bench-serve` (installs it) "
            "or `apt-get install wrk`"
        )
    return path


def write_bodies(groups: Sequence[Sequence[str]], as_list: bool, path: Path) -> Path:
    """One JSON body per line: `{"inputs": text}`, or `{"inputs": [texts]}` when `as_list`."""
    with path.open("w", encoding="utf-8") as out:
        for group in groups:  # json.dumps escapes newlines: one body stays one line
            out.write(json.dumps({"inputs": list(group) if as_list else group[0]}) + "\n")
    return path


@dataclass
class LoadPoint:
    """One measured point: wrk's figures (latency in ms) and the /ping probe's."""

    concurrency: int
    requests: int
    duration_s: float
    rps: float
    errors: int
    error_kinds: dict[str, int]
    p50: float
    p90: float
    p99: float
    ping_p99: float
    ping_failures: int
    cpu_ms_per_request: float = float("nan")
    """The server's CPU time (every process) over the measured run, per request."""


class WrkClient:
    """Runs wrk against `URL/invocations` with the bodies file, one thread, N connections."""

    def __init__(self, wrk: str, bodies: Path, timeout_s: int = 30) -> None:
        self.wrk = wrk
        self.bodies = bodies
        # wrk counts a response slower than this as a timeout error and leaves it out of the
        # latencies; the default (2 s) is too short for the naive server at 64 connections.
        self.timeout_s = timeout_s

    def point(
        self,
        url: str,
        concurrency: int,
        seconds: int,
        cpu_seconds: Callable[[], float] | None = None,
    ) -> LoadPoint:
        """A warm-up run, then the measured run with /ping probed every 0.1 s meanwhile;
        `cpu_seconds` (the server's CPU clock) is read around the measured run."""
        self._wrk(url, concurrency, WARM_UP_S, probe=False)
        cpu_before = cpu_seconds() if cpu_seconds else 0.0
        figures, pings, ping_failures = self._wrk(url, concurrency, seconds, probe=True)
        cpu = (cpu_seconds() - cpu_before) if cpu_seconds else float("nan")
        kinds = {kind: int(count) for kind, count in figures["errors"].items()}
        return LoadPoint(
            concurrency=concurrency,
            requests=int(figures["requests"]),
            duration_s=float(figures["duration_s"]),
            rps=figures["requests"] / figures["duration_s"] if figures["duration_s"] else 0.0,
            errors=sum(kinds.values()),
            error_kinds=kinds,
            p50=float(figures["p50"]),
            p90=float(figures["p90"]),
            p99=float(figures["p99"]),
            ping_p99=percentiles(pings)["p99"],
            ping_failures=ping_failures,
            cpu_ms_per_request=1000 * cpu / figures["requests"] if figures["requests"] else 0.0,
        )

    def _wrk(
        self, url: str, concurrency: int, seconds: int, probe: bool
    ) -> tuple[dict[str, Any], list[float], int]:
        command = [
            self.wrk,
            "-t1",
            f"-c{concurrency}",
            f"-d{seconds}s",
            f"--timeout={self.timeout_s}s",
            "-s",
            str(WRK_SCRIPT),
            f"{url}/invocations",
            "--",
            str(self.bodies),
        ]
        # Output through files: nobody reads a pipe while the probe runs.
        with tempfile.TemporaryFile("w+") as out:
            process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, text=True)
            pings, failures = _probe_ping(url, process) if probe else ([], 0)
            process.wait()
            out.seek(0)
            output = out.read()
        return wrk_figures(output, process.returncode, "wrk"), pings, failures


def wrk_figures(output: str, returncode: int, what: str) -> dict[str, Any]:
    """The figures our wrk script prints as its last JSON line, or LoadError with the tail of
    the output when wrk failed or printed none."""
    lines = [line for line in output.splitlines() if line.startswith("{")]
    if returncode or not lines:
        tail = " | ".join(output.strip().splitlines()[-5:])
        raise LoadError(f"{what} exited with {returncode}: {tail or 'no output'}")
    figures: dict[str, Any] = json.loads(lines[-1])
    return figures


def _probe_ping(url: str, process: subprocess.Popen[str]) -> tuple[list[float], int]:
    """Time GET /ping (keep-alive) every 0.1 s until `process` ends: SageMaker's health check
    gives up after 2 s, so /ping has to stay fast under full load."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=5)
    latencies: list[float] = []
    failures = 0
    try:
        while process.poll() is None:
            started = time.perf_counter()
            try:
                connection.request("GET", "/ping")
                response = connection.getresponse()
                response.read()
                ok = response.status == 200
            except (OSError, http.client.HTTPException):
                connection.close()  # the next request reconnects
                ok = False
            if ok:
                latencies.append(time.perf_counter() - started)
            else:
                failures += 1
            time.sleep(0.1)
    finally:
        connection.close()
    return latencies, failures
