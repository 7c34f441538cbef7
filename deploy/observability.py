"""The server's metrics in CloudWatch: detailed observability and the endpoint's dashboard.

With `MetricsConfig.EnableDetailedObservability`, SageMaker scrapes the container's Prometheus
endpoint (`ContainerMetricsConfig`: `/metrics`, where the server answers on port 8080) and
sends the series to CloudWatch as OpenTelemetry metrics every `MetricPublishFrequencyInSeconds`
(SageMaker: "Getting started with detailed observability"). They have no namespace or
dimensions: they carry labels (`aws.sagemaker.endpoint.name`, ...) and are read with PromQL
(`deploy.promql`), in alarms, in the dashboard's PromQL charts and through the PromQL query API.
New endpoint configs turn detailed observability on unless told otherwise, so "off" is sent as
`EnableDetailedObservability: false`, never left out.
"""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError

from deploy import promql
from deploy.aws import Aws
from deploy.hosting_modes import mode_of

SAGEMAKER_NAMESPACE = "AWS/SageMaker"  # Invocations, errors, ModelLatency: always published
INSTANCE_NAMESPACE = "/aws/sagemaker/Endpoints"  # CPU and memory per variant
FREQUENCIES = (10, 30, 60, 120, 180, 240, 300)  # MetricPublishFrequencyInSeconds
METRICS_PATH = "/metrics"


def dimensions(endpoint: str, variant: str) -> list[dict[str, str]]:
    return [{"Name": "EndpointName", "Value": endpoint}, {"Name": "VariantName", "Value": variant}]


def metrics_config(frequency_s: int | None) -> dict[str, Any]:
    """CreateEndpointConfig's MetricsConfig: on at this frequency, or explicitly off (None)."""
    if not frequency_s:
        return {"EnableDetailedObservability": False}
    return {"EnableDetailedObservability": True, "MetricPublishFrequencyInSeconds": frequency_s}


def container_metrics_config(frequency_s: int) -> dict[str, Any]:
    """The container's ContainerMetricsConfig: where our /metrics is and how often to publish."""
    return {
        "MetricsEndpoints": [
            {"MetricsEndpointPath": METRICS_PATH, "MetricPublishFrequencyInSeconds": frequency_s}
        ]
    }


def dashboard_name(endpoint: str) -> str:
    return endpoint


def _metric(namespace: str, name: str, endpoint: str, variant: str, **options: Any) -> list[Any]:
    return [namespace, name, "EndpointName", endpoint, "VariantName", variant, options]


def _widget(
    title: str, metrics: list[list[Any]], y: int, x: int, stat: str = "Sum"
) -> dict[str, Any]:
    properties = {
        "title": title,
        "metrics": metrics,
        "stat": stat,
        "period": 60,
        "view": "timeSeries",
    }
    return _placed("metric", x, y, properties)


def _placed(kind: str, x: int, y: int, properties: dict[str, Any]) -> dict[str, Any]:
    """A dashboard widget of `kind` on the grid, half the dashboard's 24 columns wide."""
    return {"type": kind, "x": x, "y": y, "width": 12, "height": 6, "properties": properties}


def _chart(
    title: str, queries: list[tuple[str, str]], y: int, x: int, region: str
) -> dict[str, Any]:
    """A PromQL chart, the widget CloudWatch's Query Studio adds to a dashboard."""
    properties = {
        "title": title,
        "view": "timeSeries",
        "region": region,
        "data": {
            "queries": [
                {"id": f"q{index}", "type": "cloudwatch-metrics", "language": "PromQL",
                 "query": query, "step": 60, "label": label}
                for index, (label, query) in enumerate(queries)
            ]
        },
    }  # fmt: skip
    return _placed("chart", x, y, properties)


# A row: (title, CloudWatch metrics, default statistic) or (title, [(label, PromQL)], "PromQL")
Row = tuple[str, list[Any], str]


def sagemaker_rows(endpoint: str, variant: str, mode: str) -> list[Row]:
    """SageMaker's own metrics for the variant, as the hosting mode publishes them: an
    asynchronous endpoint has no Invocations or OverheadLatency ("Monitoring asynchronous
    endpoints"), a serverless one no instances."""
    sm = SAGEMAKER_NAMESPACE

    def m(namespace: str, name: str, **options: Any) -> list[Any]:
        return _metric(namespace, name, endpoint, variant, **options)

    counts = [m(sm, "Invocation4XXErrors"), m(sm, "Invocation5XXErrors")]
    latency = [m(sm, "ModelLatency", stat="p50"), m(sm, "ModelLatency", stat="p99")]
    if mode != "async":
        counts.insert(0, m(sm, "Invocations"))
        latency.append(m(sm, "OverheadLatency", stat="p99"))
    rows: list[Row] = [
        (f"{variant}: invocations and errors", counts, "Sum"),
        (f"{variant}: ModelLatency (microseconds)", latency, "p99"),
    ]
    if mode != "serverless":
        rows.append((
            f"{variant}: instance CPU and memory (%)",
            [m(INSTANCE_NAMESPACE, "CPUUtilization"), m(INSTANCE_NAMESPACE, "MemoryUtilization")],
            "Average",
        ))  # fmt: skip
    return rows


def server_rows(endpoint: str, variant: str) -> list[Row]:
    """The server's own metrics (detailed observability), as PromQL."""
    q = promql
    return [
        (f"{variant}: server requests a second, by status",
         [("requests/s", q.request_rate(endpoint, variant))], "PromQL"),
        (f"{variant}: server rejects and failed batches a minute",
         [("failures", q.server_failures(endpoint, variant))], "PromQL"),
        (f"{variant}: server latency (s) and queue (texts)",
         [("p50", q.latency_quantile(0.5, endpoint, variant)),
          ("p99", q.latency_quantile(0.99, endpoint, variant)),
          ("queued texts", q.queue_texts(endpoint, variant))], "PromQL"),
        (f"{variant}: predictions per label (drift)",
         [("{{label}}", q.predictions_by_label(endpoint, variant, "5m"))], "PromQL"),
    ]  # fmt: skip


def dashboard_body(
    endpoint: str, variants: list[str], region: str, mode: str = "real-time"
) -> dict[str, Any]:
    """SageMaker's invocation metrics beside the server's own, a block of widgets per variant;
    the server's only where detailed observability can scrape it (not serverless)."""
    rows = [
        row
        for variant in variants
        for row in sagemaker_rows(endpoint, variant, mode)
        + ([] if mode == "serverless" else server_rows(endpoint, variant))
    ]
    widgets = []
    for index, (title, metrics, stat) in enumerate(rows):
        y, x = (index // 2) * 6, (index % 2) * 12
        if stat == "PromQL":
            widgets.append(_chart(title, metrics, y, x, region))
        else:
            widgets.append(_widget(title, metrics, y, x, stat))
    return {"widgets": widgets}


def put_dashboard(aws: Aws, endpoint: str, variants: list[str], mode: str | None = None) -> str:
    """Make or replace the dashboard; `mode`: the endpoint's hosting mode, read when not given
    (what SageMaker publishes depends on it)."""
    name = dashboard_name(endpoint)
    mode = mode or _hosting_mode(aws, endpoint)
    body = dashboard_body(endpoint, variants, aws.region, mode)
    aws.cloudwatch.put_dashboard(DashboardName=name, DashboardBody=json.dumps(body))
    return name


def _hosting_mode(aws: Aws, endpoint: str) -> str:
    try:
        config = aws.sagemaker.describe_endpoint(EndpointName=endpoint)["EndpointConfigName"]
    except ClientError:
        return "real-time"  # not created yet
    return mode_of(aws.sagemaker.describe_endpoint_config(EndpointConfigName=config))


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
