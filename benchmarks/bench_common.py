"""What the serving benchmark's modules share: the texts, their grouping, latency percentiles."""

from __future__ import annotations

import csv
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
SHARED_TEXTS = Path("/work/shared/data/ag_news_titles.csv")
SAMPLE_TEXTS = ROOT / "training" / "sample_data" / "headlines.csv"


def load_texts(path: Path | None) -> tuple[list[str], str]:
    """The `text` column of `path`; by default the AG News headlines if present, else the sample."""
    source = path or (SHARED_TEXTS if SHARED_TEXTS.is_file() else SAMPLE_TEXTS)
    with source.open(newline="", encoding="utf-8") as handle:
        texts = [row["text"] for row in csv.DictReader(handle) if row.get("text", "").strip()]
    if not texts:
        sys.exit(f"bench: no texts in {source}")
    return texts, str(source)


def group_texts(texts: Sequence[str], per_request: int) -> list[list[str]]:
    """Consecutive, non-overlapping groups of `per_request` texts: one group per request."""
    k = per_request
    return [list(texts[i : i + k]) for i in range(0, len(texts) - k + 1, k)]


def percentiles(latencies_s: Sequence[float]) -> dict[str, float]:
    """p50, p90 and p99 in milliseconds (NaN when there is nothing to measure)."""
    if not latencies_s:
        return {"p50": float("nan"), "p90": float("nan"), "p99": float("nan")}
    ms = np.asarray(latencies_s) * 1000
    return {f"p{q}": float(np.percentile(ms, q)) for q in (50, 90, 99)}


def all_cores() -> int:
    """Cores this process may run on (its CPU affinity)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0)) or 1
    return os.cpu_count() or 1
