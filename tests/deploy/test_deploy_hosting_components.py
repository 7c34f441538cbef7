"""`deploy --inference-component`: capacity-only endpoint, a component sized from measured
figures, copies autoscaled to zero, updates in place, and components deleted first."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import fake_hosting
import pytest
from deploy_helpers import ROLE_ARN, Cloud, deploy_args, run_cli

from deploy import component_sizing
from deploy.artifacts import build_tarball, open_artifact
from deploy.autoscale import COPY_DIMENSION
from service.backend import plan
from service.backend.artifact import load_manifest

COMPONENT = "headline-component"


def _deploy(artifact: Path, *extra: str) -> str:
    result = run_cli(*deploy_args("--artifact", str(artifact), "--inference-component", *extra))
    assert result.exit_code == 0, result.output
    stdout: str = result.stdout
    return stdout


def _graph_mb(artifact: Path) -> float:
    manifest = load_manifest(artifact)
    return (artifact / manifest.variant_for("cpu").file).stat().st_size / 1e6


def test_sizing_figures_are_the_servers() -> None:
    assert component_sizing.WORKER_BASE_MB == plan.WORKER_BASE_MB
    assert component_sizing.WORKER_PER_MODEL_MB == plan.WORKER_PER_MODEL_MB
    assert component_sizing.PARENT_MB == plan.PARENT_MB
    assert component_sizing.MEMORY_SHARE == plan.MEMORY_SHARE


@pytest.mark.parametrize("graph_mb", [0.02, 23.0, 90.0, 260.0])
@pytest.mark.parametrize("cores", [1, 2, 4])
def test_a_copy_reserves_the_least_memory_in_which_its_workers_fit(
    graph_mb: float, cores: int
) -> None:
    memory = component_sizing.copy_memory_mb(graph_mb, cores)
    assert plan.workers_for_memory(memory, graph_mb) >= cores  # the server starts `cores`
    # One step less and they would not fit (workers_for_memory never says fewer than 1).
    per_worker = plan.WORKER_BASE_MB + plan.WORKER_PER_MODEL_MB * graph_mb
    smaller = memory - component_sizing.STEP_MB
    assert (smaller * plan.MEMORY_SHARE - plan.PARENT_MB) // per_worker < cores


def test_the_cpu_graph_is_sized_from_a_directory_or_its_tarball(artifact: Path) -> None:
    local, _ = open_artifact(artifact)
    tarball = build_tarball(local)
    assert component_sizing.cpu_graph_mb(artifact) == _graph_mb(artifact)
    assert component_sizing.cpu_graph_mb(tarball) == _graph_mb(artifact)


def test_endpoint_of_capacity_then_a_sized_component_then_copies_autoscaled(
    cloud: Cloud, artifact: Path
) -> None:
    """SageMaker "Scale an endpoint to zero instances": the step policy's alarm watches
    NoCapacityInvocationFailures per InferenceComponentName, on a period the 1-minute metric
    fills (CloudWatch API PutMetricAlarm, Period)."""
    fake_hosting.STATE.component(COMPONENT, "Creating", "Creating", "InService")
    stdout = _deploy(artifact, "--cores-per-copy", "2", "--copies", "2", "--max-instances", "3")
    assert "component headline-component: Creating" in stdout and "InService" in stdout
    [config] = cloud.scripts.config_calls
    assert config["ExecutionRoleArn"] == ROLE_ARN
    assert config["ProductionVariants"] == [
        {
            "VariantName": "AllTraffic",
            "InstanceType": "ml.c5.xlarge",
            "InitialInstanceCount": 1,
            "ManagedInstanceScaling": {
                "Status": "ENABLED",
                "MinInstanceCount": 0,
                "MaxInstanceCount": 3,
            },
            "RoutingConfig": {"RoutingStrategy": "LEAST_OUTSTANDING_REQUESTS"},
        }
    ]
    [create] = fake_hosting.STATE.component_calls
    memory = component_sizing.copy_memory_mb(_graph_mb(artifact), 2)
    assert create["InferenceComponentName"] == COMPONENT
    assert (create["EndpointName"], create["VariantName"]) == ("headline", "AllTraffic")
    assert create["Specification"]["ComputeResourceRequirements"] == {
        "NumberOfCpuCoresRequired": 2,
        "MinMemoryRequiredInMb": memory,
    }
    assert create["Specification"]["StartupParameters"] == {
        "ModelDataDownloadTimeoutInSeconds": 600,
        "ContainerStartupHealthCheckTimeoutInSeconds": 600,
    }
    assert create["RuntimeConfig"] == {"CopyCount": 2}
    sm = cloud.client("sagemaker")
    model = sm.describe_model(ModelName=create["Specification"]["ModelName"])
    environment = model["PrimaryContainer"]["Environment"]
    assert environment["SERVE_WORKERS"] == "2"
    assert environment["SERVE_MEMORY_MB"] == str(memory)

    scaling = cloud.client("application-autoscaling")
    [target] = scaling.describe_scalable_targets(ServiceNamespace="sagemaker")["ScalableTargets"]
    assert target["ResourceId"] == f"inference-component/{COMPONENT}"
    assert (target["ScalableDimension"], target["MinCapacity"], target["MaxCapacity"]) == (
        COPY_DIMENSION, 0, 4,
    )  # fmt: skip
    policies: dict[str, Any] = {
        p["PolicyType"]: p
        for p in scaling.describe_scaling_policies(ServiceNamespace="sagemaker")["ScalingPolicies"]
    }
    tracking = policies["TargetTrackingScaling"]["TargetTrackingScalingPolicyConfiguration"]
    assert tracking["PredefinedMetricSpecification"] == {
        "PredefinedMetricType": "SageMakerInferenceComponentInvocationsPerCopy"
    }
    [alarm] = cloud.client("cloudwatch").describe_alarms()["MetricAlarms"]
    # "Scale an endpoint to zero instances": SageMaker's name, on its 1-minute period.
    assert (alarm["MetricName"], alarm["Period"]) == ("NoCapacityInvocationFailures", 60)
    assert alarm["Dimensions"] == [{"Name": "InferenceComponentName", "Value": COMPONENT}]
    assert alarm["AlarmActions"] == [policies["StepScaling"]["PolicyARN"]]


def test_a_new_version_updates_the_component_in_place(cloud: Cloud, artifact: Path) -> None:
    _deploy(artifact)
    fake_hosting.STATE.component(COMPONENT, "Updating", "InService")
    stdout = _deploy(artifact, "--copies", "3")
    assert "Updating" in stdout
    first, update = fake_hosting.STATE.component_calls
    assert update["Action"] == "UpdateInferenceComponent"
    assert update["Specification"]["ModelName"] != first["Specification"]["ModelName"]
    assert update["RuntimeConfig"] == {"CopyCount": 3}
    assert len(cloud.scripts.config_calls) == 1, "the endpoint and its config stay"
    described = cloud.client("sagemaker").describe_inference_component(
        InferenceComponentName=COMPONENT
    )
    assert described["Specification"]["ModelName"] == update["Specification"]["ModelName"]


def test_a_failed_component_says_why(cloud: Cloud, artifact: Path) -> None:
    fake_hosting.STATE.component(COMPONENT, "Creating", "Failed:not enough memory for a copy")
    result = run_cli(*deploy_args("--artifact", str(artifact), "--inference-component"))
    assert result.exit_code == 1
    assert "Failed: not enough memory for a copy" in result.stderr


def test_delete_removes_components_and_their_scaling_before_the_endpoint(
    cloud: Cloud, artifact: Path
) -> None:
    _deploy(artifact)
    result = run_cli("delete", "--endpoint", "headline", "--yes")
    assert result.exit_code == 0, result.output  # the stand-in refuses the endpoint first
    assert result.stdout.index("inference components deleted") < result.stdout.index(
        "endpoint headline deleted"
    )
    sm = cloud.client("sagemaker")
    assert sm.list_inference_components()["InferenceComponents"] == []
    assert sm.list_endpoints()["Endpoints"] == []
    assert sm.list_models()["Models"] == []
    scaling = cloud.client("application-autoscaling")
    assert scaling.describe_scalable_targets(ServiceNamespace="sagemaker")["ScalableTargets"] == []
    assert cloud.client("cloudwatch").describe_alarms()["MetricAlarms"] == []


def test_invoke_names_the_component(
    cloud: Cloud, artifact: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _deploy(artifact)
    cloud.endpoint_results('[{"label": "business", "score": 0.9}]')
    sent: list[dict[str, Any]] = []
    from deploy.aws import Aws

    original = Aws.client

    def recording(self: Aws, service: str) -> Any:
        client = original(self, service)
        client.meta.events.register(
            "provide-client-params.sagemaker-runtime.InvokeEndpoint",
            lambda params, **_: sent.append(dict(params)),
        )
        return client

    monkeypatch.setattr(Aws, "client", recording)
    result = run_cli("invoke", "--endpoint", "headline", "--component", COMPONENT, "--text", "x")
    assert result.exit_code == 0, result.output
    assert [call["InferenceComponentName"] for call in sent] == [COMPONENT]


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (("--copies", "5"), "--copies 5 must lie between"),
        (("--min-copies", "2", "--copies", "1"), "must lie between"),
        (("--memory-per-copy", "64"), "--memory-per-copy 64"),
        (("--instance-type", "ml.g5.xlarge"), "CPU --instance-type"),
        (("--capture-percent", "5"), "not with --inference-component"),
    ],
)
def test_component_limits_are_refused_before_any_call(
    cloud: Cloud, artifact: Path, flags: tuple[str, ...], message: str
) -> None:
    result = run_cli(*deploy_args("--artifact", str(artifact), "--inference-component", *flags))
    assert result.exit_code == 2
    assert message in result.stderr
    assert cloud.client("sagemaker").list_models()["Models"] == []


def test_without_an_artifact_the_copy_memory_must_be_given(cloud: Cloud) -> None:
    data = "s3://models-bucket/headline-serve/m/model.tar.gz"
    result = run_cli(*deploy_args("--model-data", data, "--inference-component"))
    assert result.exit_code == 2
    assert "needs --memory-per-copy" in result.stderr
