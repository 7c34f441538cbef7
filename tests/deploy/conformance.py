"""AWS's own rules where moto is lenient: every call the CLI makes in tests/deploy is checked
against them before it leaves, and refused with the rule's source when it breaks one.

- A metric in `AWS/SageMaker` must be one SageMaker publishes for the endpoint's hosting mode
  (alarms, dashboards, GetMetricData, scaling policies). Sources: "Monitor SageMaker AI with
  Amazon CloudWatch" (real-time, serverless, inference components), "Monitoring asynchronous
  endpoints" (an exhaustive list: no Invocations, InvocationsPerInstance, OverheadLatency),
  "Scale an endpoint to zero instances" (NoCapacityInvocationFailures).
- MetricsConfig only where detailed observability has instances to scrape (not serverless);
  `EnableDetailedObservability` always stated, since a new config defaults it to true
  (SageMaker API: MetricsConfig).
- A PromQL alarm (`EvaluationCriteria`) carries none of the static-threshold fields and has an
  `EvaluationInterval` of 10, 20, 30 or a multiple of 60 (CloudWatch API: PutMetricAlarm).
- A call the hosting mode does not support: instance autoscaling of a serverless or
  component endpoint, concurrency or invocation tracking of an asynchronous one, InvokeEndpoint
  on a component endpoint without InferenceComponentName (SageMaker Runtime: InvokeEndpoint).

- Multi-model endpoints ("Create a multi-model endpoint", "Invoke a multi-model endpoint",
  "Supported algorithms, frameworks, and instances for multi-model endpoints", "Custom
  containers contract for multi-model endpoints", Serverless Inference's and shadow tests'
  exclusions): a `Mode=MultiModel` container's `ModelDataUrl` is an S3 prefix; its variants are
  CPU instances (GPU only with SageMaker's Triton container), never serverless, never shadow
  variants; InvokeEndpoint on it names a `TargetModel` (1-1024 printable characters, pinned
  botocore model), and only on it; InvokeEndpointAsync has no TargetModel, so none on it.

`sent` keeps each checked request, as sent (moto drops fields it does not know).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import boto3
from botocore.exceptions import ClientError

from deploy.aws import Aws
from deploy.hosting_modes import GPU_INSTANCE, mode_of

COMMON = {"Invocation4XXErrors", "Invocation5XXErrors", "InvocationModelErrors", "ModelLatency"}
PUBLISHED = {
    "real-time": COMMON | {"Invocations", "InvocationsPerInstance", "OverheadLatency",
                           "ConcurrentRequestsPerModel"},
    "serverless": COMMON | {"Invocations", "OverheadLatency", "ModelSetupTime"},
    "async": COMMON | {"ApproximateBacklogSize", "ApproximateBacklogSizePerInstance",
                       "ApproximateAgeOfOldestRequest", "HasBacklogWithoutCapacity",
                       "RequestDownloadFailures", "ResponseUploadFailures", "NotificationFailures",
                       "InvocationFailures", "InvocationsProcesssed", "TimeInBacklog",
                       "TotalProcessingTime"},
    "inference-component": COMMON | {"Invocations", "OverheadLatency",
                                     "NoCapacityInvocationFailures"},
}  # fmt: skip
PREDEFINED = {
    "real-time": {"SageMakerVariantInvocationsPerInstance",
                  "SageMakerVariantConcurrentRequestsPerModelHighResolution"},
    "inference-component": {"SageMakerInferenceComponentInvocationsPerCopy"},
}  # fmt: skip
PROMQL_EXCLUDES = {"Namespace", "MetricName", "Dimensions", "Period", "Unit", "Statistic",
                   "ExtendedStatistic", "Metrics", "Threshold", "ComparisonOperator",
                   "ThresholdMetricId", "EvaluationPeriods", "DatapointsToAlarm"}  # fmt: skip


class Violation(AssertionError):
    """A call AWS would refuse, or accept and never act on."""


sent: list[tuple[str, dict[str, Any]]] = []
_region: list[str] = ["eu-west-1"]  # the region of the call being checked
_applying: list[bool] = [False]
"""True while a test of tests/deploy runs (see `applying`): the patch made by `enforced` lasts
the whole pytest session, and tests of other folders that run after it call the deploy CLI
against their own stand-ins (no control plane to describe the endpoint on)."""


def _mode(endpoint: str | None = None, component: str | None = None) -> str | None:
    sagemaker = boto3.client("sagemaker", region_name=_region[0])
    try:
        if component is not None:
            endpoint = sagemaker.describe_inference_component(InferenceComponentName=component)[
                "EndpointName"
            ]
        if endpoint is None:
            return None
        name = sagemaker.describe_endpoint(EndpointName=endpoint)["EndpointConfigName"]
        return mode_of(sagemaker.describe_endpoint_config(EndpointConfigName=name))
    except ClientError:
        return None  # not made yet (a dashboard before the first deploy): nothing to hold to


TARGET_MODEL = re.compile(r"\A\S[\x20-\x7e]{0,1023}\Z")  # botocore: \A\S[\p{Print}]*\z


def _multi_model(model: str | None) -> bool:
    if model is None:
        return False
    sagemaker = boto3.client("sagemaker", region_name=_region[0])
    try:
        container = sagemaker.describe_model(ModelName=model).get("PrimaryContainer", {})
    except ClientError:
        return False
    return bool(container.get("Mode") == "MultiModel")


def _endpoint_is_multi_model(endpoint: str) -> bool:
    sagemaker = boto3.client("sagemaker", region_name=_region[0])
    try:
        name = sagemaker.describe_endpoint(EndpointName=endpoint)["EndpointConfigName"]
        variants = sagemaker.describe_endpoint_config(EndpointConfigName=name)
    except ClientError:
        return False
    return any(_multi_model(v.get("ModelName")) for v in variants["ProductionVariants"])


def _multi_model_rules(operation: str, params: dict[str, Any]) -> None:
    if operation == "CreateModel":
        container = params.get("PrimaryContainer", {})
        if container.get("Mode") == "MultiModel" and not str(
            container.get("ModelDataUrl", "")
        ).endswith("/"):
            raise Violation("CreateModel: a MultiModel container's ModelDataUrl is an S3 prefix")
    elif operation == "CreateEndpointConfig":
        for variant in params.get("ProductionVariants", []):
            if not _multi_model(variant.get("ModelName")):
                continue
            if "ServerlessConfig" in variant:
                raise Violation("CreateEndpointConfig: no multi-model serverless endpoint")
            if GPU_INSTANCE.match(variant.get("InstanceType", "")):
                raise Violation("CreateEndpointConfig: a multi-model BYOC container on GPU")
        for shadow in params.get("ShadowProductionVariants", []):
            if _multi_model(shadow.get("ModelName")):
                raise Violation("CreateEndpointConfig: a multi-model shadow variant")
    elif operation == "InvokeEndpoint":
        target = params.get("TargetModel")
        multi = _endpoint_is_multi_model(params["EndpointName"])
        if multi and target is None:
            raise Violation("InvokeEndpoint: a multi-model endpoint needs TargetModel")
        if target is not None and not multi:
            raise Violation("InvokeEndpoint: TargetModel on an endpoint that is not multi-model")
        if target is not None and not TARGET_MODEL.match(target):
            raise Violation(f"InvokeEndpoint: TargetModel {target!r} breaks its pattern")
    elif operation == "InvokeEndpointAsync" and _endpoint_is_multi_model(params["EndpointName"]):
        raise Violation("InvokeEndpointAsync: no TargetModel, so no multi-model endpoint")


def _check_metric(namespace: str | None, name: str, dims: dict[str, str], where: str) -> None:
    if namespace != "AWS/SageMaker":
        return
    mode = _mode(dims.get("EndpointName"), dims.get("InferenceComponentName"))
    if mode is not None and name not in PUBLISHED[mode]:
        raise Violation(f"{where}: SageMaker publishes no {name} for a {mode} endpoint")


def _dims(listed: list[dict[str, str]] | None) -> dict[str, str]:
    return {d["Name"]: d["Value"] for d in listed or []}


def _alarm(params: dict[str, Any]) -> None:
    where = f"PutMetricAlarm {params['AlarmName']}"
    if "EvaluationCriteria" in params:
        extra = PROMQL_EXCLUDES & set(params)
        if extra:
            raise Violation(f"{where}: a PromQL alarm cannot have {sorted(extra)}")
        interval = params.get("EvaluationInterval")
        if interval is None or not (interval in (10, 20, 30) or interval % 60 == 0):
            raise Violation(f"{where}: EvaluationInterval {interval} (10, 20, 30 or n*60)")
        return
    if "MetricName" in params:
        _check_metric(params.get("Namespace"), params["MetricName"],
                      _dims(params.get("Dimensions")), where)  # fmt: skip
    for query in params.get("Metrics", []):
        metric = query.get("MetricStat", {}).get("Metric")
        if metric:
            _check_metric(metric.get("Namespace"), metric["MetricName"],
                          _dims(metric.get("Dimensions")), where)  # fmt: skip


def _dashboard(params: dict[str, Any]) -> None:
    for widget in json.loads(params["DashboardBody"])["widgets"]:
        for line in widget.get("properties", {}).get("metrics", []):
            if isinstance(line[0], str):  # [namespace, name, dim, value, ..., {options}]
                fields = [f for f in line[2:] if isinstance(f, str)]
                dims = dict(zip(fields[::2], fields[1::2], strict=True))
                _check_metric(line[0], line[1], dims, f"PutDashboard {params['DashboardName']}")


def _endpoint_config(params: dict[str, Any]) -> None:
    variants = params.get("ProductionVariants", [])
    serverless = any("ServerlessConfig" in v for v in variants)
    metrics = params.get("MetricsConfig")
    if serverless and metrics is not None:
        raise Violation("CreateEndpointConfig: MetricsConfig on a serverless endpoint")
    if not serverless and "EnableDetailedObservability" not in (metrics or {}):
        raise Violation("CreateEndpointConfig: EnableDetailedObservability left to its default")


def _scaling(operation: str, params: dict[str, Any]) -> None:
    resource = str(params.get("ResourceId", ""))
    if not resource.startswith("endpoint/"):
        return
    mode = _mode(resource.split("/")[1])
    if operation == "RegisterScalableTarget" and mode in ("serverless", "inference-component"):
        raise Violation(f"{operation}: a {mode} endpoint has no instance count to scale")
    tracking = params.get("TargetTrackingScalingPolicyConfiguration") or {}
    predefined = tracking.get("PredefinedMetricSpecification", {}).get("PredefinedMetricType")
    if predefined and mode is not None and predefined not in PREDEFINED.get(mode, set()):
        raise Violation(f"{operation}: {predefined} is not published for a {mode} endpoint")
    custom = tracking.get("CustomizedMetricSpecification")
    if custom:
        _check_metric(custom.get("Namespace"), custom["MetricName"],
                      _dims(custom.get("Dimensions")), operation)  # fmt: skip


def check(operation: str, params: dict[str, Any]) -> None:
    sent.append((operation, params))
    _multi_model_rules(operation, params)
    if operation == "PutMetricAlarm":
        _alarm(params)
    elif operation == "PutDashboard":
        _dashboard(params)
    elif operation == "GetMetricData":
        for query in params.get("MetricDataQueries", []):
            metric = query.get("MetricStat", {}).get("Metric")
            if metric:
                _check_metric(metric.get("Namespace"), metric["MetricName"],
                              _dims(metric.get("Dimensions")), operation)  # fmt: skip
    elif operation == "CreateEndpointConfig":
        _endpoint_config(params)
    elif operation in ("RegisterScalableTarget", "PutScalingPolicy"):
        _scaling(operation, params)
    elif (
        operation == "InvokeEndpoint"
        and "InferenceComponentName" not in params
        and _mode(params["EndpointName"]) == "inference-component"
    ):
        raise Violation("InvokeEndpoint: a component endpoint needs InferenceComponentName")


@contextmanager
def enforced() -> Iterator[list[tuple[str, dict[str, Any]]]]:
    original = Aws.client

    def client(self: Aws, service: str) -> Any:
        made = original(self, service)

        def checked(params: dict[str, Any], model: Any, **_: Any) -> None:
            if not _applying[0]:
                return
            _region[0] = self.region
            check(model.name, params)

        made.meta.events.register("provide-client-params", checked)
        return made

    Aws.client = client  # type: ignore[method-assign]
    try:
        yield sent
    finally:
        Aws.client = original  # type: ignore[method-assign]


@contextmanager
def applying() -> Iterator[None]:
    """The rules hold for the calls made inside (one deploy test)."""
    _applying[0] = True
    try:
        yield
    finally:
        _applying[0] = False
