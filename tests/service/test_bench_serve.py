"""The serving benchmark runs end to end (short) so `make bench-serve` cannot rot."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
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
            "--json",
            str(figures),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "SERVE_INTRA_OP_THREADS": "1"},
    )
    assert result.returncode == 0, result.stderr[-2000:]
    rows = [line for line in result.stdout.splitlines() if line.startswith("| ")]
    assert rows[0].startswith("| conc | req/s") and [r.split(" | ")[0] for r in rows[1:]] == [
        "| 1",
        "| 8",
    ]
    data = __import__("json").loads(figures.read_text())
    assert all(row["errors"] == 0 and row["requests"] > 0 for row in data["serve"])
    assert data["ceiling"]["rps"] > 0
