"""Each variant's recent numbers from CloudWatch: invocations, errors, latency, labels.

One `GetMetricData` call per question, over the last N minutes as a single period:
SageMaker's own `AWS/SageMaker` metrics per `EndpointName`/`VariantName` (ModelLatency is in
microseconds); and the server's `serve_predictions_total{label}`, which detailed observability
sends as an OpenTelemetry metric, read with a PromQL query (`deploy.promql_api`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from deploy import promql, promql_api
from deploy.aws import Aws
from deploy.observability import SAGEMAKER_NAMESPACE, dimensions

MAX_QUERIES = 500  # GetMetricData's limit per call

# query id suffix -> (metric, statistic)
_QUERIES = {
    "inv": ("Invocations", "Sum"),
    "e4": ("Invocation4XXErrors", "Sum"),
    "e5": ("Invocation5XXErrors", "Sum"),
    "p50": ("ModelLatency", "p50"),
    "p99": ("ModelLatency", "p99"),
}


@dataclass(frozen=True)
class VariantNumbers:
    invocations: float = 0.0
    errors_4xx: float = 0.0
    errors_5xx: float = 0.0
    p50_ms: float | None = None
    p99_ms: float | None = None

    @property
    def error_percent(self) -> float | None:
        if not self.invocations:
            return None
        return 100 * (self.errors_4xx + self.errors_5xx) / self.invocations


@dataclass(frozen=True)
class Window:
    """The last `minutes` minutes, as GetMetricData's StartTime, EndTime and one Period."""

    minutes: int
    end: datetime

    @classmethod
    def last(cls, minutes: int) -> Window:
        return cls(minutes, datetime.now(UTC).replace(microsecond=0))

    @property
    def start(self) -> datetime:
        return self.end - timedelta(minutes=self.minutes)

    @property
    def period_s(self) -> int:
        return self.minutes * 60


def _stat(ident: str, namespace: str, metric: str, dims: list[dict[str, str]], stat: str,
          window: Window) -> dict[str, Any]:  # fmt: skip
    return {
        "Id": ident,
        "MetricStat": {
            "Metric": {"Namespace": namespace, "MetricName": metric, "Dimensions": dims},
            "Period": window.period_s,
            "Stat": stat,
        },
        "ReturnData": True,
    }


def _fetch(aws: Aws, queries: list[dict[str, Any]], window: Window) -> dict[str, list[float]]:
    """Query id -> its values (one per period; usually one), paginated, in chunks of 500."""
    values: dict[str, list[float]] = {}
    for chunk in range(0, len(queries), MAX_QUERIES):
        request = {
            "MetricDataQueries": queries[chunk : chunk + MAX_QUERIES],
            "StartTime": window.start,
            "EndTime": window.end,
        }
        while True:
            answer = aws.cloudwatch.get_metric_data(**request)
            for result in answer["MetricDataResults"]:
                values.setdefault(result["Id"], []).extend(float(v) for v in result["Values"])
            if not answer.get("NextToken"):
                break
            request["NextToken"] = answer["NextToken"]
    return values


def variant_numbers(
    aws: Aws, endpoint: str, variants: list[str], window: Window, mode: str = "real-time"
) -> dict[str, VariantNumbers]:
    """An asynchronous endpoint publishes no Invocations ("Monitoring asynchronous endpoints"):
    its count stays 0 and its error share unknown."""
    asked = {k: v for k, v in _QUERIES.items() if not (mode == "async" and k == "inv")}
    queries = [
        _stat(
            f"v{index}_{key}",
            SAGEMAKER_NAMESPACE,
            metric,
            dimensions(endpoint, variant),
            stat,
            window,
        )
        for index, variant in enumerate(variants)
        for key, (metric, stat) in asked.items()
    ]
    values = _fetch(aws, queries, window)

    def total(index: int, key: str) -> float:
        return sum(values.get(f"v{index}_{key}", []))

    def millis(index: int, key: str) -> float | None:
        found = values.get(f"v{index}_{key}", [])
        return max(found) / 1000 if found else None  # microseconds; the worst period

    return {
        variant: VariantNumbers(
            invocations=total(index, "inv"),
            errors_4xx=total(index, "e4"),
            errors_5xx=total(index, "e5"),
            p50_ms=millis(index, "p50"),
            p99_ms=millis(index, "p99"),
        )
        for index, variant in enumerate(variants)
    }


def label_counts(aws: Aws, endpoint: str, variant: str, window: Window) -> dict[str, float]:
    """Predictions per label in the window (labels the variant never predicted are absent)."""
    query = promql.predictions_by_label(endpoint, variant, f"{window.minutes}m")
    found = promql_api.instant(aws, query, window.end)
    return {
        sample.labels["label"]: sample.value
        for sample in found
        if "label" in sample.labels and sample.value > 0
    }
