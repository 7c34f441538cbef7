"""The short markdown summary of a run: per-entry statistics, SLO verdict, latency split."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd

from loadtests.capacity import CapacityResult, step_violations


@dataclass(frozen=True)
class EntryStats:
    """One line of Locust's statistics table."""

    name: str
    requests: int
    failures: int
    rps: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float


def _table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return lines


def _share_table(key: str, frame: pd.DataFrame) -> list[str]:
    """Requests, failures, share and latency per `key` (variant or model), a row each."""
    return _table(
        [key, "requests", "failures", "share", "req/s", "p50 ms", "p95 ms", "p99 ms"],
        [
            (name, int(r.requests), int(r.failures), f"{r.share:.1f}%", f"{r.rps:.1f}",
             f"{r.p50:.0f}", f"{r.p95:.0f}", f"{r.p99:.0f}")
            for name, r in frame.iterrows()
        ],
    )  # fmt: skip


def run_summary(
    title: str,
    entries: Sequence[EntryStats],
    slo_violations: list[str] | None,
    split: pd.DataFrame | None = None,
    charts: Sequence[str] = (),
    failures: Sequence[tuple[str, str, int]] = (),
    variants: pd.DataFrame | None = None,
    models: pd.DataFrame | None = None,
) -> str:
    """Markdown; `slo_violations` None means no gate was set, [] means it passed; `variants`
    (samples.per_variant) adds a table per production variant that answered, `models`
    (samples.per_model) one per model a multi-model run named."""
    lines = [f"# {title}", ""]
    if slo_violations is None:
        lines.append("SLO gate: not set.")
    elif slo_violations:
        lines.append("SLO gate: **FAILED**: " + "; ".join(slo_violations) + ".")
    else:
        lines.append("SLO gate: passed.")
    lines.append("")
    lines += _table(
        ["request", "requests", "failures", "req/s", "p50 ms", "p95 ms", "p99 ms", "max ms"],
        [
            (
                e.name,
                e.requests,
                e.failures,
                f"{e.rps:.1f}",
                f"{e.p50_ms:.0f}",
                f"{e.p95_ms:.0f}",
                f"{e.p99_ms:.0f}",
                f"{e.max_ms:.0f}",
            )
            for e in entries
        ],
    )
    if variants is not None and not variants.empty:
        lines += ["", "Per production variant (from x-amzn-invoked-production-variant):", ""]
        lines += _share_table("variant", variants)
    if models is not None and not models.empty:
        lines += ["", "Per model (the TargetModel each request named), most requested first:", ""]
        lines += _share_table("model", models)
    if split is not None and not split.empty:
        lines += [
            "",
            "Latency split over successful requests (ms; server stages from its timing headers):",
            "",
        ]
        lines += _table(
            ["part", "p50", "p95", "p99", "samples"],
            [
                (name, f"{r.p50:.1f}", f"{r.p95:.1f}", f"{r.p99:.1f}", int(r.samples))
                for name, r in split.iterrows()
            ],
        )
    if failures:
        lines += ["", "Failures:", ""]
        lines += _table(
            ["request", "error", "count"], [(n, e.replace("|", "/"), c) for n, e, c in failures]
        )
    if charts:
        lines += ["", "Charts: " + ", ".join(f"[{c}]({c})" for c in charts)]
    return "\n".join(lines) + "\n"


def capacity_summary(result: CapacityResult, chart: str | None = None) -> str:
    """The capacity figure, then the curve: one row per measured step, in offered-rate order."""
    slo = result.slo
    lines = ["# Capacity search", ""]
    target = f"p99 <= {slo.p99_ms:g} ms, failure ratio <= {slo.max_fail_ratio:g}, achieved >= {slo.min_achieved_fraction:.0%} of offered"
    if result.capacity_rps is None:
        lines.append(f"No step met the SLO ({target}): {result.stopped_because}.")
    else:
        best = result.best
        assert best is not None
        lines.append(
            f"**Capacity: {best.achieved_rps:.1f} requests/s ({best.texts_rps:.1f} texts/s)** per server "
            f"within the SLO ({target}); p99 there {best.p99_ms:.0f} ms. {result.stopped_because}."
        )
    lines.append("")
    lines += _table(
        ["offered req/s", "users", "achieved req/s", "texts/s", "p50 ms", "p95 ms", "p99 ms", "failures", "queue p50", "inference p50", "verdict"],
        [
            (
                f"{s.offered_rps:.1f}", s.users, f"{s.achieved_rps:.1f}", f"{s.texts_rps:.1f}",
                f"{s.p50_ms:.0f}", f"{s.p95_ms:.0f}", f"{s.p99_ms:.0f}", f"{s.failures}/{s.requests}",
                "-" if s.queue_p50_ms is None else f"{s.queue_p50_ms:.1f}",
                "-" if s.inference_p50_ms is None else f"{s.inference_p50_ms:.1f}",
                "; ".join(step_violations(s, slo)) or "ok",
            )
            for s in sorted(result.steps, key=lambda s: s.offered_rps)
        ],
    )  # fmt: skip
    lines += ["", *result.notes] if result.notes else []
    if chart:
        lines += ["", f"Chart: [{chart}]({chart})"]
    return "\n".join(lines) + "\n"
