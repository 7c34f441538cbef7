"""The CloudWatch alarms `deploy` makes when the user names none; they roll an update back.

Three alarms per endpoint, named after it (`<endpoint>-5xx-rate`, `-p99-latency`,
`-server-health`) and deleted with it:

- the share of invocations answered 5xx, from SageMaker's `AWS/SageMaker` metrics;
- ModelLatency p99 (SageMaker reports it in microseconds) against the SLO;
- the server's own failures (`serve_rejects_total` + `serve_failed_batches_total`), which
  reach CloudWatch through detailed observability (see `deploy.observability`).

Missing data is not breaching: an endpoint without traffic is not failing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from deploy.aws import Aws
from deploy.observability import CONTAINER_NAMESPACE, SAGEMAKER_NAMESPACE, dimensions

SUFFIXES = ("5xx-rate", "p99-latency", "server-health")
PERIOD_S = 60
SERVER_FAILURES_PER_MINUTE = 10


@dataclass(frozen=True)
class AlarmLimits:
    max_5xx_percent: float = 1.0
    slo_p99_ms: float = 500.0
    evaluation_minutes: int = 2  # consecutive breaching minutes before the alarm fires


def names(endpoint: str) -> tuple[str, ...]:
    return tuple(f"{endpoint}-{suffix}" for suffix in SUFFIXES)


def _stat(ident: str, namespace: str, metric: str, dims: list[dict[str, str]]) -> dict[str, Any]:
    return {
        "Id": ident,
        "MetricStat": {
            "Metric": {"Namespace": namespace, "MetricName": metric, "Dimensions": dims},
            "Period": PERIOD_S,
            "Stat": "Sum",
        },
        "ReturnData": False,
    }


def requests(endpoint: str, variant: str, limits: AlarmLimits) -> list[dict[str, Any]]:
    """PutMetricAlarm requests for the three alarms."""
    dims = dimensions(endpoint, variant)
    common = {
        "ComparisonOperator": "GreaterThanThreshold",
        "EvaluationPeriods": limits.evaluation_minutes,
        "DatapointsToAlarm": limits.evaluation_minutes,
        "TreatMissingData": "notBreaching",
    }
    error_rate, latency, server = names(endpoint)
    return [
        {
            "AlarmName": error_rate,
            "AlarmDescription": f"{endpoint}: over {limits.max_5xx_percent:g}% of invocations 5xx",
            "Metrics": [
                _stat("errors", SAGEMAKER_NAMESPACE, "Invocation5XXErrors", dims),
                _stat("invocations", SAGEMAKER_NAMESPACE, "Invocations", dims),
                {
                    "Id": "rate",
                    "Expression": "100 * errors / invocations",
                    "Label": "5xx % of invocations",
                    "ReturnData": True,
                },
            ],
            "Threshold": limits.max_5xx_percent,
            **common,
        },
        {
            "AlarmName": latency,
            "AlarmDescription": f"{endpoint}: ModelLatency p99 above {limits.slo_p99_ms:g} ms",
            "Namespace": SAGEMAKER_NAMESPACE,
            "MetricName": "ModelLatency",
            "Dimensions": dims,
            "ExtendedStatistic": "p99",
            "Period": PERIOD_S,
            "Unit": "Microseconds",
            "Threshold": limits.slo_p99_ms * 1000,
            **common,
        },
        {
            "AlarmName": server,
            "AlarmDescription": (
                f"{endpoint}: the server rejected texts or failed batches "
                f"(over {SERVER_FAILURES_PER_MINUTE} a minute)"
            ),
            "Metrics": [
                _stat("rejects", CONTAINER_NAMESPACE, "serve_rejects_total", dims),
                _stat("failed", CONTAINER_NAMESPACE, "serve_failed_batches_total", dims),
                {
                    "Id": "failures",
                    "Expression": "FILL(rejects, 0) + FILL(failed, 0)",
                    "Label": "server failures a minute",
                    "ReturnData": True,
                },
            ],
            "Threshold": SERVER_FAILURES_PER_MINUTE,
            **common,
        },
    ]


def ensure(
    aws: Aws, endpoint: str, variant: str, limits: AlarmLimits, server_metrics: bool
) -> tuple[str, ...]:
    """Create or update the alarms (PutMetricAlarm overwrites by name); return their names.

    Without detailed observability the server's metrics never reach CloudWatch: no alarm on
    them then."""
    made = requests(endpoint, variant, limits)[: None if server_metrics else 2]
    for request in made:
        aws.cloudwatch.put_metric_alarm(**request)
    return tuple(request["AlarmName"] for request in made)


def existing(aws: Aws, endpoint: str) -> list[str]:
    described = aws.cloudwatch.describe_alarms(AlarmNames=list(names(endpoint)))
    return sorted(alarm["AlarmName"] for alarm in described["MetricAlarms"])


def delete(aws: Aws, alarms: list[str]) -> None:
    if alarms:
        aws.cloudwatch.delete_alarms(AlarmNames=alarms)
