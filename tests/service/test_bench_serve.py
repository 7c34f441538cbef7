"""The serving benchmark runs end to end (short) so `make bench-serve` cannot rot."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
@pytest.mark.skipif(
    shutil.which("wrk") is None, reason="wrk not installed (`make wrk` or apt-get install wrk)"
)
def test_bench_serve_prints_a_table_with_no_errors(tiny_artifact: Path, tmp_path: Path) -> None:
    figures = tmp_path / "bench.json"
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "bench_serve.py"),
            "--model-dir",
            str(tiny_artifact),
            "--duration",
            "1",
            "--concurrency",
            "1,8",
            "--no-naive",
            "--no-bert-base",
            "--json",
            str(figures),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        # Passed through to the server untouched (the bench sets no server knobs of its own).
        env={**os.environ, "SERVE_INTRA_OP_THREADS": "1"},
    )
    assert result.returncode == 0, result.stderr[-2000:]
    lines = result.stdout.splitlines()
    assert any(
        line.startswith("server: ") and "SERVE_INTRA_OP_THREADS=1" in line for line in lines
    ), result.stdout
    ceiling_line = next(line for line in lines if line.startswith("in-process ONNX Runtime"))
    assert "spin-wait" in ceiling_line and "intra-op thread" in ceiling_line
    start = next(i for i, line in enumerate(lines) if line.startswith("| conc | req/s"))
    rows = []
    for line in lines[start:]:  # the first table, up to its end
        if not line.startswith("|"):
            break
        if line.startswith("| "):  # not the |---| line
            rows.append(line)
    assert rows[0].startswith("| conc | req/s") and [r.split(" | ")[0] for r in rows[1:]] == [
        "| 1",
        "| 8",
    ]
    assert any(line.startswith("concurrency 1: server p50") for line in lines)
    assert any(line.startswith("floor at concurrency 1") for line in lines)
    assert any(line.startswith("in-process sorted-batch ceiling:") for line in lines)
    assert "vs sorted ceiling" in rows[0] and "CPU ms/req" in rows[0]
    assert any(line.startswith("overload (64-text requests)") for line in lines)
    # The retry storm, ours beside naive ONNX Runtime, the open loop after it, and memory.
    assert any(line.startswith("retry storm (64-text requests): 512 connections") for line in lines)
    assert any(line.startswith("| ours | ") for line in lines)
    assert any(line.startswith("| naive ONNX Runtime | ") for line in lines)
    assert any(line.startswith("open loop at 3x right after the storm") for line in lines)
    assert any(line.startswith("resident memory half-way through the storm") for line in lines)
    workers = [line for line in lines if line.startswith("| worker ")]
    assert workers, result.stdout  # the server runs its default workers (one per core)

    data = json.loads(figures.read_text())
    stormed = data["storm"]
    assert stormed["alive"] and stormed["storm"]["connections"] == 512
    assert stormed["storm"]["ok"] > 0 and stormed["naive"]["storm"]["ok"] > 0
    assert stormed["storm"]["shed_retry_after"] == stormed["storm"]["shed"]
    assert stormed["naive"]["storm"]["shed"] == 0  # it never sheds
    memory = stormed["memory"]
    assert memory["total_pss_mb"] > 0 and memory["total_rss_mb"] >= memory["total_pss_mb"]
    loaded = [p for p in memory["processes"] if p["role"] == "worker"]
    assert loaded and all(p["parts_mb"]["sessions"] > 0 for p in loaded), memory
    assert data["server_env"]["SERVE_INTRA_OP_THREADS"] == "1"
    assert [row["concurrency"] for row in data["serve"]] == [1, 8]
    for row in data["serve"]:
        assert row["errors"] == 0, row["error_kinds"]
        assert row["requests"] > 0 and row["rps"] > 0
        assert row["adjacent_ceiling"]["rps"] > 0
    best = data["ceiling"]
    assert best["rps"] > 0
    assert best["threads"] >= 1 and isinstance(best["spin_wait"], bool)  # the winning config
    assert best["rps"] == max(run["rps"] for run in data["ceiling_runs"])
    tried = {(run["threads"], run["spin_wait"]) for run in data["ceiling_runs"]}
    assert {(1, False), (1, True)} <= tried
    if len(os.sched_getaffinity(0)) > 1:  # ONNX Runtime's own default is tried too
        assert any(run["keep_spinning"] for run in data["ceiling_runs"])
    assert data["naive"] == []
    floor = data["floor"]  # the bare ASGI app answered every request
    assert floor["requests"] > 0 and floor["errors"] == 0 and floor["p50"] > 0
    assert all(row["cpu_ms_per_request"] > 0 for row in data["serve"])
    assert max(run["texts_per_s"] for run in data["sorted_ceiling"]) > 0
    overload = data["overload"]
    assert overload["alive"] and overload["open"]["sent"] > 0
    assert overload["open"]["ok"] + overload["open"]["shed"] == overload["open"]["sent"]
