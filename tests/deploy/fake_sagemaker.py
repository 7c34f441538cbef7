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
A script is armed by the next create or update of that name (an update with no new script
goes on with what is left of the current one); with no script, moto's instant behaviour is
kept. The server runs in the test process (ThreadedMotoServer), so the patch
reaches it; the CLI still talks to it over HTTP.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from moto.cloudwatch.models import cloudwatch_backends
from moto.core.responses import ActionResult
from moto.sagemaker.exceptions import ValidationError
from moto.sagemaker.models import FakeEndpoint, SageMakerModelBackend
from moto.sagemaker.responses import SageMakerResponse


class Scripts:
    def __init__(self) -> None:
        self.endpoints: dict[str, list[str]] = defaultdict(list)  # armed by the next create/update
        self.active: dict[str, list[str]] = defaultdict(list)
        self.transforms: dict[str, list[str]] = defaultdict(list)
        self.update_calls: list[dict[str, Any]] = []
        self.config_calls: list[dict[str, Any]] = []
        self.config_extras: dict[str, dict[str, Any]] = {}

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


SCRIPTS = Scripts()


EXTRA_CONFIG_FIELDS = ("MetricsConfig", "ShadowProductionVariants")


def _fire_alarm(backend: Any, endpoint: FakeEndpoint, alarm: str) -> str | None:
    """The alarm goes to ALARM; a step that rolls back if the update watches it."""
    cloudwatch = cloudwatch_backends[backend.account_id][backend.region_name]
    cloudwatch.set_alarm_state(alarm, "Threshold crossed (stand-in)", None, "ALARM")
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
    endpoint.failure_reason = reason or None
    if status == "RolledBack":
        endpoint.endpoint_config_name = endpoint.previous_config  # type: ignore[attr-defined]
        status = "InService"
    endpoint.endpoint_status = status


def install() -> list[tuple[type, str, Any]]:
    """Patch the classes; returns what to restore."""
    saved = [
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
    describe, create, describe_job, describe_config, create_config_action = (
        entry[2] for entry in saved
    )

    def create_endpoint(self: Any, endpoint_name: str, **kwargs: Any) -> FakeEndpoint:
        endpoint = create(self, endpoint_name=endpoint_name, **kwargs)
        endpoint.previous_config = endpoint.endpoint_config_name
        SCRIPTS.active[endpoint_name] = SCRIPTS.endpoints.pop(endpoint_name, [])
        if SCRIPTS.active[endpoint_name]:
            endpoint.endpoint_status = "Creating"
        return endpoint

    def describe_endpoint(self: Any, endpoint_name: str) -> dict[str, Any]:
        endpoint = self.endpoints.get(endpoint_name)
        steps = SCRIPTS.active.get(endpoint_name)
        if endpoint is not None and steps:
            _apply(self, endpoint, steps.pop(0))
        return describe(self, endpoint_name)  # type: ignore[no-any-return]

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
            SCRIPTS.endpoints.pop(endpoint_name, None) or SCRIPTS.active[endpoint_name]
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
