"""PNG charts with matplotlib (no pyplot: figures are built and saved without global state)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure

from loadtests.capacity import StepResult

_COLOURS = {"p50": "tab:green", "p95": "tab:orange", "p99": "tab:red"}
_PARTS = {
    "tokenization_ms": ("tokenization", "tab:purple"),
    "queue_ms": ("queue", "tab:orange"),
    "inference_ms": ("inference", "tab:blue"),
    "other_ms": ("network + HTTP + client", "tab:gray"),
}


def timeline_chart(series: pd.DataFrame, path: Path, title: str = "Load test") -> Path:
    """Throughput and users (top), p50/p95/p99 latency (bottom), against time."""
    figure = Figure(figsize=(10, 7), layout="constrained")
    top, bottom = figure.subplots(2, 1, sharex=True)
    top.plot(series.index, series["rps"], label="requests/s", color="tab:blue")
    top.plot(series.index, series["texts_rps"], label="texts/s", color="tab:cyan", linestyle=":")
    if series["fail_rps"].any():
        top.plot(series.index, series["fail_rps"], label="failures/s", color="tab:red")
    top.set_ylabel("per second")
    users = top.twinx()
    users.step(series.index, series["users"], where="post", color="black", alpha=0.4, label="users")
    users.set_ylabel("users")
    users.set_ylim(bottom=0, top=max(1.0, float(series["users"].max())) * 1.1)
    users.yaxis.get_major_locator().set_params(integer=True)
    top.legend(loc="upper left")
    top.set_title(title)
    for name, colour in _COLOURS.items():
        bottom.plot(series.index, series[name], label=name, color=colour)
    bottom.set_ylabel("latency (ms)")
    bottom.set_xlabel("seconds since start")
    bottom.legend(loc="upper left")
    figure.savefig(path, dpi=100)
    return path


def latency_split_chart(split: pd.DataFrame, path: Path) -> Path:
    """Mean latency per window, stacked: tokenization, queue, inference, the rest."""
    figure = Figure(figsize=(10, 4), layout="constrained")
    axes = figure.subplots()
    columns = [c for c in _PARTS if c in split]
    axes.stackplot(
        split.index,
        *(split[c].fillna(0.0) for c in columns),
        labels=[_PARTS[c][0] for c in columns],
        colors=[_PARTS[c][1] for c in columns],
        alpha=0.8,
    )
    axes.set_xlabel("seconds since start")
    axes.set_ylabel("mean latency (ms)")
    axes.set_title("Where the time goes (server timing headers)")
    axes.legend(loc="upper left")
    figure.savefig(path, dpi=100)
    return path


def capacity_chart(
    steps: Sequence[StepResult], path: Path, p99_target_ms: float, capacity_rps: float | None
) -> Path:
    """Achieved throughput and p50/p95/p99 against offered rate, with the SLO and the capacity."""
    ordered = sorted(steps, key=lambda s: s.offered_rps)
    offered = [s.offered_rps for s in ordered]
    figure = Figure(figsize=(10, 7), layout="constrained")
    top, bottom = figure.subplots(2, 1, sharex=True)
    top.plot(offered, [s.achieved_rps for s in ordered], marker="o", label="achieved req/s")
    top.plot(offered, offered, linestyle=":", color="gray", label="offered = achieved")
    if capacity_rps is not None:
        top.axhline(
            capacity_rps,
            color="tab:green",
            linestyle="--",
            label=f"capacity {capacity_rps:.0f} req/s",
        )
    top.set_ylabel("requests/s")
    top.set_title("Capacity search: one server")
    top.legend(loc="upper left")
    for name, colour in _COLOURS.items():
        bottom.plot(
            offered,
            [getattr(s, f"{name}_ms") for s in ordered],
            marker="o",
            label=name,
            color=colour,
        )
    bottom.axhline(
        p99_target_ms, color="tab:red", linestyle="--", label=f"p99 target {p99_target_ms:g} ms"
    )
    bottom.set_yscale("log")
    bottom.set_xlabel("offered load (requests/s)")
    bottom.set_ylabel("latency (ms)")
    bottom.legend(loc="upper left")
    figure.savefig(path, dpi=100)
    return path
