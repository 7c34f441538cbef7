"""The local runner (deploy/pipeline/local.py) on the real definition, without Docker: each
step's container command runs on this machine from this checkout (the training image runs the
same code), against the moto server. Training starts from a tiny DistilBERT built here, so a run
takes seconds; the Docker tier (tests/docker/test_pipeline_local.py) runs the image itself."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from deploy_helpers import BUCKET, IMAGE, REGION, Cloud, deploy_args, run_cli

from deploy.aws import Aws
from deploy.pipeline.containers import Container
from deploy.pipeline.definition import PipelineSpec, build_definition
from deploy.pipeline.local import LocalExecution, LocalPipeline
from deploy.registry import ensure_group
from training.data import SAMPLE_DATA
from training.tiny_hf_models import build_distilbert

pytestmark = pytest.mark.slow

DATA_KEY = "headline-serve/data/headlines.csv"
QUICK = {"Epochs": "1", "MaxLength": "32"}


@dataclass
class HostRunner:
    """Runs what the container would: `python ...` with this interpreter, `train` as
    `python -m training.sagemaker`, container paths replaced by the folders mounted there and
    /opt/ml moved by SM_ROOT (both entry points honour it)."""

    def run(self, container: Container, log: Path) -> int:
        mounts = sorted(container.mounts, key=lambda mount: -len(mount[1]))

        def on_host(arg: str) -> str:
            for host, path in mounts:
                if arg == path or arg.startswith(path + "/"):
                    return str(host) + arg[len(path) :]
            return arg

        places = {path: host for host, path in container.mounts}
        if container.command == ["train"]:
            argv = [sys.executable, "-m", "training.sagemaker"]
            root = places["/opt/ml"]
        else:
            assert container.entrypoint == "python", container
            argv = [sys.executable, *map(on_host, container.command)]
            root = places["/opt/ml/output"].parent
        with log.open("wb") as sink:
            return subprocess.run(
                argv,
                stdout=sink,
                stderr=subprocess.STDOUT,
                env={**os.environ, "SM_ROOT": str(root)},
                check=False,
                timeout=600,
            ).returncode


@pytest.fixture(scope="module")
def tiny_base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_distilbert(tmp_path_factory.mktemp("tiny-base") / "distilbert")


def run_pipeline(cloud: Cloud, base: Path, workdir: Path, **overrides: str) -> LocalExecution:
    s3: Any = cloud.client("s3")
    s3.upload_file(str(SAMPLE_DATA), BUCKET, DATA_KEY)
    spec = PipelineSpec(
        name="headline-training",
        role_arn="arn:aws:iam::123456789012:role/headline-sagemaker-pipeline",
        training_image="headline-serve-train:local",
        serving_image=IMAGE,
        bucket=BUCKET,
        prefix="headline-serve",
        group="headline-topics",
        data_uri=f"s3://{BUCKET}/{DATA_KEY}",
        base_model=str(base),
    )
    aws = Aws(REGION)
    ensure_group(aws, spec.group)
    pipeline = LocalPipeline(build_definition(spec), spec.name, aws, HostRunner(), workdir)
    return pipeline.run(QUICK | overrides)


def test_a_run_that_holds_the_gate_registers_a_package_with_the_evaluation(
    cloud: Cloud, tiny_base: Path, tmp_path: Path
) -> None:
    execution = run_pipeline(
        cloud, tiny_base, tmp_path, MinAccuracy="0", MinMacroF1="0", Int8Tolerance="1"
    )
    assert execution.status == "Succeeded", execution.failure_reason
    assert [(s.name, s.status) for s in execution.steps] == [
        ("PrepareData", "Succeeded"), ("Train", "Succeeded"), ("Evaluate", "Succeeded"),
        ("QualityGate", "Succeeded"), ("RegisterModel", "Succeeded"),
    ]  # fmt: skip
    metrics = {m["MetricName"] for m in execution.properties["Train"]["FinalMetricDataList"]}
    assert metrics == {
        "train:loss", "validation:loss", "validation:accuracy", "validation:macro_f1", "test:accuracy",
    }  # fmt: skip
    sagemaker: Any = cloud.client("sagemaker")
    arn = execution.properties["RegisterModel"]["ModelPackageArn"]
    package = sagemaker.describe_model_package(ModelPackageName=arn)
    assert package["ModelApprovalStatus"] == "PendingManualApproval"
    uri = package["ModelMetrics"]["ModelQuality"]["Statistics"]["S3Uri"]
    assert uri.startswith(f"s3://{BUCKET}/headline-serve/pipelines/headline-training/")
    s3: Any = cloud.client("s3")
    body = s3.get_object(Bucket=BUCKET, Key=uri.split("/", 3)[3])["Body"]
    evaluation = json.loads(body.read())
    accuracy = evaluation["multiclass_classification_metrics"]["accuracy"]["value"]
    assert package["CustomerMetadataProperties"]["accuracy"] == json.dumps(accuracy)
    model_uri = package["InferenceSpecification"]["Containers"][0]["ModelDataUrl"]
    assert model_uri == execution.properties["Train"]["ModelArtifacts"]["S3ModelArtifacts"]
    assert model_uri.endswith("/output/model.tar.gz")
    # From here the CLI takes over as for any registered package: approve, deploy.
    assert run_cli("approve", "headline-topics").exit_code == 0
    deployed = run_cli(*deploy_args("--package", "headline-topics"))
    assert deployed.exit_code == 0, deployed.output
    endpoint = sagemaker.describe_endpoint(EndpointName="headline")
    config = sagemaker.describe_endpoint_config(EndpointConfigName=endpoint["EndpointConfigName"])
    model = sagemaker.describe_model(ModelName=config["ProductionVariants"][0]["ModelName"])
    assert model["PrimaryContainer"]["ModelPackageName"] == arn


def test_a_missed_threshold_ends_at_the_fail_step_and_registers_nothing(
    cloud: Cloud, tiny_base: Path, tmp_path: Path
) -> None:
    execution = run_pipeline(
        cloud, tiny_base, tmp_path, MinAccuracy="0", MinMacroF1="0.99", Int8Tolerance="1"
    )
    assert execution.status == "Failed"
    assert [s.name for s in execution.steps][-2:] == ["QualityGate", "QualityGateFailed"]
    assert execution.steps[-2].metadata == {"Condition": {"Outcome": "False"}}
    assert "macro-F1 0." in execution.failure_reason
    assert "< MinMacroF1 0.99" in execution.failure_reason
    assert "accuracy 0." not in execution.failure_reason.replace("macro-F1", "")
    sagemaker: Any = cloud.client("sagemaker")
    listed = sagemaker.list_model_packages(ModelPackageGroupName="headline-topics")
    assert listed["ModelPackageSummaryList"] == []
