"""The CloudWatch alarms `deploy` makes when the user names none; they roll an update back.

Three alarms per endpoint, named after it (`<endpoint>-5xx-rate`, `-p99-latency`,
`-server-health`) and deleted with it:

- the share of responses that were 5xx: the Average of `Invocation5XXErrors`, which SageMaker
  publishes as 1 per 5xx response and 0 otherwise ("Monitor SageMaker AI with Amazon
  CloudWatch"). It needs no `Invocations`, which asynchronous endpoints do not publish
  ("Monitoring asynchronous endpoints"), so one alarm serves every hosting mode;
- ModelLatency p99 (SageMaker reports it in microseconds) against the SLO;
- the server's own failures (`serve_rejects_total` + `serve_failed_batches_total`), which
  reach CloudWatch through detailed observability as OpenTelemetry metrics: a PromQL alarm
  (`EvaluationCriteria.PromQLCriteria`, see `deploy.promql`), whose query returns a series
  only while breaching.

Missing data is not breaching: an endpoint without traffic is not failing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from deploy import promql
from deploy.aws import Aws
from deploy.observability import SAGEMAKER_NAMESPACE, dimensions

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


def requests(endpoint: str, variant: str, limits: AlarmLimits) -> list[dict[str, Any]]:
    """PutMetricAlarm requests for the three alarms."""
    dims = dimensions(endpoint, variant)
    common = {
        "ComparisonOperator": "GreaterThanThreshold",
        "EvaluationPeriods": limits.evaluation_minutes,
        "DatapointsToAlarm": limits.evaluation_minutes,
        "TreatMissingData": "notBreaching",
        "Namespace": SAGEMAKER_NAMESPACE,
        "Dimensions": dims,
        "Period": PERIOD_S,
    }
    error_rate, latency, server = names(endpoint)
    pending_s = limits.evaluation_minutes * PERIOD_S
    return [
        {
            "AlarmName": error_rate,
            "AlarmDescription": f"{endpoint}: over {limits.max_5xx_percent:g}% of responses 5xx",
            "MetricName": "Invocation5XXErrors",
            "Statistic": "Average",  # a share: 1 per 5xx response, 0 per other response
            "Threshold": limits.max_5xx_percent / 100,
            **common,
        },
        {
            "AlarmName": latency,
            "AlarmDescription": f"{endpoint}: ModelLatency p99 above {limits.slo_p99_ms:g} ms",
            "MetricName": "ModelLatency",
            "ExtendedStatistic": "p99",
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
            # PromQL alarms take no Namespace, Metrics, Threshold or periods: the query holds
            # the threshold, and EvaluationInterval is required (PutMetricAlarm).
            "EvaluationCriteria": {
                "PromQLCriteria": {
                    "Query": promql.server_failures_alarm(
                        endpoint, variant, SERVER_FAILURES_PER_MINUTE
                    ),
                    "PendingPeriod": pending_s,
                    "RecoveryPeriod": pending_s,
                }
            },
            "EvaluationInterval": PERIOD_S,
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
