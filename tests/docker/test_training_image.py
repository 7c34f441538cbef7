"""The training image as a SageMaker training job: `docker run -v ROOT:/opt/ml IMAGE train`."""

from __future__ import annotations

import csv
import json
import shutil
import uuid
from pathlib import Path

import pytest
from dockertools import REPO, run, step

from service.backend.artifact import load_manifest

pytestmark = [pytest.mark.docker, pytest.mark.slow]

SAMPLE = REPO / "training" / "sample_data" / "headlines.csv"
# A short job: the contract is under test here, not the model's quality.
SHORT_JOB = {"epochs": "1", "max_steps": "8", "batch_size": "16", "max_length": "32"}


def sagemaker_tree(root: Path, hyperparameters: dict[str, str]) -> Path:
    """/opt/ml as SageMaker lays it out for a job with one `training` channel."""
    (root / "input" / "config").mkdir(parents=True)
    (root / "input" / "config" / "hyperparameters.json").write_text(json.dumps(hyperparameters))
    (root / "input" / "data" / "training").mkdir(parents=True)
    shutil.copy(SAMPLE, root / "input" / "data" / "training" / SAMPLE.name)
    (root / "model").mkdir()
    (root / "output").mkdir()
    return root


def train_job(image: str, root: Path, label: str) -> tuple[int, str]:
    name = f"hs-train-{uuid.uuid4().hex[:8]}"
    try:
        result = run(
            "docker", "run", "--name", name, "--label", label,
            "-v", f"{root}:/opt/ml", image, "train",
            check=False, timeout=900,
        )  # fmt: skip
        return result.returncode, result.stdout + result.stderr
    finally:
        run("docker", "rm", "-f", name, check=False)


def test_training_job_writes_a_servable_artifact(
    training_image: str, tmp_path: Path, test_containers: str
) -> None:
    root = sagemaker_tree(tmp_path / "ml", SHORT_JOB)
    with step("training job in the training image"):
        code, output = train_job(training_image, root, test_containers)
    assert code == 0, output[-3000:]
    manifest = load_manifest(root / "model")  # checksums included
    with SAMPLE.open(newline="", encoding="utf-8") as handle:
        assert sorted(manifest.labels) == sorted({row["label"] for row in csv.DictReader(handle)})
    assert manifest.max_length == 32
    assert not (root / "output" / "failure").exists()


def test_training_job_reports_bad_hyperparameters(
    training_image: str, tmp_path: Path, test_containers: str
) -> None:
    root = sagemaker_tree(tmp_path / "ml", {"epochs": "many"})
    code, output = train_job(training_image, root, test_containers)
    assert code != 0
    failure = (root / "output" / "failure").read_text()
    assert "epochs" in failure
    assert "Traceback" not in output


def test_training_image_says_it_cannot_serve(training_image: str) -> None:
    result = run("docker", "run", "--rm", training_image, "serve", check=False)
    assert result.returncode == 2
    assert "no 'serve' command" in result.stderr
