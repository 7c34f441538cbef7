"""The retry storm: N connections (512) that send their next request the moment they have an
answer, a 503 included (wrk with `wrk_storm.lua`), as naive clients and many retry loops do.
Goodput is the 200 answers' texts per second; the 200s' latency is measured on their own."""

from __future__ import annotations

import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from load_client import wrk_figures

STORM_SCRIPT = Path(__file__).with_name("wrk_storm.lua")
STORM_CONNECTIONS = 512


@dataclass
class StormPoint:
    connections: int
    seconds: float
    requests: int
    ok: int
    shed: int
    """503 answers."""
    shed_retry_after: int
    other: int
    """Any other status."""
    socket_errors: int
    timeouts: int
    ok_p50_ms: float
    ok_p99_ms: float
    goodput_texts_s: float
    answers_per_s: float
    """Every answer, 200 or not: how hard the clients hammered."""


def storm(
    wrk: str,
    url: str,
    bodies: Path,
    texts_per_request: int,
    seconds: int,
    timeout_s: int = 30,
    midway: Callable[[], Any] | None = None,
) -> tuple[StormPoint, Any]:
    """One storm of `seconds` against `url`/invocations, with the JSON bodies in `bodies`;
    `midway` is called half-way through (what it returns comes back beside the point)."""
    command = [
        wrk, "-t1", f"-c{STORM_CONNECTIONS}", f"-d{seconds}s", f"--timeout={timeout_s}s",
        "-s", str(STORM_SCRIPT), f"{url}/invocations", "--", str(bodies),
    ]  # fmt: skip
    seen = None
    with tempfile.TemporaryFile("w+") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, text=True)
        if midway is not None:
            time.sleep(seconds / 2)
            seen = midway()
        process.wait()
        out.seek(0)
        output = out.read()
    figures = wrk_figures(output, process.returncode, "wrk (storm)")
    duration = float(figures["duration_s"]) or 1.0
    point = StormPoint(
        connections=STORM_CONNECTIONS,
        seconds=duration,
        requests=int(figures["requests"]),
        ok=int(figures["ok"]),
        shed=int(figures["shed"]),
        shed_retry_after=int(figures["shed_retry_after"]),
        other=int(figures["other"]),
        socket_errors=int(figures["socket_errors"]),
        timeouts=int(figures["timeouts"]),
        ok_p50_ms=float(figures["ok_p50"]),
        ok_p99_ms=float(figures["ok_p99"]),
        goodput_texts_s=int(figures["ok"]) * texts_per_request / duration,
        answers_per_s=int(figures["requests"]) / duration,
    )
    return point, seen
