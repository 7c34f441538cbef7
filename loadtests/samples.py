"""Per-request samples of a run, and the time series the charts and summary are made from.

Locust's own CSV history holds rolling percentiles of the whole run; per-request samples let
us compute exact per-window percentiles and split each request's latency into the server's
tokenization, queue and inference time (from its timing headers) plus everything else
(network, HTTP parsing, JSON encoding, the client itself).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

COLUMNS = (
    "time", "name", "latency_ms", "ok", "texts", "users",
    "tokenization_ms", "queue_ms", "inference_ms",
)  # fmt: skip
SERVER_PARTS = ("tokenization_ms", "queue_ms", "inference_ms")
_PART_NAMES = {
    "latency_ms": "client round trip",
    "tokenization_ms": "server tokenization",
    "queue_ms": "server queue",
    "inference_ms": "server inference",
}


@dataclass
class SampleLog:
    """Append-only; one row per completed request (time is seconds since the epoch)."""

    rows: list[tuple[object, ...]] = field(default_factory=list)

    def add(
        self,
        time: float,
        name: str,
        latency_ms: float,
        ok: bool,
        texts: int,
        users: int,
        timings: dict[str, float | None],
    ) -> None:
        self.rows.append(
            (
                time,
                name,
                latency_ms,
                ok,
                texts,
                users,
                *(timings.get(part) for part in SERVER_PARTS),
            )
        )

    def frame(self) -> pd.DataFrame:
        frame = pd.DataFrame(self.rows, columns=list(COLUMNS))
        return frame.astype({part: "float64" for part in SERVER_PARTS})


def read_samples(path: Path) -> pd.DataFrame:
    return pd.read_csv(path)


def timeline(frame: pd.DataFrame, window_s: float = 1.0) -> pd.DataFrame:
    """Per window since the first request: req/s, failures/s, texts/s, users, p50/p95/p99 (ok only)."""
    if frame.empty:
        return pd.DataFrame(columns=["rps", "fail_rps", "texts_rps", "users", "p50", "p95", "p99"])
    window = ((frame["time"] - frame["time"].min()) // window_s) * window_s
    grouped = frame.assign(window=window).groupby("window")
    latency = frame[frame["ok"]].assign(window=window).groupby("window")["latency_ms"]
    series = pd.DataFrame(
        {
            "rps": grouped.size() / window_s,
            "fail_rps": grouped["ok"].apply(lambda ok: (~ok.astype(bool)).sum()) / window_s,
            "texts_rps": grouped["texts"].sum() / window_s,
            "users": grouped["users"].max(),
            "p50": latency.quantile(0.50),
            "p95": latency.quantile(0.95),
            "p99": latency.quantile(0.99),
        }
    )
    series = series.sort_index()
    # The last window is cut short by the end of the run; its rate would read as a drop.
    return series.iloc[:-1] if len(series) > 1 else series


def latency_split(frame: pd.DataFrame, window_s: float = 5.0) -> pd.DataFrame:
    """Per window: mean ms of each server stage and of the rest, over successful requests."""
    ok = frame[frame["ok"]].dropna(subset=list(SERVER_PARTS), how="all")
    if ok.empty:
        return pd.DataFrame(columns=[*SERVER_PARTS, "other_ms"])
    parts = ok[list(SERVER_PARTS)].fillna(0.0)
    ok = ok.assign(other_ms=(ok["latency_ms"] - parts.sum(axis=1)).clip(lower=0.0))
    window = ((ok["time"] - frame["time"].min()) // window_s) * window_s
    return ok.assign(window=window).groupby("window")[[*SERVER_PARTS, "other_ms"]].mean()


def split_percentiles(frame: pd.DataFrame) -> pd.DataFrame:
    """p50/p95/p99 of client latency and of each server stage, over successful requests."""
    ok = frame[frame["ok"]]
    columns = ["latency_ms", *SERVER_PARTS]
    table = ok[columns].quantile([0.5, 0.95, 0.99]).T
    table.columns = ["p50", "p95", "p99"]
    table["samples"] = ok[columns].count()
    return table.rename(index=_PART_NAMES)
