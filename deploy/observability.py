"""The server's metrics in CloudWatch: detailed observability and the endpoint's dashboard.

With `MetricsConfig.EnableDetailedObservability`, SageMaker scrapes the container's Prometheus
endpoint (`/metrics` on port 8080, the default, which is where the server answers) and
publishes the series to CloudWatch every `MetricPublishFrequencyInSeconds`.

Assumed here, and in the alarms and the dashboard (SageMaker's documentation does not pin it
down for a bring-your-own container; change `CONTAINER_NAMESPACE` if an account shows
otherwise): the namespace is `/aws/sagemaker/Endpoints/container`, the dimensions are
`EndpointName` and `VariantName` plus each Prometheus label (`label`, `reason`, `status`) under
its own name, a counter arrives as its increase per period, and a histogram as its `_sum` and
`_count` series (its buckets are not used: they would multiply the series CloudWatch bills).
"""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError

from deploy.aws import Aws

SAGEMAKER_NAMESPACE = "AWS/SageMaker"  # Invocations, errors, ModelLatency: always published
INSTANCE_NAMESPACE = "/aws/sagemaker/Endpoints"  # CPU and memory per variant
CONTAINER_NAMESPACE = "/aws/sagemaker/Endpoints/container"  # our /metrics (assumed, above)
FREQUENCIES = (10, 30, 60, 120, 180, 240, 300)  # MetricPublishFrequencyInSeconds


def dimensions(endpoint: str, variant: str) -> list[dict[str, str]]:
    return [{"Name": "EndpointName", "Value": endpoint}, {"Name": "VariantName", "Value": variant}]


def metrics_config(frequency_s: int) -> dict[str, Any]:
    """CreateEndpointConfig's MetricsConfig."""
    return {"EnableDetailedObservability": True, "MetricPublishFrequencyInSeconds": frequency_s}


def dashboard_name(endpoint: str) -> str:
    return endpoint


def _metric(namespace: str, name: str, endpoint: str, variant: str, **options: Any) -> list[Any]:
    return [namespace, name, "EndpointName", endpoint, "VariantName", variant, options]


def _widget(
    title: str, metrics: list[list[Any]], y: int, x: int, stat: str = "Sum"
) -> dict[str, Any]:
    return {
        "type": "metric",
        "x": x,
        "y": y,
        "width": 12,
        "height": 6,
        "properties": {
            "title": title,
            "metrics": metrics,
            "stat": stat,
            "period": 60,
            "view": "timeSeries",
        },
    }


def _per_label(endpoint: str, variant: str) -> list[list[Any]]:
    """One line per predicted label, whatever labels the model has."""
    query = (
        f"SEARCH('{{{CONTAINER_NAMESPACE},EndpointName,VariantName,label}} "
        f'MetricName="serve_predictions_total" EndpointName="{endpoint}" '
        f"VariantName=\"{variant}\"', 'Sum', 60)"
    )
    return [[{"expression": query, "id": "labels", "label": ""}]]


Row = tuple[str, list[list[Any]], str]  # title, metrics, default statistic


def _variant_rows(endpoint: str, variant: str) -> list[Row]:
    sm, box = SAGEMAKER_NAMESPACE, CONTAINER_NAMESPACE

    def m(namespace: str, name: str, **options: Any) -> list[Any]:
        return _metric(namespace, name, endpoint, variant, **options)

    return [
        (
            f"{variant}: invocations and errors",
            [m(sm, "Invocations"), m(sm, "Invocation4XXErrors"), m(sm, "Invocation5XXErrors")],
            "Sum",
        ),
        (
            f"{variant}: ModelLatency (microseconds)",
            [
                m(sm, "ModelLatency", stat="p50"),
                m(sm, "ModelLatency", stat="p99"),
                m(sm, "OverheadLatency", stat="p99"),
            ],
            "p99",
        ),
        (
            f"{variant}: server requests, rejects, failed batches",
            [
                m(box, "serve_requests_total"),
                m(box, "serve_rejects_total"),
                m(box, "serve_failed_batches_total"),
            ],
            "Sum",
        ),
        (
            f"{variant}: server latency (s) and queue (texts)",
            [
                m(box, "serve_request_seconds_sum", id="latency_sum", visible=False),
                m(box, "serve_request_seconds_count", id="latency_count", visible=False),
                [
                    {
                        "expression": "latency_sum / latency_count",
                        "label": "mean request seconds",
                    }
                ],
                m(box, "serve_queue_texts", stat="Maximum"),
            ],
            "Sum",
        ),
        (f"{variant}: predictions per label (drift)", _per_label(endpoint, variant), "Sum"),
        (
            f"{variant}: confidence, input tokens, truncated share (drift)",
            [
                m(box, "serve_prediction_confidence_sum", id="conf_sum", visible=False),
                m(box, "serve_prediction_confidence_count", id="conf_count", visible=False),
                [{"expression": "conf_sum / conf_count", "label": "mean top score"}],
                m(box, "serve_input_tokens_sum", id="tok_sum", visible=False),
                m(box, "serve_input_tokens_count", id="tok_count", visible=False),
                [{"expression": "tok_sum / tok_count", "label": "mean input tokens"}],
                m(box, "serve_truncated_texts_total", id="truncated", visible=False),
                [{"expression": "truncated / tok_count", "label": "truncated share"}],
            ],
            "Sum",
        ),
        (
            f"{variant}: instance CPU and memory (%)",
            [
                m(INSTANCE_NAMESPACE, "CPUUtilization"),
                m(INSTANCE_NAMESPACE, "MemoryUtilization"),
            ],
            "Average",
        ),
    ]


def dashboard_body(endpoint: str, variants: list[str]) -> dict[str, Any]:
    """SageMaker's invocation metrics beside the server's own, a block of widgets per variant."""
    rows = [row for variant in variants for row in _variant_rows(endpoint, variant)]
    widgets = [
        _widget(title, metrics, y=(index // 2) * 6, x=(index % 2) * 12, stat=stat)
        for index, (title, metrics, stat) in enumerate(rows)
    ]
    return {"widgets": widgets}


def put_dashboard(aws: Aws, endpoint: str, variants: list[str]) -> str:
    name = dashboard_name(endpoint)
    aws.cloudwatch.put_dashboard(
        DashboardName=name, DashboardBody=json.dumps(dashboard_body(endpoint, variants))
    )
    return name


def existing_dashboards(aws: Aws, endpoint: str) -> list[str]:
    """The endpoint's dashboard if there is one (GetDashboard: scoped to our names in IAM)."""
    name = dashboard_name(endpoint)
    try:
        aws.cloudwatch.get_dashboard(DashboardName=name)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in {
            "ResourceNotFound",
            "ResourceNotFoundException",
        }:
            return []
        raise
    return [name]


def delete_dashboards(aws: Aws, names: list[str]) -> None:
    if names:
        aws.cloudwatch.delete_dashboards(DashboardNames=names)
