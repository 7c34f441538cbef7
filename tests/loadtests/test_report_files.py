"""Time series, latency split, charts and markdown built from per-request samples."""

from __future__ import annotations

from pathlib import Path

import pytest

from loadtests import charts, samples
from loadtests.capacity import CapacityResult, CapacitySlo, StepResult
from loadtests.summary import EntryStats, capacity_summary, run_summary

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def log() -> samples.SampleLog:
    """Ten seconds at 10 req/s: 20 ms each (2 queue, 8 inference, 1 tokenization), every 10th failed."""
    log = samples.SampleLog()
    for i in range(100):
        ok = i % 10 != 9
        timings = {"queue_ms": 2.0, "inference_ms": 8.0, "tokenization_ms": 1.0} if ok else {}
        log.add(
            1000.0 + i / 10,
            "/invocations json_single",
            20.0 + (i % 10),
            ok,
            1 + i % 2,
            2 + i // 50,
            timings,
        )
    return log


def test_timeline_has_one_row_per_full_second(log: samples.SampleLog) -> None:
    series = samples.timeline(log.frame())
    assert list(series.index) == [float(s) for s in range(9)]  # the cut-short last second dropped
    assert (series["rps"] == 10).all() and (series["fail_rps"] == 1).all()
    assert (series["texts_rps"] == 15).all()
    assert series["users"].iloc[0] == 2 and series["users"].iloc[-1] == 3
    assert (series["p50"] > 20).all() and (series["p99"] <= 28).all()  # failures excluded


def test_latency_split_attributes_the_rest_to_network_and_client(log: samples.SampleLog) -> None:
    split = samples.latency_split(log.frame())
    assert (split["queue_ms"] == 2).all() and (split["inference_ms"] == 8).all()
    assert (
        (split["other_ms"] - (split["queue_ms"] * 0 + 13.0)).abs() < 1e-9
    ).all()  # 24 - 11 on average
    table = samples.split_percentiles(log.frame())
    assert list(table.index) == [
        "client round trip",
        "server tokenization",
        "server queue",
        "server inference",
    ]
    assert table.loc["server inference", "p99"] == 8 and table.loc["server queue", "samples"] == 90


def test_charts_are_png_files(log: samples.SampleLog, tmp_path: Path) -> None:
    frame = log.frame()
    made = [
        charts.timeline_chart(samples.timeline(frame), tmp_path / "timeline.png"),
        charts.latency_split_chart(samples.latency_split(frame), tmp_path / "split.png"),
        charts.capacity_chart([_step(10, 12), _step(20, 150)], tmp_path / "capacity.png", 100, 10),
    ]
    for path in made:
        assert path.read_bytes()[:8] == PNG_MAGIC and path.stat().st_size > 10_000


def _step(rate: float, p99: float) -> StepResult:
    return StepResult(rate, int(rate), 10, int(rate * 10), 0, rate, rate * 2, p99 / 3, p99 / 2, p99)


def test_run_summary_shows_verdict_entries_split_and_failures(log: samples.SampleLog) -> None:
    entries = [EntryStats("/invocations json_single", 100, 10, 10.0, 24, 28, 29, 29)]
    text = run_summary(
        "Load test: x", entries, ["p99 29 ms > 10 ms"], samples.split_percentiles(log.frame()),
        ["timeline.png"], [("/invocations json_single", "HTTP 503 | busy", 10)],
    )  # fmt: skip
    assert "SLO gate: **FAILED**: p99 29 ms > 10 ms." in text
    assert "| /invocations json_single | 100 | 10 | 10.0 | 24 | 28 | 29 | 29 |" in text
    assert "| server inference | 8.0 |" in text
    assert "HTTP 503 / busy" in text and "[timeline.png](timeline.png)" in text
    assert "SLO gate: not set." in run_summary("t", entries, None)
    assert "SLO gate: passed." in run_summary("t", entries, [])


def test_capacity_summary_states_the_figure_and_the_curve() -> None:
    result = CapacityResult(
        CapacitySlo(p99_ms=100), [_step(20, 150), _step(10, 12)], best=_step(10, 12)
    )
    result.stopped_because = "SLO holds at 10.0 req/s offered, breaks at 20.0"
    result.notes.append("Measured on a quiet machine.")
    text = capacity_summary(result, "capacity.png")
    assert "\nMeasured on a quiet machine.\n" in text
    assert "**Capacity: 10.0 requests/s (20.0 texts/s)** per server" in text
    rows = [line for line in text.splitlines() if line.startswith("| 1") or line.startswith("| 2")]
    assert rows[0].startswith("| 10.0") and rows[0].endswith("| ok |")
    assert rows[1].startswith("| 20.0") and "p99 150 ms > 100 ms" in rows[1]
    empty = CapacityResult(CapacitySlo(), [_step(10, 150)], stopped_because="the first step breaks")
    assert "No step met the SLO" in capacity_summary(empty)
