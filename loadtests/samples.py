"""Per-request samples of a run, and the time series the charts and summary are made from.

Locust's own CSV history holds rolling percentiles of the whole run; per-request samples let
us compute exact per-window percentiles and split each request's latency into the server's
tokenization, queue and inference time (from its timing headers) plus everything else
(network, HTTP parsing, JSON encoding, the client itself).
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Mapping

import numpy as np
import pandas as pd

COLUMNS = (
    "time", "name", "latency_ms", "ok", "texts", "users",
    "tokenization_ms", "queue_ms", "inference_ms", "variant", "model",
)  # fmt: skip
SERVER_PARTS = ("tokenization_ms", "queue_ms", "inference_ms")
_FLOAT_COLUMNS = ("time", "latency_ms", "texts", "users", *SERVER_PARTS)
_PART_NAMES = {
    "latency_ms": "client round trip",
    "tokenization_ms": "server tokenization",
    "queue_ms": "server queue",
    "inference_ms": "server inference",
}


class SampleLog:
    """Append-only, one row per completed request (time is seconds since the epoch).

    Columns are typed arrays (about 60 bytes a request), so an hour at 1,000 requests/s fits
    in a few hundred MB; a missing timing header is stored as NaN.
    """

    def __init__(self) -> None:
        self._floats = {name: array("d") for name in _FLOAT_COLUMNS}
        self._ok = array("b")
        self._name_index = array("H")
        self._names: dict[str, int] = {}
        self._variant_index = array("H")
        self._variants: dict[str, int] = {}
        self._model_index = array("H")
        self._models: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self._ok)

    def add(
        self,
        time: float,
        name: str,
        latency_ms: float,
        ok: bool,
        texts: int,
        users: int,
        timings: Mapping[str, float | None],
        variant: str = "",
        model: str = "",
    ) -> None:
        """`variant`: the production variant that answered ("" when unknown or not SageMaker);
        `model`: the model a multi-model request named ("" for a single-model run)."""
        values = {"time": time, "latency_ms": latency_ms, "texts": texts, "users": users}
        for part in SERVER_PARTS:
            value = timings.get(part)
            values[part] = math.nan if value is None else value
        for column, store in self._floats.items():
            store.append(values[column])
        self._ok.append(ok)
        self._name_index.append(self._names.setdefault(name, len(self._names)))
        self._variant_index.append(self._variants.setdefault(variant, len(self._variants)))
        self._model_index.append(self._models.setdefault(model, len(self._models)))

    def frame(self) -> pd.DataFrame:
        names = np.array(list(self._names) or [""], dtype=object)
        columns: dict[str, object] = {name: np.array(store) for name, store in self._floats.items()}
        columns["name"] = names[np.array(self._name_index, dtype=np.intp)]
        variants = np.array(list(self._variants) or [""], dtype=object)
        columns["variant"] = variants[np.array(self._variant_index, dtype=np.intp)]
        models = np.array(list(self._models) or [""], dtype=object)
        columns["model"] = models[np.array(self._model_index, dtype=np.intp)]
        columns["ok"] = np.array(self._ok, dtype=bool)
        frame = pd.DataFrame(columns, columns=list(COLUMNS))
        return frame.astype({"texts": "int64", "users": "int64"})


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
    return _without_last_window(series.sort_index())


def _without_last_window(series: pd.DataFrame) -> pd.DataFrame:
    """The last window is cut short by the end of the run: its rate would read as a drop and
    its latencies include requests cut off at shutdown."""
    return series.iloc[:-1] if len(series) > 1 else series


def latency_split(frame: pd.DataFrame, window_s: float = 5.0) -> pd.DataFrame:
    """Per window: mean ms of each server stage and of the rest, over successful requests."""
    ok = frame[frame["ok"]].dropna(subset=list(SERVER_PARTS), how="all")
    if ok.empty:
        return pd.DataFrame(columns=[*SERVER_PARTS, "other_ms"])
    parts = ok[list(SERVER_PARTS)].fillna(0.0)
    ok = ok.assign(other_ms=(ok["latency_ms"] - parts.sum(axis=1)).clip(lower=0.0))
    window = ((ok["time"] - frame["time"].min()) // window_s) * window_s
    split = ok.assign(window=window).groupby("window")[[*SERVER_PARTS, "other_ms"]].mean()
    return _without_last_window(split)


def split_percentiles(frame: pd.DataFrame) -> pd.DataFrame:
    """p50/p95/p99 of client latency and of each server stage, over successful requests."""
    ok = frame[frame["ok"]]
    columns = ["latency_ms", *SERVER_PARTS]
    table = ok[columns].quantile([0.5, 0.95, 0.99]).T
    table.columns = ["p50", "p95", "p99"]
    table["samples"] = ok[columns].count()
    return table.rename(index=_PART_NAMES)


def per_variant(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per production variant that answered: requests, failures, share, req/s and
    p50/p95/p99 ms over its successful requests. Empty unless some request named a variant."""
    return _per_group(frame, "variant")


def per_model(frame: pd.DataFrame) -> pd.DataFrame:
    """The same per model of a multi-model run, the most requested first (for a Zipf mix, rank
    order). Empty for a single-model run."""
    table = _per_group(frame, "model")
    return table.sort_values("requests", ascending=False, kind="stable")


def _per_group(frame: pd.DataFrame, column: str) -> pd.DataFrame:
    named = frame[frame[column] != ""]
    if named.empty:
        return pd.DataFrame(columns=["requests", "failures", "share", "rps", "p50", "p95", "p99"])
    duration = max(float(frame["time"].max() - frame["time"].min()), 1e-9)
    grouped = frame.groupby(column)
    ok = frame[frame["ok"]].groupby(column)["latency_ms"]
    table = pd.DataFrame(
        {
            "requests": grouped.size(),
            "failures": grouped["ok"].apply(lambda ok: int((~ok.astype(bool)).sum())),
            "share": 100 * grouped.size() / len(frame),
            "rps": grouped.size() / duration,
            "p50": ok.quantile(0.50),
            "p95": ok.quantile(0.95),
            "p99": ok.quantile(0.99),
        }
    )
    return table.rename(index={"": "(unknown)"}).sort_index()
