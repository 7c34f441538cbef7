"""Serving benchmark: the real server under HTTP load, beside the in-process ceiling and a naive
per-request transformers-pipeline server, all on the same model and texts, in one run.

    python benchmarks/bench_serve.py [--model-dir artifacts/default] [--duration 10]
        [--concurrency 1,4,16,64] [--texts FILE.csv] [--texts-per-request 1] [--no-naive]
        [--json FILE]

Load: `wrk` (one thread, N keep-alive connections, `wrk_invocations.lua`); a 1 s warm-up before
each point. Ceiling (`ceiling.py`): ONNX Runtime in-process, best of intra-op threads
{1, all cores} × spin-wait {off, on}. The server runs with its defaults: SERVE_WORKERS and
SERVE_INTRA_OP_THREADS pass through from the environment. The floor (`floor_server.py`):
uvicorn and a bare ASGI app running the model in-line, at concurrency 1. The naive baseline
(`naive_server.py`) loads `<model-dir>-pytorch`. Texts: /work/shared/data/ag_news_titles.csv
when present, else the bundled sample. Prints one table; `--json FILE` also writes the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import Any

from bench_common import ROOT, all_cores, group_texts, load_texts
from bench_models import bert_base_artifact
from ceiling import Ceiling, CeilingRun
from extra_points import (
    bert_base,
    floor_point,
    our_server,
    overload,
    print_bert_base,
    print_overload,
)
from load_client import WARM_UP_S, LoadError, LoadPoint, WrkClient, find_wrk, write_bodies
from naive_server import naive_server
from server_cpu import tree_cpu_seconds
from sorted_ceiling import SortedRun, sorted_ceiling
from storm_section import print_storm, storm_section

from loadtests.local_server import ServerError

SERVER_KNOBS = ("SERVE_WORKERS", "SERVE_INTRA_OP_THREADS")


def run_points(
    name: str,
    url: str,
    client: WrkClient,
    args: argparse.Namespace,
    ceiling: Ceiling | None = None,
    pid: int | None = None,
) -> list[dict[str, Any]]:
    """One wrk point per concurrency; with `ceiling`, in-process runs right before and after."""
    rows = []
    for concurrency in args.concurrency:
        # The machine is shared and noisy: in-process runs right before and right after each
        # point (with the search's best configuration) give a ceiling measured under the same
        # conditions; the faster of the two counts.
        adjacent: CeilingRun | None = None
        seconds = max(1.0, args.duration / 2)
        if ceiling:
            leader = ceiling.best().config
            before = ceiling.measure(leader, seconds, f"adjacent c={concurrency}, before")
        cpu = (lambda: tree_cpu_seconds(pid)) if pid else None
        point: LoadPoint = client.point(url, concurrency, args.duration, cpu)
        if ceiling:
            after = ceiling.measure(leader, seconds, f"adjacent c={concurrency}, after")
            adjacent = max(before, after, key=lambda run: run.rps)
        row: dict[str, Any] = asdict(point)
        if adjacent:
            row["adjacent_ceiling"] = asdict(adjacent)
        print(
            f"  {name:<7} c={concurrency:<3} {point.rps:8.1f} req/s  p50 {point.p50:7.2f} ms  "
            f"p99 {point.p99:7.2f} ms  errors {point.errors}",
            file=sys.stderr,
            flush=True,
        )
        rows.append(row)
    return rows


def main() -> None:
    args = parse_args()
    wrk = find_wrk()
    model_dir = args.model_dir.resolve()
    if not (model_dir / "manifest.json").is_file():
        sys.exit(f"bench: {model_dir} is not a model artifact; run `make train` first")
    texts, source = load_texts(args.texts)
    groups = group_texts(texts, args.texts_per_request)
    if not groups:
        sys.exit(f"bench: fewer than {args.texts_per_request} texts in {source}")
    knobs = {name: os.environ.get(name) or "auto" for name in SERVER_KNOBS}
    print(
        f"model {model_dir}; {len(texts)} texts from {source}; {args.texts_per_request} per "
        f"request; {args.duration} s per point; {all_cores()} CPUs; "
        + ", ".join(f"{name}={value}" for name, value in knobs.items()),
        file=sys.stderr,
    )

    with tempfile.TemporaryDirectory(prefix="bench-serve-") as tmp:
        bodies = write_bodies(groups, args.texts_per_request > 1, Path(tmp) / "bodies.txt")
        client = WrkClient(wrk, bodies)
        ceiling = Ceiling(model_dir, groups)
        for run in ceiling.search(args.duration, "search"):
            _print_ceiling(run)
        batched = sorted_ceiling(model_dir, texts[:4000], args.duration)
        for sorted_run in batched:
            print(
                f"  sorted batches of 32: {sorted_run.texts_per_s:8.1f} texts/s ({sorted_run.label()})",
                file=sys.stderr,
            )
        overloaded: dict[str, Any] = {}
        stormed: dict[str, Any] = {}
        bert: dict[str, Any] = {}
        floor: dict[str, Any] = {}
        try:
            with our_server(model_dir, Path(tmp) / "serve.log") as server:
                ours = run_points("serve", server.url, client, args, ceiling, server.process.pid)
                if args.overload:
                    overloaded = overload(server, texts, client, args.duration, Path(tmp))
                if args.storm:
                    stormed = storm_section(
                        server, model_dir, texts, client, args.duration, Path(tmp)
                    )
            if 1 in args.concurrency:
                floor = floor_point(model_dir, ceiling, client, args.duration, Path(tmp))
            naive: list[dict[str, Any]] = []
            naive_dir = args.naive_dir or model_dir.with_name(model_dir.name + "-pytorch")
            if args.naive and naive_dir.is_dir():
                with naive_server(naive_dir, Path(tmp) / "naive.log") as url:
                    naive = run_points("naive", url, client, args)
            elif args.naive:
                print(f"  naive baseline skipped: {naive_dir} not found", file=sys.stderr)
            if args.bert_base:
                bert = bert_base(bert_base_artifact(), texts, client, args.duration, Path(tmp))
        except (ServerError, LoadError) as error:
            sys.exit(f"bench: {error}")

    # Search again at the end and keep the best run of all: "vs best ceiling" is the
    # conservative ratio, "vs adjacent" the one measured under the same load.
    for run in ceiling.search(args.duration, "search again"):
        _print_ceiling(run)
    best = ceiling.best()
    top = max(batched, key=lambda run: run.texts_per_s)
    print_table(best, ceiling, top, knobs, ours, naive, floor)
    if overloaded:
        print_overload(overloaded)
    if stormed:
        print_storm(stormed)
    if bert:
        print_bert_base(bert)
    if args.json:
        figures = {
            "server_env": knobs,
            "ceiling": asdict(best),
            "ceiling_runs": [asdict(run) for run in ceiling.runs],
            "sorted_ceiling": [asdict(run) for run in batched],
            "serve": ours,
            "naive": naive,
            "overload": overloaded,
            "storm": stormed,
            "floor": floor,
            "bert_base": bert,
        }
        args.json.write_text(json.dumps(figures, indent=2))


def _print_ceiling(run: CeilingRun) -> None:
    print(
        f"  ceiling {run.rps:8.1f} req/s  p50 {run.p50:7.2f} ms  ({run.phase}; "
        f"{run.config.label()})",
        file=sys.stderr,
        flush=True,
    )


def print_table(
    best: CeilingRun,
    ceiling: Ceiling,
    top: SortedRun,
    knobs: dict[str, str],
    ours: list[dict[str, Any]],
    naive: list[dict[str, Any]],
    floor: dict[str, Any],
) -> None:
    """The Markdown table on stdout, with the ceiling and server settings above it."""
    threads = ", ".join(str(n) for n in sorted({c.threads for c in ceiling.configs}))
    print(
        "\nserver: python -m service serve, "
        + ", ".join(f"{name}={value}" for name, value in knobs.items())
        + f"; load: wrk, 1 thread, {WARM_UP_S} s warm-up per point"
    )
    print(
        f"in-process ONNX Runtime ceiling: {best.rps:.1f} req/s, p50 {best.p50:.2f} ms per "
        f"request ({best.provider}, {best.config.label()}; best of intra-op threads "
        f"{{{threads}}} × spin-wait {{off, on, on kept between runs}} over every in-process run)"
    )
    print(
        f"in-process sorted-batch ceiling: {top.texts_per_s:.1f} texts/s (texts sorted by "
        f"length, batches of 32, tokenization + model + softmax timed; {top.label()}; best of "
        f"threads {{{threads}}} × spin-wait {{off, on, on kept between runs}})\n"
    )
    header = (
        "conc",
        "req/s",
        "p50 ms",
        "p90 ms",
        "p99 ms",
        "errors",
        "ping p99 ms",
        "vs best ceiling",
        "vs adjacent",
        "vs sorted ceiling",
        "CPU ms/req",
        "naive req/s",
        "naive p50",
        "vs naive",
    )
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    naive_by_c = {row["concurrency"]: row for row in naive}
    for row in ours:
        base = naive_by_c.get(row["concurrency"])
        adjacent = row.get("adjacent_ceiling")
        cells = [
            str(row["concurrency"]),
            f"{row['rps']:.1f}",
            f"{row['p50']:.2f}",
            f"{row['p90']:.2f}",
            f"{row['p99']:.2f}",
            str(row["errors"]),
            f"{row['ping_p99']:.1f}",
            f"{row['rps'] / best.rps:.0%}",
            f"{row['rps'] / adjacent['rps']:.0%}" if adjacent else "-",
            f"{row['rps'] / top.texts_per_s:.0%}",
            f"{row['cpu_ms_per_request']:.2f}",
            f"{base['rps']:.1f}" if base else "-",
            f"{base['p50']:.2f}" if base else "-",
            f"{row['rps'] / base['rps']:.2f}x" if base and base["rps"] else "-",
        ]
        print("| " + " | ".join(cells) + " |")
    c1 = next((row for row in ours if row["concurrency"] == 1), None)
    if c1:
        single = c1.get("adjacent_ceiling", {"p50": best.p50})["p50"]  # the run next to it
        lone = min(ceiling.runs, key=lambda run: run.p50)
        print(
            f"\nconcurrency 1: server p50 {c1['p50']:.2f} ms vs in-process {single:.2f} ms "
            f"(+{c1['p50'] - single:.2f} ms for HTTP, JSON and queueing); vs the best "
            f"in-process single request ({lone.p50:.2f} ms, {lone.config.label()}): "
            f"{c1['p50'] / lone.p50:.2f}x"
        )
    if c1 and floor:
        print(
            f"floor at concurrency 1 (benchmarks/floor_server.py: uvicorn and a bare ASGI app "
            f"running the model in-line, {floor['config']}): p50 {floor['p50']:.2f} ms = "
            f"{floor['p50'] / lone.p50:.2f}x the best in-process single request; the server's "
            f"p50 is {c1['p50'] / floor['p50']:.2f}x the floor"
        )


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model-dir", type=Path, default=ROOT / "artifacts" / "default")
    parser.add_argument(
        "--naive-dir", type=Path, help="PyTorch checkpoint (default <model-dir>-pytorch)"
    )
    parser.add_argument(
        "--duration",
        type=int,
        default=int(os.environ.get("BENCH_DURATION", 10)),
        help="whole seconds per point (wrk's unit; BENCH_DURATION)",
    )
    parser.add_argument(
        "--concurrency",
        type=lambda s: [int(c) for c in s.split(",")],
        default=os.environ.get("BENCH_CONCURRENCY", "1,4,16,64"),
        help="connections per point, comma-separated (BENCH_CONCURRENCY)",
    )
    parser.add_argument("--texts", type=Path, help="CSV with a `text` column")
    parser.add_argument("--texts-per-request", type=int, default=1)
    parser.add_argument("--no-naive", dest="naive", action="store_false")
    parser.add_argument(
        "--no-overload", dest="overload", action="store_false", help="skip the 3x overload point"
    )
    parser.add_argument(
        "--no-storm",
        dest="storm",
        action="store_false",
        help="skip the retry storm (ours and naive ONNX Runtime) and the memory it measures",
    )
    parser.add_argument(
        "--no-bert-base",
        dest="bert_base",
        action="store_false",
        help="skip the BERT-base-sized model (built and exported once, ~2 min)",
    )
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args()
    if args.duration < 1:
        parser.error("--duration must be at least 1 (whole seconds)")
    if args.texts_per_request < 1:
        parser.error("--texts-per-request must be at least 1")
    return args


if __name__ == "__main__":
    main()
