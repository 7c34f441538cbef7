"""Real headless Locust runs against a real server on the tiny artifact."""

from __future__ import annotations

import csv
import subprocess
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

RunPython = Callable[..., subprocess.CompletedProcess[str]]

pytestmark = [pytest.mark.load, pytest.mark.slow]


def test_run_starts_a_server_ramps_in_steps_and_writes_every_report(
    run_python: RunPython, tiny_artifact: Path, tmp_path: Path
) -> None:
    completed = run_python(
        "-m", "loadtests", "run", "--model-dir", str(tiny_artifact), "--report-dir", str(tmp_path),
        "-u", "4", "-r", "4", "-t", "8s", "--shape", "step", "--steps", "2", "--step-duration", "4s",
        "--slo-p99-ms", "5000", "--slo-max-fail-ratio", "0", "--slo-min-rps", "1",
    )  # fmt: skip
    assert completed.returncode == 0
    assert "SLO gate: passed." in completed.stdout
    for name in (
        "locust.html",
        "locust_stats.csv",
        "summary.md",
        "timeline.png",
        "latency_split.png",
    ):
        assert (tmp_path / name).stat().st_size > 0, name
    frame = pd.read_csv(tmp_path / "samples.csv")
    assert frame["ok"].all() and len(frame) > 20
    assert set(frame["users"]) >= {2, 4}  # the step shape: half the users, then all
    assert set(frame["name"]) == {
        "/invocations json_single",
        "/invocations json_batch",
        "/invocations csv_batch",
    }
    assert frame["queue_ms"].notna().all() and frame["inference_ms"].notna().all()  # timing headers


def test_gate_fails_a_run_whose_answers_break_the_contract(
    run_python: RunPython, server_url: str, tmp_path: Path
) -> None:
    # Every answer carries a real label, none of them "no-such-label": the checks must fail all.
    completed = run_python(
        "-m", "loadtests", "run", "--host", server_url, "--report-dir", str(tmp_path),
        "-u", "2", "-t", "3s", "--slo-max-fail-ratio", "0.01", "--labels", "no-such-label",
    )  # fmt: skip
    assert completed.returncode == 1
    summary = (tmp_path / "summary.md").read_text()
    assert "SLO gate: **FAILED**: failure ratio 100.00%" in summary
    assert "unknown label" in summary


def test_capacity_search_prints_the_figure_and_the_curve(
    run_python: RunPython, server_url: str, tmp_path: Path
) -> None:
    completed = run_python(
        "-m", "loadtests", "capacity", "--host", server_url, "--report-dir", str(tmp_path),
        "--start-rps", "4", "--growth", "2", "--max-rps", "16", "--refine-steps", "0",
        "--warmup", "1", "--step-time", "3", "--cooldown", "0.5", "--slo-p99-ms", "5000",
        "--min-requests", "24",
    )  # fmt: skip
    assert completed.returncode == 0
    assert "**Capacity: " in completed.stdout
    with (tmp_path / "curve.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert [float(r["offered_rps"]) for r in rows] == [4.0, 8.0, 16.0]
    assert all(r["passed"] == "True" and int(r["failures"]) == 0 for r in rows)
    assert float(rows[-1]["achieved_rps"]) > 12  # the server kept up with 16 req/s offered
    assert int(rows[0]["requests"]) >= 20  # 4 req/s measured for 6 s, not 3: enough samples
    assert (tmp_path / "capacity.png").stat().st_size > 10_000
