"""What moto's SageMaker lacks for our tests, patched into the moto server's process.

moto creates endpoints and transform jobs already settled (InService, Completed) and has no
UpdateEndpoint. Here the backend gains `update_endpoint` with SageMaker's blue/green
semantics, and a test can script the statuses the next DescribeEndpoint /
DescribeTransformJob calls report:

    scripts.endpoint("ep", "Creating", "Creating", "Failed:container did not pass /ping")
    scripts.endpoint("ep", "Updating", "RolledBack:health check failed")  # SageMaker's own rollback

A step is a status, optionally `:reason`. `RolledBack` puts the endpoint back InService on its
previous config with the reason as FailureReason, as SageMaker does when an update fails.
`AlarmFires:NAME` sets that CloudWatch alarm (in moto's CloudWatch) to ALARM, as a breached
metric would during baking; if the update named it in `AutoRollbackConfiguration`, the
endpoint rolls back as SageMaker's guardrails do, else the update goes on.

CreateEndpointConfig fields moto drops (`MetricsConfig`, `ShadowProductionVariants`) are kept
and returned by DescribeEndpointConfig, in the real API's shapes.

Variants: DescribeEndpoint lists the serving config's shadow variants under
`ShadowProductionVariants` (moto lists production variants only);
UpdateEndpointWeightsAndCapacities keeps a variant's instance count when the request names
none (moto blanks it), and is recorded; InvokeEndpoint honours `TargetVariant` as SageMaker
does (the answer names that variant; an unknown one is a 400 ValidationError); and
GetMetricData answers percentile statistics (`p50`, `p99`: nearest rank over the datapoints
put), which moto leaves empty.
A script is armed by the next create or update of that name (an update with no new script
goes on with what is left of the current one); with no script, moto's instant behaviour is
kept. The server runs in the test process (ThreadedMotoServer), so the patch
reaches it; the CLI still talks to it over HTTP.
"""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any, cast
from urllib.parse import unquote

from moto.cloudwatch.models import Statistics, cloudwatch_backends
from moto.core.responses import ActionResult
from moto.s3.models import s3_backends
from moto.sagemaker.exceptions import ValidationError
from moto.sagemaker.models import FakeEndpoint, SageMakerModelBackend, sagemaker_backends
from moto.sagemaker.responses import SageMakerResponse
from moto.sagemakerruntime.responses import SageMakerRuntimeResponse


class Scripts:
    def __init__(self) -> None:
        self.endpoints: dict[str, list[str]] = defaultdict(list)  # armed by the next create/update
        self.active: dict[str, list[str]] = defaultdict(list)
        self.transforms: dict[str, list[str]] = defaultdict(list)
        self.update_calls: list[dict[str, Any]] = []
        self.config_calls: list[dict[str, Any]] = []
        self.config_extras: dict[str, dict[str, Any]] = {}
        self.weight_calls: list[dict[str, Any]] = []
        self.invocations: list[dict[str, Any]] = []  # endpoint and TargetVariant of each call

    def endpoint(self, name: str, *steps: str) -> None:
        self.endpoints[name] = list(steps)

    def transform(self, name_prefix: str, *steps: str) -> None:
        self.transforms[name_prefix] = list(steps)

    def clear(self) -> None:
        self.endpoints.clear()
        self.active.clear()
        self.transforms.clear()
        self.update_calls.clear()
        self.config_calls.clear()
        self.config_extras.clear()
        self.weight_calls.clear()
        self.invocations.clear()


SCRIPTS = Scripts()


EXTRA_CONFIG_FIELDS = ("MetricsConfig", "ShadowProductionVariants")


def _fire_alarm(backend: Any, endpoint: FakeEndpoint, alarm: str) -> str | None:
    """The alarm goes to ALARM; a step that rolls back if the update watches it."""
    cloudwatch = cloudwatch_backends[backend.account_id][backend.region_name]
    # moto annotates reason_data as str but handles None (the API's StateReasonData is optional).
    cloudwatch.set_alarm_state(alarm, "Threshold crossed (stand-in)", None, "ALARM")  # type: ignore[arg-type]
    if alarm in getattr(endpoint, "rollback_alarms", ()):
        return f"RolledBack:Alarm {alarm} went into ALARM during baking; traffic rolled back"
    return None


def _apply(backend: Any, endpoint: FakeEndpoint, step: str) -> None:
    status, _, reason = step.partition(":")
    if status == "AlarmFires":
        rolled_back = _fire_alarm(backend, endpoint, reason)
        if rolled_back is None:
            return
        status, _, reason = rolled_back.partition(":")
    # moto leaves FakeEndpoint.failure_reason unannotated, so mypy infers it as always None.
    endpoint.failure_reason = reason or None  # type: ignore[assignment]
    if status == "RolledBack":
        endpoint.endpoint_config_name = endpoint.previous_config  # type: ignore[attr-defined]
        status = "InService"
    endpoint.endpoint_status = status


def _shadow_summaries(backend: Any, config_name: str) -> list[dict[str, Any]]:
    """DescribeEndpoint's ShadowProductionVariants for a config: weights and counts as set."""
    shadows = SCRIPTS.config_extras.get(config_name, {}).get("ShadowProductionVariants", [])
    return [
        {
            "VariantName": shadow["VariantName"],
            "CurrentWeight": float(shadow.get("InitialVariantWeight", 1.0)),
            "DesiredWeight": float(shadow.get("InitialVariantWeight", 1.0)),
            "CurrentInstanceCount": int(shadow.get("InitialInstanceCount", 1)),
            "DesiredInstanceCount": int(shadow.get("InitialInstanceCount", 1)),
        }
        for shadow in shadows
    ]


def _percentile(statistics: Any, stat: str) -> float | None:
    """CloudWatch's pNN over the datapoints of a period (nearest rank)."""
    values = sorted(statistics.metric_single_values_list)
    if not values:
        return None
    rank = math.ceil(float(stat[1:]) / 100 * len(values))
    return float(values[max(rank, 1) - 1])


def _check_target_model(response: Any, endpoint: str, target: str) -> None:
    """SageMaker loads `prefix + TargetModel` from S3 (AWS docs: "Invoke a multi-model
    endpoint"); a model that is not there is a 400 (its wording here is the stand-in's)."""
    backend = sagemaker_backends[response.current_account][response.region]
    served = backend.endpoints.get(endpoint)
    if served is None:
        return  # moto answers that itself
    config = backend.endpoint_configs[served.endpoint_config_name]
    for variant in config.production_variants:
        model = backend._models.get(str(variant.get("ModelName")))
        container = getattr(model, "primary_container", None) or {}
        if container.get("Mode") != "MultiModel":
            continue
        bucket, _, prefix = container["ModelDataUrl"].removeprefix("s3://").partition("/")
        stored = s3_backends[response.current_account]["aws"].get_object(bucket, prefix + target)
        if stored is None:
            raise ValidationError(
                message=f"Failed to download model data(bucket: {bucket}, key: {prefix}{target})"
            )


def install() -> list[tuple[type, str, Any]]:
    """Patch the classes; returns what to restore."""
    saved: list[tuple[type, str, Any]] = [
        (
            SageMakerModelBackend,
            "update_endpoint_weights_and_capacities",
            SageMakerModelBackend.update_endpoint_weights_and_capacities,
        ),
        (SageMakerRuntimeResponse, "invoke_endpoint", SageMakerRuntimeResponse.invoke_endpoint),
        (Statistics, "get_statistics_for_type", Statistics.get_statistics_for_type),
        (SageMakerModelBackend, "describe_endpoint", SageMakerModelBackend.describe_endpoint),
        (SageMakerModelBackend, "create_endpoint", SageMakerModelBackend.create_endpoint),
        (
            SageMakerModelBackend,
            "describe_transform_job",
            SageMakerModelBackend.describe_transform_job,
        ),
        (
            SageMakerModelBackend,
            "describe_endpoint_config",
            SageMakerModelBackend.describe_endpoint_config,
        ),
        (SageMakerResponse, "create_endpoint_config", SageMakerResponse.create_endpoint_config),
    ]
    update_weights, runtime_invoke, statistic = (entry[2] for entry in saved[:3])
    describe, create, describe_job, describe_config, create_config_action = (
        entry[2] for entry in saved[3:]
    )

    def update_endpoint_weights_and_capacities(
        self: Any, endpoint_name: str, desired_weights_and_capacities: list[dict[str, Any]]
    ) -> str:
        SCRIPTS.weight_calls.append(
            {
                "EndpointName": endpoint_name,
                "DesiredWeightsAndCapacities": desired_weights_and_capacities,
            }
        )
        endpoint = self.endpoints.get(endpoint_name)
        current = {v["VariantName"]: v for v in getattr(endpoint, "production_variants", [])}
        filled = [
            {
                "DesiredInstanceCount": current.get(d.get("VariantName"), {}).get(
                    "CurrentInstanceCount"
                )
            }
            | {k: v for k, v in d.items() if v is not None}
            for d in desired_weights_and_capacities
        ]
        return update_weights(self, endpoint_name, filled)  # type: ignore[no-any-return]

    def invoke_endpoint_action(self: Any) -> Any:
        endpoint = unquote(self.path.split("/")[2])  # POST /endpoints/NAME/invocations
        target = self.headers.get("X-Amzn-SageMaker-Target-Variant")
        model = self.headers.get("X-Amzn-SageMaker-Target-Model")
        SCRIPTS.invocations.append({"EndpointName": endpoint, "TargetVariant": target})
        if model is not None:
            SCRIPTS.invocations[-1]["TargetModel"] = model
            _check_target_model(self, endpoint, model)
        if target:
            backend = sagemaker_backends[self.current_account][self.region]
            served = backend.endpoints.get(endpoint)
            names = {v["VariantName"] for v in getattr(served, "production_variants", [])}
            if target not in names:
                raise ValidationError(
                    message=f"Endpoint {endpoint} has no production variant {target}."
                )
        status, headers, body = runtime_invoke(self)
        if target:
            headers["x-Amzn-Invoked-Production-Variant"] = target
        return status, headers, body

    def get_statistics_for_type(self: Any, stat: str) -> Any:
        if stat.startswith("p") and stat[1:].replace(".", "", 1).isdigit():
            return _percentile(self, stat)
        return statistic(self, stat)

    def create_endpoint(
        self: Any, endpoint_name: str, endpoint_config_name: str, tags: list[dict[str, str]]
    ) -> FakeEndpoint:
        endpoint = create(
            self,
            endpoint_name=endpoint_name,
            endpoint_config_name=endpoint_config_name,
            tags=tags,
        )
        endpoint.previous_config = endpoint.endpoint_config_name
        SCRIPTS.active[endpoint_name] = SCRIPTS.endpoints.pop(endpoint_name, [])
        if SCRIPTS.active[endpoint_name]:
            endpoint.endpoint_status = "Creating"
        return cast(FakeEndpoint, endpoint)

    def describe_endpoint(self: Any, endpoint_name: str) -> dict[str, Any]:
        endpoint = self.endpoints.get(endpoint_name)
        steps = SCRIPTS.active.get(endpoint_name)
        if endpoint is not None and steps:
            _apply(self, endpoint, steps.pop(0))
        described = dict(describe(self, endpoint_name))
        shadows = _shadow_summaries(self, described["EndpointConfigName"])
        return described | ({"ShadowProductionVariants": shadows} if shadows else {})

    def update_endpoint(
        self: Any,
        endpoint_name: str,
        endpoint_config_name: str,
        deployment_config: dict[str, Any] | None = None,
    ) -> str:
        endpoint = self.endpoints.get(endpoint_name)
        if endpoint is None:
            raise ValidationError(message=f"Could not find endpoint '{endpoint_name}'.")
        config = self.describe_endpoint_config(endpoint_config_name)
        if endpoint.endpoint_status not in {"InService", "UpdateRollbackFailed"}:
            raise ValidationError(
                message=f"Cannot update endpoint in status {endpoint.endpoint_status}."
            )
        endpoint.previous_config = endpoint.endpoint_config_name
        endpoint.endpoint_config_name = endpoint_config_name
        endpoint.production_variants = endpoint._process_production_variants(
            config["ProductionVariants"]
        )
        endpoint.failure_reason = None
        rollback = (deployment_config or {}).get("AutoRollbackConfiguration", {})
        endpoint.rollback_alarms = [alarm["AlarmName"] for alarm in rollback.get("Alarms", [])]
        # A new script if one was given, else what is left of the current one.
        SCRIPTS.active[endpoint_name] = (
            SCRIPTS.endpoints.pop(endpoint_name, []) or SCRIPTS.active[endpoint_name]
        )
        endpoint.endpoint_status = "Updating" if SCRIPTS.active[endpoint_name] else "InService"
        return str(endpoint.arn)

    def describe_transform_job(self: Any, transform_job_name: str) -> dict[str, Any]:
        job = self.transform_jobs.get(transform_job_name)
        for prefix, steps in SCRIPTS.transforms.items():
            if job is not None and transform_job_name.startswith(prefix) and steps:
                status, _, reason = steps.pop(0).partition(":")
                job.transform_job_status, job.failure_reason = status, reason
        return describe_job(self, transform_job_name)  # type: ignore[no-any-return]

    def update_endpoint_action(self: Any) -> ActionResult:
        SCRIPTS.update_calls.append(dict(self._get_params()))
        arn = self.sagemaker_backend.update_endpoint(
            self._get_param("EndpointName"),
            self._get_param("EndpointConfigName"),
            self._get_param("DeploymentConfig"),
        )
        return ActionResult({"EndpointArn": arn})

    def create_endpoint_config_action(self: Any) -> ActionResult:
        params = dict(self._get_params())
        SCRIPTS.config_calls.append(params)
        SCRIPTS.config_extras[params["EndpointConfigName"]] = {
            key: params[key] for key in EXTRA_CONFIG_FIELDS if key in params
        }
        return create_config_action(self)  # type: ignore[no-any-return]

    def describe_endpoint_config(self: Any, endpoint_config_name: str) -> dict[str, Any]:
        described = dict(describe_config(self, endpoint_config_name))
        return described | SCRIPTS.config_extras.get(endpoint_config_name, {})

    SageMakerModelBackend.create_endpoint = create_endpoint  # type: ignore[method-assign]
    SageMakerModelBackend.update_endpoint_weights_and_capacities = (  # type: ignore[method-assign]
        update_endpoint_weights_and_capacities
    )
    SageMakerRuntimeResponse.invoke_endpoint = invoke_endpoint_action  # type: ignore[method-assign]
    Statistics.get_statistics_for_type = get_statistics_for_type  # type: ignore[method-assign]
    SageMakerModelBackend.describe_endpoint_config = describe_endpoint_config  # type: ignore[method-assign]
    SageMakerResponse.create_endpoint_config = create_endpoint_config_action  # type: ignore[method-assign]
    SageMakerModelBackend.describe_endpoint = describe_endpoint  # type: ignore[method-assign]
    SageMakerModelBackend.describe_transform_job = describe_transform_job  # type: ignore[method-assign]
    SageMakerModelBackend.update_endpoint = update_endpoint  # type: ignore[attr-defined]
    SageMakerResponse.update_endpoint = update_endpoint_action  # type: ignore[attr-defined]
    return [
        *saved,
        (SageMakerModelBackend, "update_endpoint", None),
        (SageMakerResponse, "update_endpoint", None),
    ]


def uninstall(saved: list[tuple[type, str, Any]]) -> None:
    for owner, name, original in saved:
        if original is None:
            delattr(owner, name)
        else:
            setattr(owner, name, original)
