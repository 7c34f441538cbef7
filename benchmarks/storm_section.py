"""The serving benchmark's retry-storm section: our server and naive ONNX Runtime (no
shedding) under the same storm of 512 connections that resend at once after every answer; for
ours, the server's memory half-way through and an open loop at 3x capacity right after."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from bench_common import all_cores, group_texts
from load_client import WrkClient, write_bodies
from memory_report import measure, print_memory, summary
from open_loop import open_loop
from storm import STORM_CONNECTIONS, storm

from loadtests.local_server import ServerProcess, free_port, server_process

TEXTS = 64
OPEN_LOOP_FACTOR = 3.0


def storm_section(
    server: ServerProcess,
    model_dir: Path,
    texts: Sequence[str],
    wrk: WrkClient,
    seconds: int,
    tmp: Path,
    naive: bool = True,
) -> dict[str, Any]:
    groups = group_texts(texts, TEXTS)
    bodies_file = write_bodies(groups, True, tmp / "storm-bodies.txt")
    closed = WrkClient(wrk.wrk, bodies_file).point(server.url, 8, seconds)
    point, memory = storm(
        wrk.wrk,
        server.url,
        bodies_file,
        TEXTS,
        seconds,
        midway=lambda: summary(measure(server.process.pid, server.url)),
    )
    bodies = [json.dumps({"inputs": list(g)}).encode() for g in groups]
    after = open_loop(server.url, bodies, OPEN_LOOP_FACTOR * closed.rps, seconds, TEXTS)
    # The shared machine's speed drifts within a minute: capacity again after, and the storm
    # and the open loop are compared with the mean of the two.
    closed_after = WrkClient(wrk.wrk, bodies_file).point(server.url, 8, seconds)
    figures: dict[str, Any] = {
        "capacity_texts_s": (closed.rps + closed_after.rps) / 2 * TEXTS,
        "capacity_before_after_texts_s": [closed.rps * TEXTS, closed_after.rps * TEXTS],
        "storm": asdict(point),
        "open_after": asdict(after),
        "memory": memory,
        "alive": server.process.poll() is None,
    }
    if naive:
        figures["naive"] = _naive_storm(model_dir, wrk, bodies_file, seconds, tmp)
    return figures


def _naive_storm(
    model_dir: Path, wrk: WrkClient, bodies_file: Path, seconds: int, tmp: Path
) -> dict[str, Any]:
    """benchmarks/naive_ort_server.py, one uvicorn worker per core: capacity, then the storm."""
    port = free_port()
    command = [
        sys.executable, "-m", "uvicorn", "--app-dir", str(Path(__file__).parent),
        "naive_ort_server:app", "--host", "127.0.0.1", "--port", str(port),
        "--workers", str(all_cores()), "--loop", "uvloop", "--http", "httptools",
        "--no-access-log", "--log-level", "warning", "--backlog", "4096",
    ]  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    env = {"NAIVE_MODEL_DIR": str(model_dir)}
    with server_process(command, url, env=env, log_path=tmp / "naive-ort.log") as server:
        server.wait_for_ping(200, 120)
        closed = WrkClient(wrk.wrk, bodies_file).point(url, 8, seconds)
        point, _ = storm(wrk.wrk, url, bodies_file, TEXTS, seconds)
    return {"capacity_texts_s": closed.rps * TEXTS, "storm": asdict(point)}


def print_storm(figures: dict[str, Any]) -> None:
    capacity = figures["capacity_texts_s"]
    print(
        f"\nretry storm ({TEXTS}-text requests): {STORM_CONNECTIONS} connections, each sending "
        f"again as soon as it has an answer (a 503 included), for "
        f"{figures['storm']['seconds']:.0f} s; capacity: closed loop, 8 connections, the mean "
        f"of before the storm and after the open loop that follows it ("
        + " and ".join(f"{c:.0f}" for c in figures["capacity_before_after_texts_s"])
        + " texts/s)\n"
    )
    header = (
        "server | capacity texts/s | goodput texts/s | vs capacity | 200 | 503 (with "
        "Retry-After) | other | answers/s | 200 p50 ms | 200 p99 ms"
    )
    print(f"| {header} |")
    print("|" + "---|" * (header.count("|") + 1))
    rows = [("ours", capacity, figures["storm"])]
    if figures.get("naive"):
        rows.append(
            ("naive ONNX Runtime", figures["naive"]["capacity_texts_s"], figures["naive"]["storm"])
        )
    for name, cap, p in rows:
        other = p["other"] + p["socket_errors"] + p["timeouts"]
        print(
            f"| {name} | {cap:.0f} | {p['goodput_texts_s']:.0f} | "
            f"{p['goodput_texts_s'] / cap:.0%} | {p['ok']} | {p['shed']} "
            f"({p['shed_retry_after']}) | {other} | {p['answers_per_s']:.0f} | "
            f"{p['ok_p50_ms']:.0f} | {p['ok_p99_ms']:.0f} |"
        )
    after = figures["open_after"]
    print(
        f"\nopen loop at {OPEN_LOOP_FACTOR:g}x right after the storm: "
        f"{after['offered_rps']:.1f} req/s for {after['seconds']:.0f} s, goodput "
        f"{after['goodput_texts_s']:.0f} texts/s = {after['goodput_texts_s'] / capacity:.0%} of "
        f"capacity; {after['ok']} 200, {after['shed']} 503 ({after['shed_with_retry_after']} "
        f"with Retry-After, {after['shed_held']} held), {after['other_errors']} other; "
        f"p99 admitted "
        f"{after['p99_admitted_ms']:.0f} ms; server alive: {figures['alive']}"
    )
    if figures.get("memory"):
        print_memory(figures["memory"], "half-way through the storm")
