"""The training pipeline run here end to end (`deploy pipeline run-local`): the definition
`upsert` sends to SageMaker, each step's container from the training image under Docker, S3
and the model registry in a moto server. It registers when the gate holds, stops at the fail
step naming the figure when a threshold is above what the data allows, and stops at the data
checks with the training CLI's own reason when the data is bad."""

from __future__ import annotations

import json
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from dockertools import step
from moto.server import ThreadedMotoServer
from typer.testing import CliRunner

from deploy.cli import app
from service.backend.artifact import load_manifest
from training.data import load_splits
from training.errors import DataError

pytestmark = [pytest.mark.docker, pytest.mark.slow]

REGION = "eu-west-1"
BUCKET = "models-bucket"
GROUP = "headline-topics"
SERVING_IMAGE = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/headline-serve:v1"
# A small run: the bundled sample, one epoch, 32 tokens (about a minute of training here).
SMALL = ["--param", "Epochs=1", "--param", "MaxLength=32", "--param", "Int8Tolerance=0.1"]


@pytest.fixture(scope="module")
def moto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[boto3.Session]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    home = tmp_path_factory.mktemp("aws")
    with pytest.MonkeyPatch.context() as patch:
        for key, value in {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_CONFIG_FILE": str(home / "config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(home / "credentials"),
            "AWS_ENDPOINT_URL": f"http://{host}:{port}",
            "AWS_REGION": REGION,
            "DEPLOY_BUCKET": BUCKET,
            "COLUMNS": "220",
        }.items():
            patch.setenv(key, value)
        for key in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN"):
            patch.delenv(key, raising=False)
        session = boto3.Session(region_name=REGION)
        session.client("s3").create_bucket(
            Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION}
        )
        try:
            yield session
        finally:
            server.stop()


def run_local(
    image: str, label: str, workdir: Path, *args: str
) -> tuple[int, str, dict[str, list[str]]]:
    """Exit code, output, and the step table's rows by step name."""
    result = CliRunner().invoke(
        app,
        ["pipeline", "run-local", "--training-image", image, "--image", SERVING_IMAGE,
         "--container-label", label, "--workdir", str(workdir), *args],
    )  # fmt: skip
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    output = result.stdout + result.stderr
    rows = {}
    for line in output.splitlines():
        cells = [cell.strip() for cell in line.split("│")[1:-1]]
        if cells and cells[0] and cells[0] != "step":
            rows[cells[0]] = cells[1:]
    print(output)  # the step table, in the CI log
    return result.exit_code, output, rows


def packages(session: boto3.Session) -> list[dict[str, Any]]:
    sagemaker: Any = session.client("sagemaker")
    listed = sagemaker.list_model_packages(ModelPackageGroupName=GROUP)["ModelPackageSummaryList"]
    return [sagemaker.describe_model_package(ModelPackageName=p["ModelPackageArn"]) for p in listed]


def s3_object(session: boto3.Session, uri: str, into: Path) -> Path:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    session.client("s3").download_file(bucket, key, str(into))
    return into


def test_a_good_run_registers_the_model_with_its_evaluation(
    training_image: str, test_containers: str, moto: boto3.Session, tmp_path: Path
) -> None:
    with step("pipeline, passing run"):
        code, output, rows = run_local(
            training_image, test_containers, tmp_path / "run",
            *SMALL, "--param", "MinAccuracy=0.3", "--param", "MinMacroF1=0.2",
        )  # fmt: skip
    assert code == 0, output[-3000:]
    assert list(rows) == ["PrepareData", "Train", "Evaluate", "QualityGate", "RegisterModel"]
    assert all(cells[0] == "Succeeded" for cells in rows.values())
    assert rows["QualityGate"][3] == "condition true"
    # The training job's metric definitions read its log.
    assert "Train metrics: train:loss" in output and "test:accuracy" in output

    [package] = packages(moto)
    assert package["ModelApprovalStatus"] == "PendingManualApproval"
    assert rows["RegisterModel"][3] == f"registered {GROUP}/{package['ModelPackageVersion']}"
    statistics = package["ModelMetrics"]["ModelQuality"]["Statistics"]["S3Uri"]
    evaluation = json.loads(s3_object(moto, statistics, tmp_path / "evaluation.json").read_text())
    quality = evaluation["multiclass_classification_metrics"]
    metadata = package["CustomerMetadataProperties"]
    assert float(metadata["accuracy"]) == quality["accuracy"]["value"] >= 0.3
    assert float(metadata["macro_f1"]) == quality["macro_f1"]["value"] >= 0.2
    assert set(quality["per_label"]) == {"business", "entertainment", "health", "scitech"}
    assert evaluation["test_texts"] == sum(v["support"] for v in quality["per_label"].values())
    assert evaluation["gate"]["passed"] is True
    # The package's model data is the training job's servable artifact.
    [container] = package["InferenceSpecification"]["Containers"]
    assert container["Image"] == SERVING_IMAGE
    archive = s3_object(moto, container["ModelDataUrl"], tmp_path / "model.tar.gz")
    with tarfile.open(archive) as tar:
        tar.extractall(tmp_path / "model", filter="data")
    manifest = load_manifest(tmp_path / "model")
    assert manifest.model_version == evaluation["model_version"]
    assert manifest.max_length == 32


def test_a_threshold_above_what_the_data_allows_stops_at_the_fail_step(
    training_image: str, test_containers: str, moto: boto3.Session, tmp_path: Path
) -> None:
    before = len(packages(moto))
    with step("pipeline, failing run"):
        code, output, rows = run_local(
            training_image, test_containers, tmp_path / "run",
            *SMALL, "--param", "MinAccuracy=0.99", "--param", "MinMacroF1=0.2",
        )  # fmt: skip
    assert code == 1, output[-3000:]
    assert list(rows) == ["PrepareData", "Train", "Evaluate", "QualityGate", "QualityGateFailed"]
    assert rows["QualityGate"][0] == "Succeeded" and rows["QualityGate"][3] == "condition false"
    status, reason = rows["QualityGateFailed"][0], rows["QualityGateFailed"][3]
    assert status == "Failed"
    assert "quality gate failed: accuracy 0." in reason and "< MinAccuracy 0.99" in reason
    assert "macro-F1" not in reason  # only the figure that missed
    assert "status: Failed" in output
    assert len(packages(moto)) == before


def test_bad_data_fails_the_data_checks_with_the_training_clis_reason(
    training_image: str, test_containers: str, moto: boto3.Session, tmp_path: Path
) -> None:
    data = tmp_path / "one-class.csv"
    data.write_text(
        "text,label\n" + "".join(f"headline {i},sports\n" for i in range(20)), encoding="utf-8"
    )
    with pytest.raises(DataError) as cli_error:
        load_splits(data)
    code, output, rows = run_local(
        training_image, test_containers, tmp_path / "run", "--data", str(data)
    )
    assert code == 1, output[-3000:]
    assert list(rows) == ["PrepareData"]
    status, reason = rows["PrepareData"][0], rows["PrepareData"][3]
    assert status == "Failed"
    # The same reason, about the container's copy of the file.
    assert str(cli_error.value).removeprefix(str(data)) in reason.replace("\n", "")
    assert "one-class.csv" in reason and "Traceback" not in output
