"""What SageMaker publishes while an endpoint serves, put where it would put it: per-variant
metrics and the server's per-label counter in CloudWatch, data capture records in S3."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import fake_hosting
from deploy_helpers import BUCKET, Cloud

from deploy import promql

CAPTURE = "headline-serve/capture/headline"  # deploy's capture prefix for endpoint "headline"


def put_variant_metrics(cloud: Cloud, variant: str, invocations: int, errors_5xx: int,
                        latencies_us: list[float]) -> None:  # fmt: skip
    """What SageMaker publishes per variant in AWS/SageMaker, two minutes ago."""
    when = datetime.now(UTC) - timedelta(minutes=2)
    dims = [
        {"Name": "EndpointName", "Value": "headline"},
        {"Name": "VariantName", "Value": variant},
    ]
    data = [
        {"MetricName": "Invocations", "Value": invocations},
        {"MetricName": "Invocation4XXErrors", "Value": 0},
        {"MetricName": "Invocation5XXErrors", "Value": errors_5xx},
        *(
            {"MetricName": "ModelLatency", "Value": us, "Unit": "Microseconds"}
            for us in latencies_us
        ),
    ]
    cloud.client("cloudwatch").put_metric_data(
        Namespace="AWS/SageMaker",
        MetricData=[{**datum, "Dimensions": dims, "Timestamp": when} for datum in data],
    )


def put_label_counts(cloud: Cloud, variant: str, counts: dict[str, int]) -> None:
    """serve_predictions_total{label} as detailed observability sends it: OpenTelemetry metrics
    read back through CloudWatch's PromQL API (the stand-in in fake_hosting answers it)."""
    selector = promql.SAGEMAKER.selector(promql.PREDICTIONS, "headline", variant)
    fake_hosting.STATE.promql_answer(selector, {k: float(v) for k, v in counts.items()}, "label")


def capture_record(key: str, value: str, labels: list[str], encoding: str = "JSON") -> str:
    """One data capture record, in SageMaker's shape, answered with these top labels."""
    answer = json.dumps([{"label": label, "score": 0.9} for label in labels])
    data = base64.b64encode(answer.encode()).decode() if encoding == "BASE64" else answer
    return json.dumps({
        "captureData": {
            "endpointInput": {"observedContentType": "application/json", "mode": "INPUT",
                              "data": json.dumps({"inputs": ["..."] * len(labels)}), "encoding": "JSON"},
            "endpointOutput": {"observedContentType": "application/json", "mode": "OUTPUT",
                               "data": data, "encoding": encoding},
        },
        "eventMetadata": {key: value, "inferenceTime": datetime.now(UTC).isoformat()},
        "eventVersion": "0",
    })  # fmt: skip


def put_capture(cloud: Cloud, variant: str, lines: list[str]) -> None:
    hour = datetime.now(UTC).strftime("%Y/%m/%d/%H")
    key = f"{CAPTURE}/headline/{variant}/{hour}/12-34-567-{variant}.jsonl"
    cloud.client("s3").put_object(Bucket=BUCKET, Key=key, Body="\n".join(lines).encode())
