"""The serving benchmark's extra sections: overload at 3× capacity (open loop), and a
BERT-base-sized model at concurrency 1 and 64."""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Iterator, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from bench_common import group_texts
from ceiling import Ceiling, Config
from load_client import LoadPoint, WrkClient, write_bodies
from open_loop import open_loop
from server_cpu import tree_cpu_seconds
from sorted_ceiling import sorted_ceiling

from loadtests.local_server import ServerProcess, free_port, serve_command, server_process

OVERLOAD_TEXTS = 64
OVERLOAD_FACTOR = 3.0


@contextlib.contextmanager
def our_server(model_dir: Path, log: Path) -> Iterator[ServerProcess]:
    """`serve` with its defaults on a free port, ready; its process for CPU accounting."""
    port = free_port()
    command, env = serve_command(model_dir, port)
    with server_process(command, f"http://127.0.0.1:{port}", env=env, log_path=log) as server:
        server.wait_for_ping(200, 300)
        yield server


def overload(
    server: ServerProcess, texts: Sequence[str], wrk: WrkClient, seconds: int, tmp: Path
) -> dict[str, Any]:
    """Capacity with 64-text requests (closed loop, 8 connections), then an open loop at 3×
    that request rate: goodput, the 503 share and the admitted requests' p99."""
    groups = group_texts(texts, OVERLOAD_TEXTS)
    bodies_file = write_bodies(groups, True, tmp / "bodies-64.txt")
    closed = WrkClient(wrk.wrk, bodies_file).point(server.url, 8, seconds)
    capacity = closed.rps * OVERLOAD_TEXTS
    bodies = [json.dumps({"inputs": list(g)}).encode() for g in groups]
    rate = OVERLOAD_FACTOR * closed.rps
    point = open_loop(server.url, bodies, rate, seconds, OVERLOAD_TEXTS)
    alive = server.process.poll() is None
    return {
        "capacity_texts_s": capacity,
        "closed": asdict(closed),
        "open": asdict(point),
        "alive": alive,
    }


def floor_point(
    model_dir: Path, ceiling: Ceiling, wrk: WrkClient, seconds: int, tmp: Path
) -> dict[str, Any]:
    """Concurrency 1 through benchmarks/floor_server.py, on the in-process ceiling's fastest
    single-request configuration: what HTTP alone adds on this machine."""
    lone = min(ceiling.runs, key=lambda run: run.p50).config
    port = free_port()
    command = [
        sys.executable, "-m", "uvicorn", "--app-dir", str(Path(__file__).parent),
        "floor_server:app", "--host", "127.0.0.1", "--port", str(port), "--loop", "uvloop",
        "--http", "httptools", "--no-access-log", "--log-level", "warning",
    ]  # fmt: skip
    env = {
        "FLOOR_MODEL_DIR": str(model_dir),
        "FLOOR_THREADS": str(lone.threads),
        "FLOOR_SPIN": "1" if lone.spin_wait else "0",
        "FLOOR_KEEP_SPINNING": "1" if lone.keep_spinning else "0",
    }
    url = f"http://127.0.0.1:{port}"
    with server_process(command, url, env=env, log_path=tmp / "floor.log") as server:
        server.wait_for_ping(200, 120)
        point = wrk.point(server.url, 1, seconds)
    return {**asdict(point), "config": lone.label()}


def print_overload(figures: dict[str, Any]) -> None:
    point, capacity = figures["open"], figures["capacity_texts_s"]
    shed_share = point["shed"] / point["sent"] if point["sent"] else 0.0
    print(
        f"\noverload ({OVERLOAD_TEXTS}-text requests): capacity {capacity:.0f} texts/s "
        f"(closed loop, 8 connections); open loop at {OVERLOAD_FACTOR:g}x: "
        f"{point['offered_rps']:.1f} req/s offered for {point['seconds']:.0f} s\n"
    )
    print(
        "| goodput texts/s | vs capacity | sent | 200 | 503 (share) | 503 with Retry-After | 503 held (back before Retry-After) | other errors | p99 admitted ms | p99 503 not held, in server ms | server alive |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    print(
        f"| {point['goodput_texts_s']:.0f} | {point['goodput_texts_s'] / capacity:.0%} | "
        f"{point['sent']} | {point['ok']} | {point['shed']} ({shed_share:.0%}) | "
        f"{point['shed_with_retry_after']} | {point.get('shed_held', 0)} | "
        f"{point['other_errors']} | {point['p99_admitted_ms']:.0f} | "
        f"{point['p99_shed_ms']:.2f} | {figures['alive']} |"
    )


def bert_base(
    model_dir: Path, texts: Sequence[str], wrk: WrkClient, seconds: int, tmp: Path
) -> dict[str, Any]:
    """The larger model, where a lone request's cores matter most: concurrency 1 and 64
    against its in-process ceilings (batch 1 for latency, sorted batches for throughput)."""
    groups = group_texts(texts, 1)
    ceiling = Ceiling(model_dir, groups[:2000])
    ceiling.search(max(4.0, seconds / 2), "bert-base")
    best = ceiling.best()
    sorted_runs = sorted_ceiling(model_dir, texts[:2000], max(4.0, seconds / 2))
    points: list[LoadPoint] = []
    with our_server(model_dir, tmp / "bert-base.log") as server:
        for concurrency in (1, 64):

            def cpu() -> float:
                return float(tree_cpu_seconds(server.process.pid))

            points.append(wrk.point(server.url, concurrency, seconds, cpu))
    return {
        "ceiling": asdict(best),
        "ceiling_runs": [asdict(run) for run in ceiling.runs],
        "sorted": [asdict(run) for run in sorted_runs],
        "points": [asdict(point) for point in points],
    }


def print_bert_base(figures: dict[str, Any]) -> None:
    best = figures["ceiling"]
    top = max(figures["sorted"], key=lambda run: run["texts_per_s"])
    single = min((r for r in figures["ceiling_runs"]), key=lambda run: run["p50"])
    print(
        f"\nBERT-base-sized model (12 layers, hidden 768, random weights): in-process best "
        f"single request p50 {single['p50']:.2f} ms "
        f"({Config(single['threads'], single['spin_wait'], single['keep_spinning']).label()}); batch-1 ceiling {best['rps']:.1f} req/s; "
        f"sorted batches of 32 {top['texts_per_s']:.1f} texts/s\n"
    )
    print(
        "| conc | req/s | p50 ms | p99 ms | errors | CPU ms/req | p50 vs best single | vs sorted ceiling |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for point in figures["points"]:
        print(
            f"| {point['concurrency']} | {point['rps']:.1f} | {point['p50']:.2f} | "
            f"{point['p99']:.2f} | {point['errors']} | {point['cpu_ms_per_request']:.2f} | "
            f"{point['p50'] / single['p50']:.2f}x | {point['rps'] / top['texts_per_s']:.0%} |"
        )


def warn(message: str) -> None:
    print(f"  {message}", file=sys.stderr, flush=True)
